"""The store's guarantees under real concurrency: threads on two Store objects (two replicas, each
with its own connection pool on PostgreSQL, its own connections on SQLite) racing on one database.

Each test runs on both backends; on PostgreSQL they exercise the mechanism named in the store's
docstrings (row re-check of compare-and-set, the caps advisory lock, the chain head row lock,
``FOR UPDATE SKIP LOCKED``, conditional upserts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.crypto import TokenCipher
from storage import (
    DELETING,
    LiveRequestExists,
    StateRefused,
    Store,
    StoreUnavailable,
    ack_path,
)
from storage.audit_chain import verify_chain
from tests.backends import is_postgres, raw_rows
from tests.pg import PgCluster

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
WS = "T0WORKSPACE1"
ALICE = "U0ALICE0001"
BOB = "U0BOB000001"
THREADS = 12


@pytest.fixture
def replicas(both_backends: Path | str, cipher: TokenCipher) -> Iterator[tuple[Store, Store]]:
    first = Store(both_backends, cipher)
    second = Store(both_backends, cipher)
    yield first, second
    first.close()
    second.close()


def race(replicas: tuple[Store, Store], work: Callable[[Store, int], Any]) -> list[Any]:
    """Run ``work(store, i)`` for i in 0..THREADS-1 at once (behind a barrier), alternating the
    two replicas; returns the results in order. Any exception fails the test."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait(timeout=10)
        try:
            results[i] = work(replicas[i % 2], i)
        except BaseException as error:  # asserted on below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert [repr(error) for error in errors] == []
    return results


def new_request(store: Store, org_id: str, *, now: datetime = T0, ttl: float = 300) -> Any:
    return store.create_request(
        workspace=WS,
        team_id=WS,
        requester_id=ALICE,
        channel_id="C0GENERAL01",
        org_id=org_id,
        org_name=None,
        org_type="Sandbox",
        region="us",
        response_url=None,
        now=now,
        expires_at=now + timedelta(seconds=ttl),
    )


def events(store: Store, name: str) -> int:
    return len([e for e in store.audit_events() if e.event == name])


def test_caps_hold_when_confirmations_of_many_organizations_race(
    replicas: tuple[Store, Store],
) -> None:
    first, _ = replicas
    requests = [new_request(first, f"org{i:02d}") for i in range(THREADS)]
    cap = [(3, T0 - timedelta(hours=1), None)]  # at most 3 deletions an hour, anyone

    started = race(
        replicas,
        lambda s, i: s.start_deletion(requests[i].id, ALICE, T0 + timedelta(seconds=5), limits=cap),
    )

    assert len([r for r in started if r is not None]) == 3
    assert len(first.attempts_since(T0 - timedelta(hours=1))) == 3
    assert events(first, "confirmed") == 3


def test_one_request_per_organization_when_creations_race(
    replicas: tuple[Store, Store],
) -> None:
    def create(store: Store, i: int) -> Any:
        try:
            return new_request(store, "acmeprod1")
        except LiveRequestExists as refused:
            return refused

    outcomes = race(replicas, create)

    created = [o for o in outcomes if not isinstance(o, LiveRequestExists)]
    assert len(created) == 1
    assert {o.existing.id for o in outcomes if isinstance(o, LiveRequestExists)} == {created[0].id}
    assert events(replicas[0], "requested") == 1


def test_two_sweepers_expire_a_card_once(replicas: tuple[Store, Store]) -> None:
    request = new_request(replicas[0], "acmeprod1", ttl=60)
    later = T0 + timedelta(seconds=61)
    expired = race(replicas, lambda s, i: s.expire(request.id, later))
    assert len([e for e in expired if e is not None]) == 1
    assert events(replicas[0], "expired") == 1


def test_one_replica_reconciles_an_orphan(replicas: tuple[Store, Store]) -> None:
    request = new_request(replicas[0], "acmeprod1")
    assert replicas[0].start_deletion(request.id, ALICE, T0, owner="dead-replica") is not None
    claimed = race(replicas, lambda s, i: s.claim_orphan(request.id, "dead-replica", f"r{i}"))
    winners = [c for c in claimed if c is not None]
    assert len(winners) == 1 and winners[0].state == DELETING
    final = replicas[1].get_request(request.id)
    assert final is not None and final.owner == winners[0].owner


def test_each_outbox_item_is_claimed_by_one_replica(replicas: tuple[Store, Store]) -> None:
    request = new_request(replicas[0], "acmeprod1")
    ids = replicas[0].enqueue(request.id, [("thread", f"reply {n}", None) for n in range(60)], T0)

    def drain(store: Store, i: int) -> list[int]:
        mine: list[int] = []
        while batch := store.claim_outbox(f"replica-{i}", T0, 30, limit=4):
            mine += [item.id for item in batch]
        return mine

    claimed = race(replicas, drain)

    everything = [item_id for mine in claimed for item_id in mine]
    assert sorted(everything) == sorted(ids)  # every item once, none twice


def test_the_audit_chain_stays_whole_when_writers_race(replicas: tuple[Store, Store]) -> None:
    race(
        replicas,
        lambda s, i: [
            s.record_event(T0, "viewed", actor_id=f"U{i}", detail=str(n)) for n in range(5)
        ],
    )
    store = replicas[0]
    assert [e.id for e in store.audit_events()] == list(range(1, 5 * THREADS + 1))
    result = verify_chain(store._db(), None)
    assert result.ok and result.checked == 5 * THREADS, result.problem


def test_one_freeze_wins_and_is_audited_once(replicas: tuple[Store, Store]) -> None:
    changed = race(
        replicas,
        lambda s, i: s.set_freeze(frozen=True, by_user=f"U{i}", reason="incident", now=T0),
    )
    assert changed.count(True) == 1
    assert events(replicas[0], "frozen") == 1
    state = replicas[1].freeze_state()
    assert state is not None and state[0] == f"U{changed.index(True)}"
    assert replicas[1].set_freeze(frozen=False, by_user=BOB, reason=None, now=T0) is True
    assert replicas[0].freeze_state() is None


def test_a_sign_in_state_is_used_once(replicas: tuple[Store, Store]) -> None:
    state, _ = replicas[0].oauth.create_state(
        workspace=WS,
        team_id=WS,
        user_id=ALICE,
        region="us",
        channel_id="C0GENERAL01",
        response_url=None,
        now=T0,
    )

    def consume(store: Store, i: int) -> Any:
        try:
            return store.oauth.consume_state(state, T0 + timedelta(seconds=5))
        except StateRefused as refused:
            return refused.reason

    outcomes = race(replicas, consume)
    assert outcomes.count("used") == THREADS - 1
    [signed_in] = [o for o in outcomes if o != "used"]
    assert signed_in.user_id == ALICE


def _oauth_link(store: Store, expires_at: datetime | None) -> None:
    store.oauth.save_oauth_link(
        workspace=WS,
        user_id=ALICE,
        token="fake-access-token-0001",
        refresh_token="fake-refresh-token-0001",
        region="us",
        coveo_username="alice@example.com",
        coveo_email=None,
        expires_at=expires_at,
        now=T0,
    )


def test_one_replica_takes_the_refresh_lock(replicas: tuple[Store, Store]) -> None:
    expiry = T0 + timedelta(minutes=1)
    _oauth_link(replicas[0], expiry)
    taken = race(
        replicas,
        lambda s, i: s.oauth.claim_refresh(
            WS, ALICE, seen_expires_at=expiry, owner=f"r{i}", now=T0, lease_seconds=30
        ),
    )
    assert taken.count(True) == 1


def test_a_pasted_link_replaces_every_column_of_a_signed_in_one(
    replicas: tuple[Store, Store],
) -> None:
    """``save_link`` is an upsert now, not ``INSERT OR REPLACE``: it must still leave nothing of
    the OAuth link behind (refresh token, kind, refresh lock)."""
    store = replicas[0]
    _oauth_link(store, None)
    assert store.oauth.claim_refresh(
        WS, ALICE, seen_expires_at=None, owner="r1", now=T0, lease_seconds=30
    )
    store.save_link(
        workspace=WS,
        user_id=ALICE,
        token="fake-pasted-token-0002",
        region="eu",
        coveo_username="alice@example.com",
        coveo_email=None,
        expires_at=None,
        now=T0,
    )
    link = store.get_link(WS, ALICE)
    assert link is not None and link.token == "fake-pasted-token-0002" and link.region == "eu"
    assert link.auth_kind == "pasted" and link.refreshable is False
    assert store.oauth.read_refresh_token(WS, ALICE) is None
    assert store.oauth.refresh_locked(WS, ALICE, T0) is False


def test_the_store_says_whether_it_is_shared_across_hosts(
    replicas: tuple[Store, Store], both_backends: Path | str
) -> None:
    assert replicas[0].shared_across_hosts is is_postgres(both_backends)


def test_the_store_reconnects_after_a_postgresql_restart(
    pg_cluster: PgCluster, pg_url: str, cipher: TokenCipher
) -> None:
    store = Store(pg_url, cipher)
    try:
        request = new_request(store, "acmeprod1")
        pg_cluster.run(
            str(pg_cluster.bindir / "pg_ctl"), "-D", str(pg_cluster.datadir), "-m", "fast",
            "-l", str(pg_cluster.datadir.parent / "server.log"), "-w", "restart",
        )  # fmt: skip
        # The pooled connections died with the server: each is checked when taken, so the
        # next operations get fresh ones, with no restart of the app.
        assert store.get_request(request.id) == request
        assert store.cancel(request.id, ALICE, T0 + timedelta(seconds=1)) is not None
        assert raw_rows(pg_url, "SELECT state FROM deletion_requests") == [("cancelled",)]
    finally:
        store.close()


def test_a_write_during_a_postgresql_outage_fails_and_changes_nothing(
    pg_cluster: PgCluster, pg_url: str, cipher: TokenCipher
) -> None:
    store = Store(pg_url, cipher)
    try:
        request = new_request(store, "acmeprod1")
        pg_cluster.stop()
        try:
            with ack_path():  # fail fast while it is down (the server stopped, not just slow)
                started = time.monotonic()
                with pytest.raises(StoreUnavailable, match="is unreachable") as down:
                    store.start_deletion(request.id, ALICE, T0 + timedelta(seconds=1))
                assert isinstance(down.value.__cause__, psycopg.OperationalError)
                with pytest.raises(StoreUnavailable):
                    store.get_request(request.id)
                assert time.monotonic() - started < 3.0  # both, within Slack's 3 s
        finally:
            pg_cluster.start()
        # Off the ack path, the long wait: the pool retries connecting with a backoff of
        # about a second, well within it.
        again = store.get_request(request.id)
        assert again is not None and again.state == "pending"  # nothing half-written
        assert store.start_deletion(request.id, ALICE, T0 + timedelta(seconds=2)) is not None
    finally:
        store.close()


def test_a_failing_statement_is_not_mistaken_for_an_outage(
    pg_url: str, cipher: TokenCipher
) -> None:
    store = Store(pg_url, cipher)
    store.record_event(T0, "viewed")
    try:
        with pytest.raises(psycopg.errors.UndefinedTable):
            store._db().execute("SELECT * FROM no_such_table")
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
            with store._write() as db:
                db.execute("DELETE FROM audit_events")
    finally:
        store.close()
