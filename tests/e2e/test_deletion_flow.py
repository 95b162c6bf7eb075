"""End to end over real loopback HTTP: signed requests into the real Bolt app in HTTP mode,
a fake Slack Web API and a fake Coveo Platform API (bot/emulator)."""

from __future__ import annotations

import pytest
from conftest import ALICE, BOB, CHANNEL, Harness

from handlers.ids import ACTION_CANCEL, ACTION_CONFIRM, ACTION_OPEN_LINK

PROD = "exampleprodus4k7q2m"
SANDBOX = "examplesandboxus2r9t5w"


def _linked(e2e: Harness, user: str = ALICE, token: str = "admin_us") -> None:
    response = e2e.link(user, token)
    assert response.status == 200
    assert e2e.store.get_link("T0TEST0001", user) is not None


def _states(e2e: Harness, org_id: str) -> list[str]:
    return [ev.to_state for ev in e2e.store.audit_events() if ev.org_id == org_id and ev.to_state]


def test_cancel_changes_nothing_and_says_so(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CANCEL)
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))[0]
    assert "Cancelled by" in reply.text and "Nothing was deleted" in reply.text
    assert e2e.coveo.deletes() == []
    assert e2e.coveo.organization(PROD) is not None
    assert _states(e2e, PROD) == ["pending", "cancelled"]
    final = e2e.slack.message(CHANNEL, card.ts)
    assert all(block["type"] != "actions" for block in final.blocks)


def test_confirm_after_deadline_is_refused_at_click_time(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    e2e.clock.advance(31)  # confirm timeout is 30 s in the harness
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    e2e.slack.wait_for(
        lambda: [t for t in e2e.ephemeral_texts(ALICE) if "expired before your click" in t]
    )
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))[0]
    assert "Expired" in reply.text
    assert e2e.coveo.deletes() == []
    assert _states(e2e, PROD) == ["pending", "expired"]


def test_sweeper_expires_an_unanswered_card(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conftest import build_harness

    gen = build_harness(tmp_path, sweeper=True)
    e2e = next(gen)
    try:
        _linked(e2e)
        card = e2e.request_card(ALICE, PROD)
        e2e.clock.advance(31)
        reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts), timeout=5)[0]
        assert "Expired — nothing was deleted" in reply.text
        final = e2e.slack.message(CHANNEL, card.ts)
        assert "Expired" in str(final.blocks)
        assert all(block["type"] != "actions" for block in final.blocks)
        assert e2e.coveo.deletes() == []
    finally:
        gen.close()


def test_only_the_requester_can_confirm(e2e: Harness) -> None:
    _linked(e2e)
    _linked(e2e, BOB, "admin_us")
    card = e2e.request_card(ALICE, PROD)
    e2e.slack.click(BOB, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    e2e.slack.wait_for(lambda: [t for t in e2e.ephemeral_texts(BOB) if f"Only <@{ALICE}>" in t])
    e2e.slack.click(BOB, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CANCEL)
    e2e.slack.wait_for(
        lambda: len([t for t in e2e.ephemeral_texts(BOB) if f"Only <@{ALICE}>" in t]) == 2
    )
    assert e2e.coveo.deletes() == []
    assert e2e.store.live_request_for_org(PROD, "us") is not None
    assert [ev.event for ev in e2e.store.audit_events() if ev.actor_id == BOB][-2:] == [
        "click_refused",
        "click_refused",
    ]


def test_unlinked_user_gets_instructions_and_a_link_button(e2e: Harness) -> None:
    response = e2e.slack.send_command(ALICE, CHANNEL, PROD)
    assert response.status == 200
    eph = e2e.slack.wait_for(lambda: [e for e in e2e.slack.ephemerals(ALICE) if e.blocks])[0]
    assert "not linked" in eph.text
    assert ACTION_OPEN_LINK in str(eph.blocks)
    assert e2e.coveo.requests(path_prefix="/rest") == []
    # the button opens the modal
    e2e.slack.click(
        ALICE, channel_id=CHANNEL, message_ts=eph.ts, action_id=ACTION_OPEN_LINK, ephemeral=True
    )
    e2e.slack.wait_for(lambda: e2e.slack.views(ALICE, open_only=True))


@pytest.mark.parametrize(
    ("token_name", "expected"),
    [
        ("expired", "Coveo refused this token"),
        ("api_key", "API key"),
        ("not-a-real-token-at-all", "Coveo refused this token"),
        ("has spaces inside", "does not look like an access token"),
        ("", "Paste your Coveo access token"),
    ],
)
def test_link_refuses_bad_tokens_inline(e2e: Harness, token_name: str, expected: str) -> None:
    response = e2e.link(ALICE, token_name)
    assert response.status == 200
    view = e2e.slack.views(ALICE, open_only=True)[-1]
    errors = e2e.slack.view_errors(view.id)
    assert expected in " ".join(errors.values())
    assert e2e.store.get_link("T0TEST0001", ALICE) is None


@pytest.mark.parametrize(
    ("status", "body", "expected", "final_state"),
    [
        (401, {"errorCode": "INVALID_TOKEN", "message": "Token expired"}, "link", "failed"),
        (
            403,
            {"title": "ACCESS_DENIED", "detail": "Missing privilege"},
            "Organization - Edit",
            "failed",
        ),
        (404, {"errorCode": "ORGANIZATION_NOT_FOUND", "message": "no"}, "Check the ID", "failed"),
        (
            412,
            {"title": "OPERATION_FORBIDDEN_FOR_ORGANIZATION_IN_READ_ONLY", "detail": "read-only"},
            "Reactivate it first",
            "failed",
        ),
        (
            429,
            {"errorCode": "TOO_MANY_REQUESTS", "message": "slow down"},
            "rate limiting",
            "failed",
        ),
    ],
)
def test_delete_errors_are_reported_in_the_thread(
    e2e: Harness, status: int, body: dict[str, str], expected: str, final_state: str
) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    # 429 is retried (the DELETE had no effect): keep answering it to see the final report.
    e2e.coveo.fail_next("DELETE", "/rest/organizations/", status, body=body, times=5)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))[0]
    assert f"HTTP {status}" in reply.text
    assert expected in reply.text
    assert "Coveo request ID: `" in reply.text
    code = body.get("errorCode") or body.get("title")
    assert code is not None and code in reply.text
    assert len(e2e.coveo.deletes()) == (3 if status == 429 else 1)
    request = e2e.store.live_request_for_org(PROD, "us")
    assert request is None
    assert _states(e2e, PROD)[-1] == final_state
    if status == 401:
        link = e2e.store.get_link("T0TEST0001", ALICE)
        assert link is not None and not link.usable


def test_delete_500_then_lookup_shows_org_still_there(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    e2e.coveo.fail_next("DELETE", "/rest/organizations/", 500, body={"errorCode": "INTERNAL"})
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))[0]
    assert "Not deleted" in reply.text and "still exists" in reply.text and "HTTP 500" in reply.text
    assert len(e2e.coveo.deletes()) == 1
    assert _states(e2e, PROD)[-1] == "failed"


def test_delete_timeout_reports_deleted_when_coveo_finished_it(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    # The app gives up reading after 1.5 s; Coveo completes the DELETE at 2.0 s; the app's
    # follow-up lookup is slowed down so that it arrives after that and sees a 404.
    e2e.coveo.hang("DELETE", "/rest/organizations/", 2.0, then="process")
    e2e.coveo.set_latency(1.2, "GET", "/rest/organizations/")
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts), timeout=10)[0]
    assert len(e2e.coveo.deletes()) == 1
    assert "Deleted" in reply.text and "no longer exists" in reply.text
    assert _states(e2e, PROD)[-1] == "deleted"


def test_delete_timeout_while_org_still_visible_is_unknown_not_failed(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    # Coveo is still holding the DELETE when the lookup runs: the app must not claim "not deleted".
    e2e.coveo.hang("DELETE", "/rest/organizations/", 2.5, then="process")
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts), timeout=10)[0]
    assert "Outcome unknown" in reply.text and "Not deleted" not in reply.text
    assert len(e2e.coveo.deletes()) == 1
    assert _states(e2e, PROD)[-1] == "unknown"


def test_delete_timeout_with_coveo_down_says_outcome_unknown(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    e2e.coveo.hang("DELETE", "/rest/organizations/", 3.0, then="drop")
    e2e.coveo.hang("GET", "/rest/organizations/", 3.0, then="drop")
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts), timeout=10)[0]
    assert "Outcome unknown" in reply.text
    assert "still exists" in reply.text
    assert len(e2e.coveo.deletes()) == 1
    assert _states(e2e, PROD)[-1] == "unknown"


@pytest.mark.parametrize(
    ("org_or_status", "expected"),
    [
        ("examplereadonlyus6h2j8c", "is read-only"),
        ("examplepausedus3n5v7b", "is paused"),
        ("exampleprodeu9f4g6z", "No access, or no such organization"),
        ("nosuchorg123", "No access, or no such organization"),
    ],
)
def test_preview_refusals_post_no_card(e2e: Harness, org_or_status: str, expected: str) -> None:
    _linked(e2e)
    e2e.slack.send_command(ALICE, CHANNEL, org_or_status)
    e2e.slack.wait_for(lambda: [t for t in e2e.ephemeral_texts(ALICE) if expected in t])
    assert e2e.slack.messages(CHANNEL) == []
    assert e2e.coveo.deletes() == []
    assert [ev.event for ev in e2e.store.audit_events()][-1] == "refused"


def test_preview_401_marks_link_invalid_and_offers_relink(e2e: Harness) -> None:
    _linked(e2e)
    e2e.coveo.fail_next("GET", "/rest/organizations/", 401, body={"errorCode": "INVALID_TOKEN"})
    e2e.slack.send_command(ALICE, CHANNEL, PROD)
    eph = e2e.slack.wait_for(
        lambda: [e for e in e2e.slack.ephemerals(ALICE) if ACTION_OPEN_LINK in str(e.blocks)]
    )[0]
    assert "HTTP 401" in eph.text
    link = e2e.store.get_link("T0TEST0001", ALICE)
    assert link is not None and link.status == "invalid"
    # the next request does not even call Coveo
    calls = len(e2e.coveo.requests(path_prefix="/rest"))
    e2e.slack.send_command(ALICE, CHANNEL, PROD)
    e2e.slack.wait_for(lambda: [t for t in e2e.ephemeral_texts(ALICE) if "no longer accepts" in t])
    assert len(e2e.coveo.requests(path_prefix="/rest")) == calls


def test_invalid_org_id_gets_a_message_and_no_coveo_call(e2e: Harness) -> None:
    _linked(e2e)
    response = e2e.slack.send_command(ALICE, CHANNEL, "My Org; DROP TABLE")
    assert response.status == 200
    response = e2e.slack.send_command(ALICE, CHANNEL, "MyOrg")
    assert "lowercase" in response.body
    assert e2e.coveo.requests(path_prefix="/rest") == []


def test_app_not_in_channel_falls_back_to_response_url(e2e: Harness) -> None:
    private = "C0PRIVATE01"
    e2e.slack.add_channel(private, "secret-project", kind="private", bot_is_member=False)
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD, channel=private)
    assert card.via == "response_url"
    e2e.slack.click(ALICE, channel_id=private, message_ts=card.ts, action_id=ACTION_CONFIRM)
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(private, card.ts))[0]
    assert "204 No Content" in reply.text
    assert len(e2e.coveo.deletes(PROD)) == 1
    final = e2e.slack.message(private, card.ts)
    assert all(block["type"] != "actions" for block in final.blocks)


def test_second_request_for_same_org_points_to_the_first(e2e: Harness) -> None:
    _linked(e2e)
    _linked(e2e, BOB, "admin_us")
    e2e.request_card(ALICE, PROD)
    e2e.slack.send_command(BOB, CHANNEL, PROD)
    e2e.slack.wait_for(
        lambda: [t for t in e2e.ephemeral_texts(BOB) if "already has a pending" in t]
    )
    assert len(e2e.slack.messages(CHANNEL, include_replies=False)) == 1


def test_double_confirm_sends_one_delete(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, SANDBOX)
    body = e2e.slack.build_click(
        ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM
    )
    responses = [e2e.slack.send_interaction(body) for _ in range(3)]
    assert [r.status for r in responses] == [200, 200, 200]
    e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))
    e2e.slack.wait_for(lambda: len([t for t in e2e.ephemeral_texts(ALICE) if "already" in t]) == 2)
    assert len(e2e.coveo.deletes()) == 1


def test_help_status_unlink(e2e: Harness) -> None:
    assert "/delete-org" in e2e.slack.send_command(ALICE, CHANNEL, "").body
    assert "link" in e2e.slack.send_command(ALICE, CHANNEL, "help").body
    assert "Unknown command" in e2e.slack.send_command(ALICE, CHANNEL, "frobnicate all orgs").body
    _linked(e2e)
    e2e.slack.send_command(ALICE, CHANNEL, "status")
    e2e.slack.wait_for(
        lambda: [t for t in e2e.ephemeral_texts(ALICE) if "Coveo identity: alice@example.com" in t]
    )
    e2e.slack.send_command(ALICE, CHANNEL, "unlink")
    e2e.slack.wait_for(lambda: [t for t in e2e.ephemeral_texts(ALICE) if "removed" in t])
    assert e2e.store.get_link("T0TEST0001", ALICE) is None


def test_commands_and_clicks_are_acked_fast_while_coveo_is_slow(e2e: Harness) -> None:
    _linked(e2e)
    e2e.coveo.set_latency(4.0, "GET", "/rest/organizations/")
    response = e2e.slack.send_command(ALICE, CHANNEL, PROD)
    assert response.status == 200
    assert response.elapsed < 3.0  # Slack's limit; the lookup alone takes longer than that
    # "Looking up…" comes from the work once the link was checked, the lookup being slow
    e2e.slack.wait_for(lambda: [t for t in e2e.ephemeral_texts(ALICE) if "Looking up" in t])
    # the ack came first: the lookup's outcome is not known yet when the ack is back
    assert not [t for t in e2e.ephemeral_texts(ALICE) if "did not answer" in t]
    # the lookup times out (1.5 s in the harness): told privately, nothing posted or deleted
    e2e.slack.wait_for(
        lambda: [t for t in e2e.ephemeral_texts(ALICE) if "did not answer in time" in t], timeout=8
    )
    assert e2e.slack.messages(CHANNEL) == []
    assert e2e.coveo.deletes() == []


def test_an_unlinked_user_is_not_told_the_org_is_being_looked_up(e2e: Harness) -> None:
    response = e2e.slack.send_command(ALICE, CHANNEL, PROD)
    assert response.status == 200 and "Looking up" not in response.body
    e2e.slack.wait_for(
        lambda: [t for t in e2e.ephemeral_texts(ALICE) if "not linked a Coveo account" in t]
    )
    assert not [t for t in e2e.ephemeral_texts(ALICE) if "Looking up" in t]
    assert e2e.coveo.requests(path_prefix="/rest/organizations") == []


def test_a_url_of_another_region_is_refused_without_saying_looking_up(e2e: Harness) -> None:
    _linked(e2e)
    url = "https://platform-eu.cloud.coveo.com/admin/#/exampleprodeu9f4g6z/settings"
    response = e2e.slack.send_command(ALICE, CHANNEL, url)
    assert response.status == 200 and "Looking up" not in response.body
    e2e.slack.wait_for(lambda: [t for t in e2e.ephemeral_texts(ALICE) if "region EU" in t])
    assert not [t for t in e2e.ephemeral_texts(ALICE) if "Looking up" in t]


def test_the_private_replies_of_a_refused_lookup_come_in_order(
    e2e: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the "Looking up…" notice due at once, it is always first: the same worker sends it
    before the lookup's outcome (it used to be the ack's reply, racing the worker's)."""
    monkeypatch.setattr("handlers.deletion.requesting.LOOKUP_NOTICE_DELAY", 0.0)
    _linked(e2e, BOB, "viewer_us")
    for attempt in range(1, 4):
        e2e.slack.send_command(BOB, CHANNEL, "nosuchorgus1x2y3")
        e2e.slack.wait_for(
            lambda n=attempt: len([t for t in e2e.ephemeral_texts(BOB) if "preview" in t]) == n
        )
        relevant = [
            t for t in e2e.ephemeral_texts(BOB) if "Looking up" in t or "Could not preview" in t
        ]
        assert ["Looking up" in t for t in relevant] == [True, False] * attempt


def test_a_fast_lookup_answers_without_a_looking_up_notice(e2e: Harness) -> None:
    _linked(e2e)
    e2e.request_card(ALICE, PROD)  # the fake Coveo answers at once: well within the delay
    assert not [t for t in e2e.ephemeral_texts(ALICE) if "Looking up" in t]


def test_a_near_miss_of_a_command_word_is_not_sent_to_coveo(e2e: Harness) -> None:
    _linked(e2e)
    response = e2e.slack.send_command(ALICE, CHANNEL, "lnk")
    assert "did you mean `/delete-org link`" in response.body
    assert e2e.coveo.requests(path_prefix="/rest/organizations") == []
