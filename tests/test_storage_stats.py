"""The monitoring counts (storage/stats.py) and the on_audit hook (storage/base.py), on real
SQLite files."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_storage import ALICE, BOB, T0, WS, new_request, save_link

from bot.crypto import TokenCipher
from storage import DELETED, Store


@pytest.fixture
def heard(tmp_path: Path, cipher: TokenCipher) -> Any:
    events: list[dict[str, Any]] = []
    store = Store(tmp_path / "hook.db", cipher, on_audit=events.append)
    yield store, events
    store.close()


def test_outbox_pending_counts_waiting_items_and_the_oldest_creation_time(store: Store) -> None:
    assert store.outbox_pending() == (0, None)
    request = new_request(store)
    first = store.enqueue(request.id, [("card", "a", None), ("thread", "b", None)], T0)
    store.enqueue(request.id, [("thread", "c", None)], T0 + timedelta(seconds=30))
    assert store.outbox_pending() == (3, T0)
    store.outbox_done(first[0], T0 + timedelta(seconds=40), status="sent")
    store.outbox_done(first[1], T0 + timedelta(seconds=40), status="dead", error="is_archived")
    pending, oldest = store.outbox_pending()
    assert (pending, oldest) == (1, T0 + timedelta(seconds=30))
    assert oldest is not None and oldest.utcoffset() == timedelta(0)


def test_live_request_count_follows_the_states(store: Store) -> None:
    assert store.live_request_count() == 0
    pending = new_request(store, org_id="orgone1")
    deleting = new_request(store, org_id="orgtwo2")
    cancelled = new_request(store, org_id="orgthree3")
    store.start_deletion(deleting.id, ALICE, T0 + timedelta(seconds=5))
    store.cancel(cancelled.id, ALICE, T0 + timedelta(seconds=5))
    assert store.live_request_count() == 2
    store.finish(
        deleting.id,
        outcome=DELETED,
        now=T0 + timedelta(seconds=9),
        actor_id=ALICE,
        http_status=204,
        coveo_request_id=None,
    )
    assert store.live_request_count() == 1
    assert store.get_request(pending.id) is not None


def test_live_request_count_uses_the_partial_index(store: Store) -> None:
    from storage.stats import _LIVE

    plan = store._db().execute(
        f"EXPLAIN QUERY PLAN SELECT COUNT(*) FROM deletion_requests WHERE {_LIVE}"
    )
    assert "idx_requests_one_live_per_org" in " ".join(str(row) for row in plan.fetchall())


def test_link_counts_by_status(store: Store) -> None:
    assert store.link_counts() == {}
    save_link(store)
    save_link(store, user_id=BOB)
    store.mark_link_invalid(WS, BOB, T0, "HTTP 401")
    assert store.link_counts() == {"active": 1, "invalid": 1}


def test_on_audit_hears_each_committed_row_after_commit(heard: Any, tmp_path: Path) -> None:
    store, events = heard
    seen_committed: list[bool] = []

    def check(values: dict[str, Any]) -> None:
        # Another connection already sees the row: the callback runs after COMMIT.
        with closing(sqlite3.connect(tmp_path / "hook.db")) as other:
            count = other.execute(
                "SELECT COUNT(*) FROM audit_events WHERE event = ?", [values["event"]]
            ).fetchone()[0]
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
    tmp_path: Path, cipher: TokenCipher, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(values: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    store = Store(tmp_path / "broken.db", cipher, on_audit=broken)
    try:
        with caplog.at_level(logging.ERROR, logger="storage.base"):
            request = new_request(store)
        assert store.get_request(request.id) is not None
        assert "audit listener failed on event requested" in caplog.text
        assert "listener bug" in caplog.text  # the traceback is kept
    finally:
        store.close()
