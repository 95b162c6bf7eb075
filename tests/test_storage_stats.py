"""App Home and operator queries (a user's recent requests, outbox depth, live cards, links by
status), and the store's on_audit hook: each on a real SQLite file and on PostgreSQL."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.crypto import TokenCipher
from storage import DELETED, Store
from tests.backends import is_postgres, raw_rows
from tests.test_storage import ALICE, BOB, T0, WS, new_request, save_link


@pytest.fixture
def store_target(both_backends: Path | str) -> Path | str:
    return both_backends


@pytest.fixture
def heard(store_target: Path | str, cipher: TokenCipher) -> Any:
    events: list[dict[str, Any]] = []
    store = Store(store_target, cipher, on_audit=events.append)
    yield store, events
    store.close()


def test_recent_requests_are_the_users_own_newest_first_and_limited(store: Store) -> None:
    made = [
        new_request(store, org_id=f"aliceorg{i}", now=T0 + timedelta(minutes=i)) for i in range(12)
    ]
    new_request(store, org_id="boborg1", requester=BOB, now=T0 + timedelta(hours=1))

    recent = store.recent_requests_for_user(ALICE, 10)

    assert [r.id for r in recent] == [r.id for r in reversed(made)][:10]
    assert all(r.requester_id == ALICE for r in recent)
    assert [r.org_id for r in store.recent_requests_for_user(BOB, 10)] == ["boborg1"]
    assert store.recent_requests_for_user("U0NOBODY001", 10) == []


def test_recent_requests_include_finished_ones_with_their_outcome(store: Store) -> None:
    request = new_request(store)
    store.start_deletion(request.id, ALICE, T0 + timedelta(minutes=1))
    store.finish(
        request.id,
        outcome=DELETED,
        now=T0 + timedelta(minutes=2),
        actor_id=ALICE,
        http_status=204,
        coveo_request_id="coveo-req-1",
    )
    (only,) = store.recent_requests_for_user(ALICE, 10)
    assert only.state == DELETED


def test_recent_requests_limit_is_clamped(store: Store) -> None:
    for i in range(3):
        new_request(store, org_id=f"aliceorg{i}", now=T0 + timedelta(minutes=i))
    assert len(store.recent_requests_for_user(ALICE, 0)) == 1
    assert len(store.recent_requests_for_user(ALICE, 10_000)) == 3


def test_outbox_pending_counts_only_pending_items_and_dates_the_oldest(store: Store) -> None:
    assert store.outbox_pending() == (0, None)
    request = new_request(store)
    first, second = store.enqueue(request.id, [("card", "a", None), ("thread", "b", None)], T0)
    store.enqueue(request.id, [("thread", "c", None)], T0 + timedelta(minutes=3))
    store.outbox_done(first, T0 + timedelta(minutes=4), status="sent")

    count, oldest = store.outbox_pending()

    assert count == 2
    assert oldest == T0 and oldest.tzinfo is not None
    store.outbox_done(second, T0 + timedelta(minutes=5), status="dead", error="x")
    assert store.outbox_pending() == (1, T0 + timedelta(minutes=3))


def test_live_request_count_counts_pending_awaiting_and_deleting(store: Store) -> None:
    assert store.live_request_count() == 0
    pending = new_request(store, org_id="org1")
    deleting = new_request(store, org_id="org2")
    store.start_deletion(deleting.id, ALICE, T0 + timedelta(minutes=1))
    cancelled = new_request(store, org_id="org3")
    store.cancel(cancelled.id, ALICE, T0 + timedelta(minutes=1))
    assert pending.state == "pending"
    assert store.live_request_count() == 2


def test_live_request_count_can_use_the_partial_index(
    store: Store, store_target: Path | str
) -> None:
    """The literal states match the partial index's ``WHERE``, so the planner may read only
    the live rows. SQLite picks it whatever the table's size; PostgreSQL plans by cost (a tiny
    table is scanned), so there the plan is asked with sequential scans priced out."""
    from storage.stats import _LIVE

    query = f"SELECT COUNT(*) FROM deletion_requests WHERE {_LIVE}"  # noqa: S608
    if is_postgres(store_target):
        with psycopg.connect(str(store_target)) as conn:
            conn.execute("SET enable_seqscan = off")
            plan = conn.execute(f"EXPLAIN {query}").fetchall()
    else:
        plan = store._db().execute(f"EXPLAIN QUERY PLAN {query}").fetchall()
    assert "idx_requests_one_live_per_org" in " ".join(str(row) for row in plan)


def test_link_counts_by_status(store: Store) -> None:
    assert store.link_counts() == {}
    save_link(store)
    save_link(store, user_id=BOB)
    store.mark_link_invalid(WS, BOB, T0, "HTTP 401")
    assert store.link_counts() == {"active": 1, "invalid": 1}


def test_on_audit_hears_each_committed_row_after_commit(
    heard: Any, store_target: Path | str
) -> None:
    store, events = heard
    seen_committed: list[bool] = []

    def check(values: dict[str, Any]) -> None:
        # Another connection already sees the row: the callback runs after COMMIT.
        [(count,)] = raw_rows(
            store_target, "SELECT COUNT(*) FROM audit_events WHERE event = ?", (values["event"],)
        )
        seen_committed.append(count >= 1)
        events.append(values)

    store._on_audit = check
    request = new_request(store)
    store.cancel(request.id, ALICE, T0 + timedelta(seconds=1))
    assert [(e["event"], e["to_state"]) for e in events] == [
        ("requested", "pending"),
        ("cancelled", "cancelled"),
    ]
    assert seen_committed == [True, True]


def test_on_audit_never_hears_a_rolled_back_row(heard: Any) -> None:
    store, events = heard
    with pytest.raises(RuntimeError), store._write() as db:
        store._audit(db, T0, "cancelled", to_state="cancelled")
        raise RuntimeError("the transaction fails after its audit row")
    assert events == []
    assert store.audit_events() == []
    new_request(store)  # the next transaction reports only its own row
    assert [e["event"] for e in events] == ["requested"]


def test_a_failing_listener_is_logged_and_the_write_stands(
    store_target: Path | str, cipher: TokenCipher, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(values: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    store = Store(store_target, cipher, on_audit=broken)
    try:
        with caplog.at_level(logging.ERROR, logger="storage.base"):
            request = new_request(store)
        assert store.get_request(request.id) is not None
        assert "audit listener failed on event requested" in caplog.text
        assert "listener bug" in caplog.text  # the traceback is kept
    finally:
        store.close()
