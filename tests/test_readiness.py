"""GET /readyz: 200 only with a reachable, fully migrated database and Slack's auth.test
passed at start; 503 naming the failed check otherwise. /healthz stays liveness only. The
database check on a SQLite file and on PostgreSQL (the run's throwaway cluster)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from conftest import SIGNING_SECRET, launch_app_process, process_env
from cryptography.fernet import Fernet
from sqlite_utils import Database

from bot.app import create_app
from bot.config import load_config
from bot.crypto import TokenCipher
from bot.emulator.coveo import FakeCoveo
from bot.emulator.slack import FakeSlack
from bot.readiness import READY_PATH, Readiness, evaluate
from bot.server import ServerThread, make_http_server
from storage import SchemaStatus, Store, StoreUnavailable
from storage.health import PROBE_TIMEOUT_SECONDS
from storage.migrations import migrations
from storage.pg_migrations import STEPS
from tests.backends import raw_write
from tests.pg import PgCluster

LAST_STEP = migrations.pending(Database(memory=True))[-1].name
"""The newest schema step the code knows (whatever it is called)."""
PG_STEPS = [name for name, _ in STEPS]
"""The PostgreSQL twins of the steps, in order."""
PASSWORD = "pw-s3cret-9f2c"
"""Put in PostgreSQL URLs (the test cluster trusts every login and ignores it): it must never
show in a message."""


def _old_schema_db(path: Path) -> None:
    """A database made by an older version: every step but the last applied."""
    db = Database(path)
    migrations.apply(db, stop_before=LAST_STEP)
    db.close()


def _remove_db(path: Path) -> None:
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        (path.parent / name).unlink(missing_ok=True)


def test_schema_status_of_a_migrated_database_is_current(store: Store) -> None:
    status = store.schema_status()
    assert status.current and status.pending == ()
    assert status.applied[0] == "m001_initial" and status.applied[-1] == LAST_STEP


def test_schema_status_names_the_steps_an_old_database_lacks(store: Store) -> None:
    old = store.path.with_name("old.db")
    _old_schema_db(old)
    os.replace(old, store.path)  # e.g. an older backup restored under the running app
    status = store.schema_status()
    assert not status.current and status.pending == (LAST_STEP,)


def test_schema_status_of_a_removed_file_raises_and_never_recreates_it(store: Store) -> None:
    _remove_db(store.path)
    with pytest.raises(StoreUnavailable) as caught:
        store.schema_status()
    assert str(store.path) not in str(caught.value)
    assert not store.path.exists()


def test_schema_status_of_a_locked_database_raises_within_the_timeout(store: Store) -> None:
    holder = sqlite3.connect(store.path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable, match="locked"):
            store.schema_status(timeout=0.1)
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert store.schema_status().current


def test_schema_status_of_a_file_that_is_not_sqlite_raises(store: Store) -> None:
    _remove_db(store.path)
    store.path.write_bytes(b"not a database, just some text" * 100)
    with pytest.raises(StoreUnavailable):
        store.schema_status()


def _with_password(url: str, port: int | None = None) -> str:
    """``url`` with :data:`PASSWORD` as its password (and another ``port`` if given)."""
    parts = urlsplit(url)
    host = f"{parts.username}:{PASSWORD}@{parts.hostname}:{port or parts.port}"
    return urlunsplit(parts._replace(netloc=host))


def test_pg_schema_status_of_a_migrated_database_is_current(
    pg_url: str, cipher: TokenCipher
) -> None:
    store = Store(pg_url, cipher)
    try:
        status = store.schema_status()
    finally:
        store.close()
    assert status.current and status.pending == ()
    assert list(status.applied) == PG_STEPS


@pytest.mark.parametrize("missing", [1, 2])
def test_pg_schema_status_names_the_steps_a_database_lacks(
    pg_url: str, cipher: TokenCipher, missing: int
) -> None:
    """The last step(s) unrecorded, as in a database an older version migrated: named as
    pending, in order."""
    store = Store(pg_url, cipher)
    try:
        for name in PG_STEPS[-missing:]:
            raw_write(pg_url, "DELETE FROM _migrations WHERE name = ?", (name,))
        status = store.schema_status()
    finally:
        store.close()
    assert not status.current
    assert status.pending == tuple(PG_STEPS[-missing:])
    assert status.applied == tuple(PG_STEPS[:-missing])


class _Relay:
    """A TCP relay on 127.0.0.1 to the test cluster, so a test can take "the server" away
    without touching the cluster: ``pause()`` stops answering new connections (the kernel
    still completes their handshake: a server that hangs), ``close()`` closes the port
    (connection refused). Connections relayed before keep working."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = int(self._listener.getsockname()[1])
        self._accepting = True
        self._stopped = threading.Event()
        self._paused = threading.Event()
        self._sockets: list[socket.socket] = [self._listener]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            if not self._accepting:
                self._paused.set()
                time.sleep(0.05)
                continue
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass  # the other side or the relay closed: the relayed connection ends
        finally:
            for end in (source, sink):
                end.close()

    def pause(self) -> None:
        """Stop accepting; returns once the relay has stopped (no accept in progress)."""
        self._accepting = False
        assert self._paused.wait(5)

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._listener.close()

    def close_all(self) -> None:
        self.close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def relayed_store(pg_cluster: PgCluster, pg_url: str, cipher: TokenCipher) -> Iterator[Any]:
    """A store on ``pg_url`` reached through a :class:`_Relay`, its URL with a password."""
    relay = _Relay(pg_cluster.port)
    store = Store(_with_password(pg_url, relay.port), cipher)
    try:
        assert store.schema_status().current
        yield store, relay
    finally:
        store.close()
        relay.close_all()


def test_pg_schema_status_of_a_closed_port_raises_without_the_password(
    relayed_store: Any,
) -> None:
    store, relay = relayed_store
    relay.close()
    with pytest.raises(StoreUnavailable, match="is unreachable") as caught:
        store.schema_status()
    message = str(caught.value)
    assert PASSWORD not in message and "127.0.0.1" in message


def test_pg_schema_status_of_a_server_that_does_not_answer_raises_after_the_timeout(
    relayed_store: Any,
) -> None:
    """The port takes the connection but nothing answers (a hung server, a black-holing
    firewall): the probe gives up after its connect timeout (libpq's default waits forever,
    psycopg's 130 s) instead of hanging the load balancer's probe."""
    store, relay = relayed_store
    relay.pause()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="is unreachable") as caught:
        store.schema_status()
    assert time.monotonic() - started < PROBE_TIMEOUT_SECONDS + 10  # not the 130 s default
    assert PASSWORD not in str(caught.value)


def test_pg_schema_status_of_a_locked_migrations_table_raises_after_the_timeout(
    pg_url: str, cipher: TokenCipher
) -> None:
    """Another session holds ``_migrations`` (e.g. a migration in progress): the probe's
    statement timeout ends its wait with StoreUnavailable; the table free again → current."""
    store = Store(pg_url, cipher)
    try:
        with psycopg.connect(pg_url) as holder:
            holder.execute("LOCK TABLE _migrations IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(StoreUnavailable, match="statement timeout"):
                store.schema_status()
            holder.rollback()
        assert store.schema_status().current
    finally:
        store.close()


class _Status:
    def __init__(self, status: SchemaStatus | Exception) -> None:
        self.status = status

    def schema_status(self) -> SchemaStatus:
        if isinstance(self.status, Exception):
            raise self.status
        return self.status


@pytest.mark.parametrize(
    ("status", "slack", "failed", "checks"),
    [
        (SchemaStatus(("a", "b"), ()), True, [], {}),
        (SchemaStatus(("a",), ("b", "c")), True, ["migrations"], {"migrations": "2 pending"}),
        (
            StoreUnavailable("disk I/O error"),
            True,
            ["database", "migrations"],
            {"database": "unavailable", "migrations": "unknown"},
        ),
        (SchemaStatus(("a",), ()), False, ["slack_auth"], {"slack_auth": "failed at start"}),
    ],
)
def test_evaluate_names_each_failed_check(
    status: SchemaStatus | Exception, slack: bool, failed: list[str], checks: dict[str, str]
) -> None:
    report = evaluate(_Status(status), slack_auth_passed=slack)
    assert report.failed == failed
    expected = {"database": "ok", "migrations": "ok", "slack_auth": "ok", **checks}
    assert report.checks == expected
    assert report.body()["status"] == ("not ready" if failed else "ready")


def test_a_change_of_the_answer_is_logged_once_with_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    probe = _Status(StoreUnavailable("database is locked"))
    readiness = Readiness(probe, slack_auth_passed=True)
    with caplog.at_level(logging.INFO, logger="bot.readiness"):
        for _ in range(3):
            readiness.check()
        probe.status = SchemaStatus(("a",), ())
        readiness.check()
        readiness.check()
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "not ready: database unavailable, migrations unknown (database is locked)",
        "ready",
    ]


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeCoveo]]:
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack, FakeCoveo() as coveo:
        yield slack, coveo


def _ready(base: str) -> tuple[int, dict[str, object]]:
    response = httpx.get(base + READY_PATH)
    assert response.headers["content-type"] == "application/json"
    return response.status_code, json.loads(response.text)


def test_real_process_readyz_follows_the_database(
    fakes: tuple[FakeSlack, FakeCoveo], tmp_path: Path
) -> None:
    """The real app process (HTTP mode): ready; the database file removed → 503 database;
    an older schema put in its place → 503 migrations; /healthz answers ok throughout."""
    slack, coveo = fakes
    env = process_env(slack, coveo, tmp_path)
    db_path = Path(env["DELETE_ORG_DB"])
    proc, port = launch_app_process(env)
    base = f"http://127.0.0.1:{port}"
    try:
        assert _ready(base) == (
            200,
            {
                "status": "ready",
                "checks": {"database": "ok", "migrations": "ok", "slack_auth": "ok"},
            },
        )
        _remove_db(db_path)
        status, body = _ready(base)
        assert (status, body["failed"]) == (503, ["database", "migrations"])
        assert httpx.get(base + "/healthz").text == "ok"
        _old_schema_db(db_path)
        status, body = _ready(base)
        assert (status, body["failed"]) == (503, ["migrations"])
        assert body["checks"] == {"database": "ok", "migrations": "1 pending", "slack_auth": "ok"}
        raw = httpx.get(base + READY_PATH).text
        assert str(tmp_path) not in raw and env["SLACK_BOT_TOKEN"] not in raw
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert "not ready: database unavailable" in err


def test_real_process_readyz_follows_the_postgresql_database(
    fakes: tuple[FakeSlack, FakeCoveo], tmp_path: Path, pg_cluster: PgCluster, pg_url: str
) -> None:
    """The real app process on PostgreSQL (its own database on the test cluster, a URL with a
    password): ready; a step unrecorded → 503 migrations; the database dropped under it →
    503 database; /healthz ok throughout; the password in no answer and no log line; SIGTERM
    then stops it cleanly (the database's absence logged, no traceback)."""
    slack, coveo = fakes
    url = _with_password(pg_url)
    env = process_env(slack, coveo, tmp_path, DELETE_ORG_DB="", DELETE_ORG_DATABASE_URL=url)
    proc, port = launch_app_process(env)
    base = f"http://127.0.0.1:{port}"
    try:
        assert _ready(base) == (
            200,
            {
                "status": "ready",
                "checks": {"database": "ok", "migrations": "ok", "slack_auth": "ok"},
            },
        )
        raw_write(pg_url, "DELETE FROM _migrations WHERE name = ?", (PG_STEPS[-1],))
        status, body = _ready(base)
        assert (status, body["failed"]) == (503, ["migrations"])
        assert body["checks"] == {"database": "ok", "migrations": "1 pending", "slack_auth": "ok"}
        name = urlsplit(pg_url).path.lstrip("/")
        with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        status, body = _ready(base)
        assert (status, body["failed"]) == (503, ["database", "migrations"])
        assert httpx.get(base + "/healthz").text == "ok"
        assert PASSWORD not in httpx.get(base + READY_PATH).text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)  # the stop waits for the database once (15 s)
    assert "not ready: migrations" in err and "not ready: database unavailable" in err
    assert "shutdown: the database is unreachable" in err and "Traceback" not in err
    assert proc.returncode == 0
    assert PASSWORD not in err
    assert "; database postgresql://postgres:***@127.0.0.1:" in err  # the ready line


def test_socket_mode_server_serves_readyz(
    fakes: tuple[FakeSlack, FakeCoveo], tmp_path: Path
) -> None:
    """In Socket Mode the HTTP server has no /slack/events but still answers /readyz."""
    slack, coveo = fakes
    config = load_config(
        {
            "SLACK_BOT_TOKEN": "xoxb-test-not-a-real-token",
            "SLACK_APP_TOKEN": "xapp-test-not-a-real-token",
            "SLACK_API_URL": slack.api_url,
            "COVEO_PLATFORM_URL": coveo.url,
            "DELETE_ORG_DB": str(tmp_path / "socket.db"),
            "DELETE_ORG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        }
    )
    runtime = create_app(config)
    server = ServerThread(make_http_server(None, "127.0.0.1", 0, runtime.routes)).start()
    try:
        assert runtime.slack_auth["ok"] is True
        base = f"http://127.0.0.1:{server.port}"
        assert _ready(base)[0] == 200
        assert httpx.post(base + "/slack/events").status_code == 404
    finally:
        server.stop()
        runtime.close()
