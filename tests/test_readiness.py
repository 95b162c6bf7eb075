"""GET /readyz: 200 only with a reachable, fully migrated database and Slack's auth.test
passed at start; 503 naming the failed check otherwise. /healthz stays liveness only."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import SIGNING_SECRET, launch_app_process, process_env
from cryptography.fernet import Fernet
from sqlite_utils import Database

from bot.app import create_app
from bot.config import load_config
from bot.emulator.coveo import FakeCoveo
from bot.emulator.slack import FakeSlack
from bot.readiness import READY_PATH, Readiness, evaluate
from bot.server import ServerThread, make_http_server
from storage import SchemaStatus, Store, StoreUnavailable
from storage.migrations import migrations

LAST_STEP = migrations.pending(Database(memory=True))[-1].name
"""The newest schema step the code knows (whatever it is called)."""


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
