"""Start-up checks: Slack unreachable or refusing the token, port taken, PostgreSQL unreachable
or newer than the code; nothing created. And the graceful stop with PostgreSQL gone."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import psycopg
import pytest
from conftest import SIGNING_SECRET
from cryptography.fernet import Fernet

from bot.app import create_app
from bot.cli import main
from bot.config import load_config
from bot.crypto import TokenCipher
from bot.emulator.slack import FakeSlack
from storage import open_store, pg_backend
from tests.pg import PgCluster


def _environ(tmp_path: Path, api_url: str, **extra: str) -> dict[str, str]:
    # No DELETE_ORG_ENCRYPTION_KEY: a start would generate the key file beside the database.
    return {
        "SLACK_BOT_TOKEN": "xoxb-test-not-a-real-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "DELETE_ORG_DB": str(tmp_path / "bot.db"),
        "HOST": "127.0.0.1",
        "PORT": str(_closed_port()),
        **extra,
    }


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_slack_unreachable_names_slack_the_url_and_what_to_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api/"
    assert main([], environ=_environ(tmp_path, url)) == 1
    err = capsys.readouterr().err
    assert f"cannot start: cannot reach Slack at {url}auth.test: Connection refused" in err
    assert "check the network and DNS, the outbound proxy (HTTPS_PROXY)" in err
    problem = next(line for line in err.splitlines() if "cannot start" in line)
    assert "urlopen error" not in problem and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no database, no key file


def test_a_refused_bot_token_is_named_and_nothing_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack:
        environ = _environ(tmp_path, slack.api_url, SLACK_BOT_TOKEN="xoxb-test-wrong-token")
        assert main([], environ=environ) == 1
    err = capsys.readouterr().err
    assert "Slack refused the bot token (invalid_auth)" in err and "check SLACK_BOT_TOKEN" in err
    assert "xoxb-test-wrong-token" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_taken_port_is_reported_before_anything_is_created_or_drained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main([], environ=_environ(tmp_path, slack.api_url, PORT=port)) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "another process" in err
    assert "finishing in-flight work" not in caplog.text + err
    assert list(tmp_path.iterdir()) == []


def test_postgresql_unreachable_is_a_clear_start_up_error_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    url = f"postgresql://bot:pw-not-real-9f3e@127.0.0.1:{port}/delorg"
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack:
        environ = _environ(tmp_path, slack.api_url, DELETE_ORG_DATABASE_URL=url)
        del environ["DELETE_ORG_DB"]
        environ["DELETE_ORG_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
        assert main([], environ=environ) == 1
    err = capsys.readouterr().err
    problem = next(line for line in err.splitlines() if "cannot start" in line)
    assert f"cannot use PostgreSQL at postgresql://bot:***@127.0.0.1:{port}/delorg" in problem
    assert "Connection refused" in problem and "check DELETE_ORG_DATABASE_URL" in problem
    assert "pw-not-real-9f3e" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_postgresql_migrated_by_a_newer_version_is_refused_at_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pg_url: str
) -> None:
    cipher = TokenCipher([Fernet.generate_key().decode()])
    open_store(pg_url, cipher).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "INSERT INTO _migrations (migration_set, name, applied_at)"
            " VALUES ('delete_org_bot', 'm999_from_the_future', '2030-01-01T00:00:00+00:00')"
        )
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack:
        environ = _environ(tmp_path, slack.api_url, DELETE_ORG_DATABASE_URL=pg_url)
        del environ["DELETE_ORG_DB"]
        environ["DELETE_ORG_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
        assert main([], environ=environ) == 1
    err = capsys.readouterr().err
    assert "was migrated by a newer version of delete-org-bot" in err
    assert "m999_from_the_future" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("option", "code", "said"),
    [
        # libpq cannot parse it: refused with the configuration, before anything starts.
        ("?sslmod=x", 2, 'libpq does not know the ?parameter "sslmod"'),
        # libpq parses it, then refuses the value when connecting: a start-up error.
        ("?sslmode=bogus", 1, "cannot use PostgreSQL at"),
    ],
)
def test_a_bad_database_url_option_is_a_clear_start_up_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    pg_url: str,
    option: str,
    code: int,
    said: str,
) -> None:
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack:
        environ = _environ(tmp_path, slack.api_url, DELETE_ORG_DATABASE_URL=pg_url + option)
        del environ["DELETE_ORG_DB"]
        environ["DELETE_ORG_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
        assert main([], environ=environ) == code
    err = capsys.readouterr().err
    problem = next(line for line in err.splitlines() if said in line)
    assert option[1:7] in problem
    assert "Traceback" not in err


def test_a_graceful_stop_with_postgresql_gone_logs_it_and_closes_everything(
    tmp_path: Path,
    pg_cluster: PgCluster,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SIGTERM while the database is unreachable: the outbox flush and the "stopped" mark
    cannot be written; that is logged with what it means (another replica settles this one's
    work after its heartbeat window), not raised as a traceback, the store waits for the
    database once (not once per step: a deploy's grace period is short), and the HTTP client
    and the store are still closed."""
    monkeypatch.setattr(pg_backend, "POOL_WAIT_SECONDS", 1.0)  # fail fast while it is gone
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack:
        environ = _environ(
            tmp_path,
            slack.api_url,
            DELETE_ORG_DB="",
            DELETE_ORG_DATABASE_URL=pg_url,
            DELETE_ORG_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        )
        runtime = create_app(load_config(environ))
        runtime.start(upkeep=False)
        waits: list[object] = []
        store = runtime.deps.store
        real_write = store._write

        def counted_write() -> object:
            waits.append(None)
            return real_write()

        monkeypatch.setattr(store, "_write", counted_write)
        name = pg_url.rsplit("/", 1)[1]
        with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        with caplog.at_level(logging.WARNING, logger="bot.app"):
            runtime.close()
    assert "shutdown: the database is unreachable" in caplog.text
    assert "heartbeat" in caplog.text
    assert len(waits) <= 1  # the outbox claim; no second wait for the "stopped" mark
    assert store._backend.pool.closed  # type: ignore[attr-defined]
    assert runtime.http.is_closed
