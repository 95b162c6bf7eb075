"""End to end over signed HTTP: fields holding the word "payload" still reach their listeners
(issue 9; the cause is Bolt 1.30.0's body parsing, see ``bot/slack_request.py``)."""

from __future__ import annotations

from conftest import ALICE, BOB, Harness

from handlers.ids import ACTION_CONFIRM

ORG = "exampleprodus4k7q2m"
PAYLOAD_CHANNEL = "C0PAYLOAD01"


def test_command_in_a_channel_named_payload_team_posts_a_card_and_deletes(e2e: Harness) -> None:
    e2e.slack.add_channel(PAYLOAD_CHANNEL, "payload-team")
    e2e.link(ALICE, "admin_us")

    card = e2e.request_card(ALICE, ORG, channel=PAYLOAD_CHANNEL)

    assert ORG in str(card.blocks)
    click = e2e.slack.click(
        ALICE, channel_id=PAYLOAD_CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM
    )
    assert click.status == 200
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(PAYLOAD_CHANNEL, card.ts))[0]
    assert "204 No Content" in reply.text
    assert len(e2e.coveo.deletes(ORG)) == 1


def test_command_text_payload_gets_an_answer_not_a_404(e2e: Harness) -> None:
    e2e.link(ALICE, "admin_us")

    response = e2e.slack.send_command(ALICE, "C0GENERAL01", "payload")

    assert response.status == 200
    reply = e2e.slack.wait_for(
        lambda: [t for t in e2e.ephemeral_texts(ALICE) if "payload" in t and "Linked" not in t]
    )
    assert reply
    assert e2e.coveo.deletes() == []


def test_user_named_payload_is_routed_to_the_link_prompt(e2e: Harness) -> None:
    e2e.slack.add_user(BOB, "payload.person")

    response = e2e.slack.send_command(BOB, "C0GENERAL01", ORG)

    assert response.status == 200
    assert e2e.slack.wait_for(lambda: e2e.ephemeral_texts(BOB))
    assert e2e.coveo.deletes() == []


def test_control_characters_in_a_refused_org_id_are_shown_escaped(e2e: Harness) -> None:
    e2e.link(ALICE, "admin_us")

    e2e.slack.send_command(ALICE, "C0GENERAL01", "example\u202eprod\u200bus")

    reply = e2e.slack.wait_for(
        lambda: [t for t in e2e.ephemeral_texts(ALICE) if "not a valid organization ID" in t]
    )[0]
    assert "\u202e" not in reply and "\u200b" not in reply
    assert "U+202E" in reply and "U+200B" in reply
    assert e2e.coveo.requests() == [] or all(r.method != "DELETE" for r in e2e.coveo.requests())
