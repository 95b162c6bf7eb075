"""The PostgreSQL pool has a connection for every thread of one app process that may use the
store at once, so no thread (an ack's request thread included) queues for a connection."""

from __future__ import annotations

from cryptography.fernet import Fernet

from bot.app import LISTENER_WORKERS, URGENT_WORKERS
from bot.crypto import TokenCipher
from bot.emulator.pgcluster import start_cluster
from bot.server import HTTP_THREADS
from storage import Store
from storage.pg_backend import POOL_MAX_CONNECTIONS, PostgresBackend

BACKGROUND_THREADS = 2
"""The upkeep (sweeper) thread and the shutdown drain."""


def test_pool_covers_every_thread_that_may_use_the_store() -> None:
    threads = HTTP_THREADS + LISTENER_WORKERS + URGENT_WORKERS + BACKGROUND_THREADS
    assert POOL_MAX_CONNECTIONS >= threads


def test_the_app_store_opens_its_pool_at_that_size(pg_url: str) -> None:
    store = Store(pg_url, TokenCipher([Fernet.generate_key().decode()]))
    try:
        backend = store._backend
        assert isinstance(backend, PostgresBackend)
        assert backend.pool.max_size == POOL_MAX_CONNECTIONS
        assert backend.pool.min_size == 1  # opened on demand, not all at start-up
    finally:
        store.close()


def test_the_throwaway_cluster_admits_two_replicas_at_their_peak() -> None:
    from inspect import signature

    default = signature(start_cluster).parameters["max_connections"].default
    assert default > 2 * POOL_MAX_CONNECTIONS
