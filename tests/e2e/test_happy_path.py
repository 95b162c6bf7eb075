from conftest import ALICE, CHANNEL, Harness

from handlers.ids import ACTION_CONFIRM

ORG = "exampleprodus4k7q2m"


def test_link_request_confirm_deletes_once_and_replies_in_thread(e2e: Harness) -> None:
    response = e2e.link(ALICE, "admin_us")
    assert response.status == 200
    e2e.slack.wait_for(
        lambda: [
            t for t in e2e.ephemeral_texts(ALICE) if "Linked as alice@example.com (region US)" in t
        ]
    )

    card = e2e.request_card(ALICE, ORG)
    assert ORG in str(card.blocks)
    assert card.via == "api"

    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))[0]
    assert "204 No Content" in reply.text
    assert f"<@{ALICE}>" in reply.text
    deletes = e2e.coveo.deletes(ORG)
    assert len(deletes) == 1
    assert deletes[0].bearer == e2e.tokens["admin_us"]
    assert e2e.coveo.organization(ORG) is None
    final = e2e.slack.message(CHANNEL, card.ts)
    assert "actions" not in str([b["type"] for b in final.blocks])
