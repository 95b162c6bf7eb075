"""Throwaway PostgreSQL for the test suite: one cluster per run, one fresh database per test.

The cluster is made with ``initdb``/``pg_ctl`` from the Debian ``postgresql`` package (binaries in
``/usr/lib/postgresql/<major>/bin``), in a temporary directory, listening on 127.0.0.1 on a free
port, with ``fsync=off`` for speed. ``initdb`` refuses to run as root (CI and these machines run as
root), so when root the server runs as the unprivileged ``postgres`` system user via ``runuser``.
Each test gets its own database created from ``template1`` (a file copy: fast).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

PG_USER = "postgres"


def _pg_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` holding ``initdb``, or None."""
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return None
    majors = sorted(
        (p for p in root.iterdir() if (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
    )
    return majors[-1] / "bin" if majors else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    """A running throwaway cluster: admin connection facts, and the server options it was
    started with (``start`` after ``stop`` reuses them: same port, same settings)."""

    bindir: Path
    datadir: Path
    port: int
    as_user: list[str]
    options: str = ""

    def url(self, dbname: str) -> str:
        """``postgresql://`` URL for ``dbname`` on this cluster (trust auth, no password)."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{dbname}"

    def run(self, *args: str) -> None:
        """Run one server binary (initdb, pg_ctl) as the unprivileged owner; raise on failure."""
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        """Start the server (waits up to 30 s until it accepts connections)."""
        self.run(
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o", self.options,
            "-l", str(self.datadir.parent / "server.log"), "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are cut, committed data is kept)."""
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop")


def start_cluster() -> PgCluster | None:
    """Start a cluster in a fresh temp dir, or None when PostgreSQL is not installed."""
    bindir = _pg_bindir()
    if bindir is None:
        return None
    base = Path(tempfile.mkdtemp(prefix="delete-org-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, PG_USER)
        as_user = ["runuser", "-u", PG_USER, "--"]
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c fsync=off "
        f"-c synchronous_commit=off -c full_page_writes=off "
        f"-c unix_socket_directories={base} -c max_connections=200"
    )
    cluster = PgCluster(bindir, base / "data", port, as_user, options)
    cluster.run(
        str(bindir / "initdb"),
        "-D",
        str(cluster.datadir),
        "-U",
        PG_USER,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-sync",
    )
    cluster.start()
    return cluster


def stop_cluster(cluster: PgCluster) -> None:
    """Stop the server (fast shutdown) and remove its directory."""
    try:
        cluster.stop()
    finally:
        shutil.rmtree(cluster.datadir.parent, ignore_errors=True)


_names = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL cluster per test run (skips the test when PostgreSQL is not installed)."""
    cluster = start_cluster()
    if cluster is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """URL of a fresh, empty database for this test; dropped afterwards."""
    name = f"t{os.getpid()}_{next(_names)}"
    admin = pg_cluster.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template1')
    yield pg_cluster.url(name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
