"""Throwaway PostgreSQL for the test suite: one cluster per run, one fresh database per test.

The cluster itself (``initdb``/``pg_ctl`` in a temp dir, on 127.0.0.1, run as ``postgres`` when
root) is ``bot.emulator.pgcluster``, shared with the benchmark. Each test gets its own database
created from ``template1`` (a file copy: fast).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from bot.emulator.pgcluster import MISSING, PG_USER, PgCluster, start_cluster, stop_cluster

__all__ = [
    "PG_USER",
    "PgCluster",
    "pg_cluster",
    "pg_url",
    "start_cluster",
    "stop_cluster",
    "unreachable",
]

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL cluster per test run (skips the test when PostgreSQL is not installed)."""
    cluster = start_cluster()
    if cluster is None:
        pytest.skip(MISSING)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """URL of a fresh, empty database for this test; dropped afterwards."""
    name = f"t{os.getpid()}_{next(_names)}"
    yield pg_cluster.create_database(name)
    pg_cluster.drop_database(name)


@contextmanager
def unreachable(cluster: PgCluster, url: str) -> Iterator[None]:
    """While the block runs, the database of ``url`` (on ``cluster``) refuses new connections
    and its open sessions are cut, as if its server were gone; usable again afterwards (the
    same data). Cheaper than stopping a cluster of one's own, and no other test's database is
    touched."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
    try:
        yield
    finally:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
