"""End to end where the app is not in the channel, so the card lives on Slack's response_url
(30 minutes, 5 posts): the real app over loopback HTTP, the fake Slack modelling that life,
the app's clock and the fake's moved together."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ALICE, Harness, build_harness

from handlers.ids import ACTION_CONFIRM

PROD = "exampleprodus4k7q2m"
SANDBOX = "examplesandboxus2r9t5w"
PRIVATE = "C0PRIVATE01"


def _stack(tmp_path: Path, *, sweeper: bool) -> Iterator[Harness]:
    gen = build_harness(tmp_path, sweeper=sweeper, DELETE_ORG_CONFIRM_TIMEOUT="1800")
    e2e = next(gen)
    e2e.slack.add_channel(PRIVATE, "secret-project", kind="private", bot_is_member=False)
    assert e2e.link(ALICE, "admin_us").status == 200
    try:
        yield e2e
    finally:
        gen.close()


@pytest.fixture
def quiet_app(tmp_path: Path) -> Iterator[Harness]:
    """The app without its sweeper (as if it were down): passes are run by the test."""
    yield from _stack(tmp_path, sweeper=False)


@pytest.fixture
def sweeping_app(tmp_path: Path) -> Iterator[Harness]:
    yield from _stack(tmp_path, sweeper=True)


def _advance(e2e: Harness, seconds: float) -> None:
    e2e.clock.advance(seconds)
    e2e.slack.advance_clock(seconds)


def _posts(e2e: Harness) -> list[int]:
    """Statuses Slack answered to the app's response_url posts in the private channel."""
    return [p.status for p in e2e.slack.hook_posts() if p.channel == PRIVATE]


def _events(e2e: Harness, event: str) -> list[str]:
    return [str(e.detail) for e in e2e.store.audit_events() if e.event == event]


def test_a_long_timeout_is_capped_said_on_the_card_and_the_expiry_reaches_it(
    sweeping_app: Harness,
) -> None:
    e2e = sweeping_app
    card = e2e.request_card(ALICE, PROD, channel=PRIVATE)
    assert card.via == "response_url"
    assert "This card expires in 28 minutes, not 30 minutes" in str(card.blocks)
    assert "Invite the app" in str(card.blocks)
    request = e2e.store.live_request_for_org(PROD, "us")
    assert request is not None
    assert 1679 < (request.expires_at - request.created_at).total_seconds() < 1681
    assert len(_events(e2e, "expiry_shortened")) == 1
    _advance(e2e, 1681)  # past the shortened deadline, well before the URL's 30 minutes
    e2e.slack.wait_for(
        lambda: [
            m for m in e2e.slack.messages(PRIVATE) if "Expired — nothing was deleted" in m.text
        ]
    )
    assert _posts(e2e) == [200, 200, 200]  # the card, its expiry, the thread line
    assert e2e.slack.direct_messages() == []
    assert e2e.store.get_request(request.id).state == "expired"  # type: ignore[union-attr]


def test_when_the_url_has_died_the_requester_is_told_once_by_direct_message(
    quiet_app: Harness,
) -> None:
    e2e = quiet_app
    card = e2e.request_card(ALICE, PROD, channel=PRIVATE)
    assert card.via == "response_url"
    _advance(e2e, 1800)  # nobody swept for 30 minutes: the URL is dead at Slack too
    e2e.runtime.sweeper.run_once()
    e2e.runtime.sweeper.run_once()
    (dm,) = e2e.slack.direct_messages(ALICE)
    assert "could not be updated" in dm.text and PROD in dm.text
    assert "Expired — nothing was deleted" in dm.text
    assert "buttons may still show" in dm.text
    assert _posts(e2e) == [200]  # only the card: nothing was posted to the dead URL
    (told,) = _events(e2e, "told_by_direct_message")
    assert "response_url_expired" in told
    request = e2e.store.live_request_for_org(PROD, "us")
    assert request is None  # expired; the audit has it
    assert [e.to_state for e in e2e.store.audit_events() if e.to_state] == ["pending", "expired"]


def test_a_refused_direct_message_is_logged_and_recorded(
    quiet_app: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    e2e = quiet_app
    e2e.request_card(ALICE, PROD, channel=PRIVATE)
    e2e.slack.fail_method("chat.postMessage", "messages_tab_disabled", times=3, channel=ALICE)
    _advance(e2e, 1800)
    with caplog.at_level(logging.ERROR, logger="handlers.outbox"):
        e2e.runtime.sweeper.run_once()
    assert e2e.slack.direct_messages() == []
    (failed,) = _events(e2e, "direct_message_failed")
    assert "messages_tab_disabled" in failed
    assert any("could not be delivered to anyone" in r.getMessage() for r in caplog.records)


def test_redelivered_clicks_never_take_the_posts_the_outcome_needs(e2e: Harness) -> None:
    e2e.slack.add_channel(PRIVATE, "secret-project", kind="private", bot_is_member=False)
    assert e2e.link(ALICE, "admin_us").status == 200
    card = e2e.request_card(ALICE, SANDBOX, channel=PRIVATE)
    e2e.coveo.set_latency(0.8, "DELETE", "/rest/organizations/")  # the app reads for 1.5 s
    body = e2e.slack.build_click(
        ALICE, channel_id=PRIVATE, message_ts=card.ts, action_id=ACTION_CONFIRM
    )
    for _ in range(5):  # one click delivered five times: one response_url, five answers
        assert e2e.slack.send_interaction(body).status == 200
    reply = e2e.slack.wait_for(
        lambda: [m for m in e2e.slack.thread(PRIVATE, card.ts) if "204 No Content" in m.text],
        timeout=8,
    )[0]
    assert reply.via == "response_url"
    assert len(e2e.coveo.deletes(SANDBOX)) == 1
    click_posts = [p for p in e2e.slack.hook_posts() if p.kind == "action" and p.channel == PRIVATE]
    assert len(click_posts) <= 5 and all(p.status == 200 for p in click_posts)
    final = e2e.slack.message(PRIVATE, card.ts)
    assert all(block["type"] != "actions" for block in final.blocks)
    assert e2e.slack.direct_messages() == []


def test_a_url_slack_calls_dead_sooner_is_posted_to_once_then_the_requester_is_told(
    quiet_app: Harness,
) -> None:
    e2e = quiet_app
    e2e.request_card(ALICE, PROD, channel=PRIVATE)
    e2e.slack.response_url_max_uses = 1  # Slack counts differently than planned: used up now
    _advance(e2e, 1700)  # past the card's deadline, before the URL's planned death
    e2e.runtime.sweeper.run_once()
    assert _posts(e2e) == [200, 404]  # the card, then one refused post: never another one
    (dm,) = e2e.slack.direct_messages(ALICE)
    assert "Expired — nothing was deleted" in dm.text
    assert len(_events(e2e, "told_by_direct_message")) == 1
