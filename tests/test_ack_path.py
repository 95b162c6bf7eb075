"""The ack path (``storage/ack_wait.py``): work that must answer Slack within 3 s waits for the
database briefly, everything else keeps the long wait; on both backends the same operations
work inside it while the database is there."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import UrgentPool
from bot.crypto import TokenCipher
from storage import Store, StoreUnavailable, ack_path, ack_wait
from storage.ack_wait import ACK_PATH_WAIT_SECONDS, MIN_WAIT_SECONDS, connection_wait, on_ack_path
from storage.pg_backend import POOL_WAIT_SECONDS
from tests.pg import PgCluster, unreachable

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
WS = "T0WORKSPACE1"
ALICE = "U0ALICE0001"


class _Monotonic:
    """A ``time.monotonic`` the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Monotonic:
    fake = _Monotonic()
    monkeypatch.setattr(ack_wait, "monotonic", fake)
    return fake


def test_off_an_ack_path_every_wait_is_the_long_one(clock: _Monotonic) -> None:
    assert not on_ack_path()
    assert connection_wait(POOL_WAIT_SECONDS) == POOL_WAIT_SECONDS


def test_on_an_ack_path_waits_end_at_its_deadline_but_never_drop_below_the_minimum(
    clock: _Monotonic,
) -> None:
    with ack_path():
        assert on_ack_path()
        assert connection_wait(POOL_WAIT_SECONDS) == ACK_PATH_WAIT_SECONDS
        clock.now += 1.0
        assert connection_wait(POOL_WAIT_SECONDS) == pytest.approx(ACK_PATH_WAIT_SECONDS - 1.0)
        clock.now += 5.0  # past the deadline: an idle connection may still be taken
        assert connection_wait(POOL_WAIT_SECONDS) == MIN_WAIT_SECONDS
        assert connection_wait(0.1) == 0.1  # never longer than the backend's own wait
    assert not on_ack_path()
    assert connection_wait(POOL_WAIT_SECONDS) == POOL_WAIT_SECONDS


def test_a_nested_ack_path_keeps_the_outer_deadline(clock: _Monotonic) -> None:
    """Socket Mode: the envelope claim's ack path encloses the Bolt dispatch's."""
    with ack_path():
        clock.now += 1.0
        with ack_path():
            assert connection_wait(POOL_WAIT_SECONDS) == pytest.approx(0.5)
        assert on_ack_path()
    assert not on_ack_path()


def test_the_urgent_pool_runs_each_task_on_an_ack_path_of_its_own() -> None:
    with UrgentPool(max_workers=1) as urgent, ThreadPoolExecutor(max_workers=1) as listeners:
        assert urgent.submit(on_ack_path).result() is True
        assert urgent.submit(lambda: on_ack_path()).result() is True
        # Work started from an ack path on another pool (Bolt's lazy listeners) is not on it.
        with ack_path():
            assert listeners.submit(on_ack_path).result() is False
    assert not on_ack_path()


def _save_link(store: Store) -> object:
    return store.save_link(
        workspace=WS,
        user_id=ALICE,
        token="tok-not-real-1",
        region="us",
        coveo_username="alice@example.com",
        coveo_email="alice@example.com",
        expires_at=None,
        now=T0,
    )


def test_store_operations_on_an_ack_path_work_while_the_database_is_there(
    both_backends: Path | str, cipher: TokenCipher
) -> None:
    store = Store(both_backends, cipher)
    try:
        with ack_path():
            _save_link(store)
            link = store.get_link(WS, ALICE)
        assert link is not None and link.token == "tok-not-real-1"
    finally:
        store.close()


def _spy_on_waits(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The ``timeout`` of every pooled connection the store asks for from now on."""
    pool = store._backend.pool  # type: ignore[attr-defined]
    real = pool.connection
    waits: list[float] = []

    def connection(timeout: float | None = None) -> AbstractContextManager[Any]:
        assert timeout is not None  # always explicit: the pool's own default is not relied on
        waits.append(timeout)
        return real(timeout=timeout)  # type: ignore[no-any-return]

    monkeypatch.setattr(pool, "connection", connection)
    return waits


def test_on_postgresql_background_work_waits_the_long_wait_and_an_ack_path_the_short_one(
    pg_url: str, cipher: TokenCipher, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(pg_url, cipher)
    try:
        waits = _spy_on_waits(store, monkeypatch)
        _save_link(store)  # a write
        store.get_link(WS, ALICE)  # a read
        background = len(waits)
        assert background >= 2 and set(waits) == {POOL_WAIT_SECONDS} and POOL_WAIT_SECONDS >= 10
        waits.clear()
        with ack_path():
            _save_link(store)
            store.get_link(WS, ALICE)
        assert len(waits) == background
        assert all(MIN_WAIT_SECONDS <= wait <= ACK_PATH_WAIT_SECONDS for wait in waits), waits
    finally:
        store.close()


@pytest.fixture
def pg_store(pg_url: str, cipher: TokenCipher) -> Iterator[Store]:
    store = Store(pg_url, cipher)
    yield store
    store.close()


def test_on_an_ack_path_an_unreachable_postgresql_fails_a_read_and_a_write_within_seconds(
    pg_cluster: PgCluster, pg_url: str, pg_store: Store
) -> None:
    _save_link(pg_store)
    with unreachable(pg_cluster, pg_url):
        with ack_path():
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="is unreachable"):
                pg_store.get_link(WS, ALICE)
            read_failed = time.monotonic()
        with ack_path():
            with pytest.raises(StoreUnavailable, match="is unreachable"):
                pg_store.record_event(T0, "viewed", workspace=WS, actor_id=ALICE)
            write_failed = time.monotonic()
    # Generous bounds (the wait is 1.5 s): each well within Slack's 3 s, not the 15 s wait.
    assert read_failed - started < 3.0
    assert write_failed - read_failed < 3.0
    # Reachable again: the same store, off the ack path, reads what was there (nothing lost).
    link = pg_store.get_link(WS, ALICE)
    assert link is not None and link.token == "tok-not-real-1"
