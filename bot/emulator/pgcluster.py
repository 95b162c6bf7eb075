"""A throwaway local PostgreSQL cluster, for the test suite and the benchmark.

The cluster is made with ``initdb``/``pg_ctl`` from the Debian ``postgresql`` package (binaries in
``/usr/lib/postgresql/<major>/bin``), in a temporary directory, listening on 127.0.0.1 on a free
port, with ``fsync=off`` for speed (its data is thrown away). ``initdb`` refuses to run as root
(CI and these machines run as root), so when root the server runs as the unprivileged
``postgres`` system user via ``runuser``. :meth:`PgCluster.create_database` makes a fresh
database from ``template1`` (a file copy: fast). Never for production data.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

PG_USER = "postgres"
MISSING = (
    "PostgreSQL is not installed (no /usr/lib/postgresql/<major>/bin/initdb):"
    " apt-get install postgresql"
)
"""Why :func:`start_cluster` returned None, for the caller's skip message."""


def pg_bindir() -> Path | None:
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
    """A running throwaway cluster: where its binaries and data are, its port, and the server
    options it was started with (:meth:`start` after :meth:`stop` reuses them: same port,
    same settings)."""

    bindir: Path
    datadir: Path
    port: int
    as_user: list[str]
    options: str = ""

    def url(self, dbname: str) -> str:
        """``postgresql://`` URL for ``dbname`` on this cluster (trust auth, no password)."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{dbname}"

    def run(self, *args: str) -> None:
        """Run one server binary (initdb, pg_ctl) as the unprivileged owner.

        Raises:
            subprocess.CalledProcessError: the binary failed (its output is on the error).
            subprocess.TimeoutExpired: it ran longer than 60 s.
        """
        subprocess.run(  # noqa: S603 - the cluster's own binaries, arguments built here
            [*self.as_user, *args], check=True, capture_output=True, timeout=60
        )

    def start(self) -> None:
        """Start the server with :attr:`options` (waits up to 30 s until it accepts
        connections).

        Raises:
            subprocess.CalledProcessError: ``pg_ctl start`` failed.
        """
        self.run(
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o", self.options,
            "-l", str(self.datadir.parent / "server.log"), "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are cut, committed data is kept).

        Raises:
            subprocess.CalledProcessError: ``pg_ctl stop`` failed.
        """
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        """Create the empty database ``name`` (letters, digits, ``_``) from ``template1``;
        returns its URL.

        Raises:
            ValueError: ``name`` is not a plain identifier.
            psycopg.Error: the server refused (e.g. the name exists).
        """
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template1')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions.

        Raises:
            ValueError: ``name`` is not a plain identifier.
            psycopg.Error: the server refused.
        """
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_cluster(*, max_connections: int = 400) -> PgCluster | None:
    """Start a cluster in a fresh temp dir, or None when PostgreSQL is not installed
    (:data:`MISSING` says so). ``max_connections`` covers two app processes' pools at their
    peak (``storage.pg_backend.POOL_MAX_CONNECTIONS`` each) and the caller's own connections.

    Raises:
        subprocess.CalledProcessError: ``initdb`` or ``pg_ctl start`` failed.
    """
    bindir = pg_bindir()
    if bindir is None:
        return None
    base = Path(tempfile.mkdtemp(prefix="delete-org-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, PG_USER)
        as_user = ["runuser", "-u", PG_USER, "--"]
    cluster = PgCluster(bindir, base / "data", _free_port(), as_user)
    try:
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
        cluster.options = (
            f"-c listen_addresses=127.0.0.1 -c port={cluster.port} -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off "
            f"-c unix_socket_directories={base} -c max_connections={max_connections}"
        )
        cluster.start()
    except (OSError, subprocess.SubprocessError):
        shutil.rmtree(base, ignore_errors=True)
        raise
    return cluster


def stop_cluster(cluster: PgCluster) -> None:
    """Stop the server (fast shutdown) and remove its directory.

    Raises:
        subprocess.CalledProcessError: ``pg_ctl stop`` failed (the directory is removed anyway).
    """
    try:
        cluster.stop()
    finally:
        shutil.rmtree(cluster.datadir.parent, ignore_errors=True)
