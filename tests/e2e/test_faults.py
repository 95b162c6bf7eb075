"""Fault injection over real loopback HTTP: concurrency, retries, Slack and Coveo failures.

The exactly-once promise: a confirmed request causes at most one DELETE that Coveo acts on,
an unconfirmed one none, and every request ends with a recorded and delivered outcome. Every
test runs on SQLite and on PostgreSQL (``backend_env``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ALICE, BOB, CHANNEL, Harness, build_harness

from bot.emulator.coveo import FakeOrganization
from bot.sweeper import STALE_AFTER_SECONDS
from handlers.ids import ACTION_CANCEL, ACTION_CONFIRM

PROD = "exampleprodus4k7q2m"
SANDBOX = "examplesandboxus2r9t5w"


@pytest.fixture
def e2e(tmp_path: Path, backend_env: dict[str, str]) -> Iterator[Harness]:
    yield from build_harness(tmp_path, **backend_env)


def _linked(e2e: Harness, user: str = ALICE, token: str = "admin_us") -> None:
    assert e2e.link(user, token).status == 200
    e2e.slack.wait_for(lambda: e2e.store.get_link("T0TEST0001", user))


def _final_state(e2e: Harness, org_id: str) -> str:
    events = [ev for ev in e2e.store.audit_events() if ev.org_id == org_id and ev.to_state]
    return events[-1].to_state if events else ""


def test_twenty_concurrent_confirms_send_one_delete(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    body = e2e.slack.build_click(
        ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM
    )
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: e2e.slack.send_interaction(body).status, range(20)))
    assert statuses == [200] * 20
    e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))
    e2e.slack.wait_for(lambda: len([t for t in e2e.ephemeral_texts(ALICE) if "already" in t]) == 19)
    assert len(e2e.coveo.deletes()) == 1
    assert len(e2e.slack.thread(CHANNEL, card.ts)) == 1
    assert [ev.event for ev in e2e.store.audit_events() if ev.event == "confirmed"] == ["confirmed"]


def test_confirm_racing_cancel_ends_one_way_only(e2e: Harness) -> None:
    _linked(e2e)
    for org in (PROD, SANDBOX):
        card = e2e.request_card(ALICE, org)
        confirm = e2e.slack.build_click(
            ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM
        )
        cancel = e2e.slack.build_click(
            ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CANCEL
        )
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(e2e.slack.send_interaction, [confirm, cancel] * 4))
        e2e.slack.wait_for(lambda card=card: e2e.slack.thread(CHANNEL, card.ts))
        time.sleep(0.3)
        state = _final_state(e2e, org)
        assert state in ("deleted", "cancelled")
        assert len(e2e.coveo.deletes(org)) == (1 if state == "deleted" else 0)
        assert len(e2e.slack.thread(CHANNEL, card.ts)) == 1


def test_click_racing_the_sweeper_after_the_deadline_deletes_nothing(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    e2e.clock.advance(31)
    body = e2e.slack.build_click(
        ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM
    )
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(e2e.slack.send_interaction, body) for _ in range(3)]
        futures += [pool.submit(e2e.runtime.sweeper.run_once) for _ in range(3)]
        for future in futures:
            future.result()
    e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))
    time.sleep(0.3)
    assert e2e.coveo.deletes() == []
    assert _final_state(e2e, PROD) == "expired"
    assert len(e2e.slack.thread(CHANNEL, card.ts)) == 1


def test_two_app_processes_on_one_database_send_one_delete(e2e: Harness) -> None:
    other = e2e.start_another_app()
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    body = e2e.slack.build_click(
        ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM
    )
    targets = [e2e.app.url, other.url] * 6
    with ThreadPoolExecutor(12) as pool:
        statuses = list(
            pool.map(lambda url: e2e.slack.send_interaction(body, app_url=url).status, targets)
        )
    assert statuses == [200] * 12
    e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))
    time.sleep(0.3)
    assert len(e2e.coveo.deletes()) == 1
    assert len(e2e.slack.thread(CHANNEL, card.ts)) == 1


def test_slack_rate_limit_then_success_gives_exactly_one_thread_reply(
    tmp_path: Path, backend_env: dict[str, str]
) -> None:
    gen = build_harness(tmp_path, sweeper=True, **backend_env)
    e2e = next(gen)
    try:
        _linked(e2e)
        card = e2e.request_card(ALICE, PROD)
        e2e.slack.fail_method(
            "chat.postMessage", "ratelimited", times=1, retry_after=1, channel=CHANNEL
        )
        e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
        reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts), timeout=8)[0]
        assert "204 No Content" in reply.text
        time.sleep(1.5)
        assert len(e2e.slack.thread(CHANNEL, card.ts)) == 1
        thread_posts = [c for c in e2e.slack.calls("chat.postMessage") if c.params.get("thread_ts")]
        assert len(thread_posts) == 2  # the rate-limited try, then the one that landed
        items = e2e.store.outbox_items()
        assert [i.status for i in items] == ["sent", "sent"]
        assert [i.attempts for i in items if i.kind == "thread"] == [2]
    finally:
        gen.close()


def test_outbox_survives_a_restart(tmp_path: Path, backend_env: dict[str, str]) -> None:
    gen = build_harness(tmp_path, **backend_env)
    e2e = next(gen)
    try:
        _linked(e2e)
        card = e2e.request_card(ALICE, PROD)
        e2e.slack.fail_method(
            "chat.postMessage", "ratelimited", times=1, retry_after=20, channel=CHANNEL
        )
        e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
        e2e.slack.wait_for(
            lambda: [i for i in e2e.store.outbox_items() if i.kind == "thread" and i.attempts == 1]
        )
        assert e2e.slack.thread(CHANNEL, card.ts) == []
        assert _final_state(e2e, PROD) == "deleted"  # the audit has the outcome whatever Slack does
        e2e.restart(sweeper=False)
        e2e.clock.advance(21)
        e2e.runtime.sweeper.run_once()
        reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))[0]
        assert "204 No Content" in reply.text
    finally:
        gen.close()


def test_permanent_thread_failure_falls_back_to_response_url(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    e2e.slack.fail_method(
        "chat.postMessage", "restricted_action_thread_locked", times=1, channel=CHANNEL
    )
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))[0]
    assert reply.via == "response_url" and "204 No Content" in reply.text


def test_fifteen_confirms_while_coveo_hangs_each_get_an_outcome_and_the_app_recovers(
    e2e: Harness,
) -> None:
    _linked(e2e)
    orgs = [f"hangorg{n:02d}x" for n in range(15)]
    for org in orgs:
        e2e.coveo.add_organization(FakeOrganization(org, f"Hang {org}", "us"))
    cards = [e2e.request_card(ALICE, org) for org in orgs]
    e2e.coveo.hang("DELETE", "/rest/organizations/hangorg", 2.5, then="drop", times=15)
    bodies = [
        e2e.slack.build_click(
            ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM
        )
        for card in cards
    ]
    with ThreadPoolExecutor(15) as pool:
        responses = list(pool.map(e2e.slack.send_interaction, bodies))
    assert all(r.status == 200 and r.elapsed < 3.0 for r in responses)  # Slack's ack limit
    for card in cards:
        reply = e2e.slack.wait_for(
            lambda card=card: e2e.slack.thread(CHANNEL, card.ts), timeout=20
        )[0]
        assert "Outcome unknown" in reply.text
    assert len(e2e.coveo.deletes()) == 15
    assert all(_final_state(e2e, org) == "unknown" for org in orgs)
    # no restart needed: the next request goes through
    card = e2e.request_card(ALICE, SANDBOX)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts), timeout=10)[0]
    assert "204 No Content" in reply.text


def test_preview_retries_transient_coveo_errors(e2e: Harness) -> None:
    _linked(e2e)
    e2e.coveo.fail_next("GET", "/rest/organizations/", 503, body={"errorCode": "UNAVAILABLE"})
    e2e.coveo.fail_next("GET", "/rest/organizations/", 429, headers={"Retry-After": "1"})
    card = e2e.request_card(ALICE, PROD)
    assert PROD in str(card.blocks)
    assert len(e2e.coveo.requests("GET", "/rest/organizations/")) == 3


def test_unreadable_lookup_after_a_timed_out_delete_never_leaves_it_stuck(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    e2e.coveo.hang("DELETE", "/rest/organizations/", 1.7, then="process")
    e2e.coveo.fail_next(
        "GET",
        "/rest/organizations/",
        200,
        body=b"not gzip at all",
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts), timeout=10)[0]
    assert "Outcome unknown" in reply.text
    assert _final_state(e2e, PROD) == "unknown"
    assert e2e.store.live_request_for_org(PROD, "us") is None


def test_absurd_retry_after_does_not_break_the_outcome(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    e2e.coveo.fail_next(
        "DELETE", "/rest/organizations/", 429, headers={"Retry-After": "9" * 400}, times=3
    )
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))[0]
    assert "HTTP 429" in reply.text
    assert _final_state(e2e, PROD) == "failed"
    assert len(e2e.coveo.deletes()) == 1  # a day-long Retry-After is not waited for


def test_an_expired_card_replaced_by_a_new_request_is_marked_expired(e2e: Harness) -> None:
    _linked(e2e)
    _linked(e2e, BOB, "admin_us")
    old = e2e.request_card(ALICE, PROD)
    e2e.clock.advance(31)
    new = e2e.request_card(BOB, PROD)
    assert new.ts != old.ts
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, old.ts))[0]
    assert "Expired" in reply.text
    assert all(b["type"] != "actions" for b in e2e.slack.message(CHANNEL, old.ts).blocks)


def test_slow_coveo_never_delays_acks(e2e: Harness) -> None:
    _linked(e2e)
    for n in range(40):
        e2e.coveo.add_organization(FakeOrganization(f"sloworg{n:02d}x", "Slow", "us"))
    e2e.coveo.set_latency(3.5, "GET", "/rest/organizations/")  # longer than Slack waits
    with ThreadPoolExecutor(40) as pool:
        responses = list(
            pool.map(
                lambda n: e2e.slack.send_command(ALICE, CHANNEL, f"sloworg{n:02d}x"), range(40)
            )
        )
        started = time.monotonic()
        help_response = e2e.slack.send_command(BOB, CHANNEL, "help")
        help_elapsed = time.monotonic() - started
    assert all(r.status == 200 for r in responses)
    # Slack gives up after 3 s: every ack must come before, although each lookup takes 3.5 s.
    assert max(r.elapsed for r in responses) < 3.0
    assert help_response.status == 200 and help_elapsed < 3.0


def test_an_orphan_whose_pid_was_reused_is_still_reconciled(e2e: Harness) -> None:
    import os
    import socket

    _linked(e2e)
    card = e2e.request_card(ALICE, SANDBOX)
    request = e2e.store.live_request_for_org(SANDBOX, "us")
    assert request is not None
    # A crashed earlier incarnation that had this very PID (as PID 1 in a restarted container).
    e2e.store.register_instance("ghost", socket.gethostname(), os.getpid(), e2e.clock())
    e2e.store.start_deletion(request.id, ALICE, e2e.clock(), owner="ghost")
    e2e.clock.advance(61)  # past the settle time: Coveo cannot still be working on it
    e2e.runtime.sweeper.run_once()
    if e2e.store.shared_across_hosts:
        # PostgreSQL: replicas on other hosts may have the same hostname and PID, so only the
        # heartbeat counts: the ghost is presumed alive until its heartbeat is stale.
        assert e2e.store.live_request_for_org(SANDBOX, "us") is not None
        e2e.clock.advance(STALE_AFTER_SECONDS)
        e2e.runtime.sweeper.run_once()
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))[0]
    assert "Not deleted" in reply.text and "restarted" in reply.text
    assert e2e.store.live_request_for_org(SANDBOX, "us") is None
    assert e2e.coveo.deletes() == []
