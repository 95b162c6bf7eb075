"""Hostile operator input to the tools and settings, as a new operator would meet it.

A PostgreSQL URL with a hostile password is refused or shown without it, by every way in:
``DELETE_ORG_DATABASE_URL``, ``migrate-db --to``, ``audit --db`` and the backend itself.
libpq's own parse errors quote the URL (``invalid percent-encoded token: "<password>"``) and
read an unencoded ``@`` of the password into the host, which its errors then name. Ctrl-C, a
reader leaving a pipe early and an unwritable ``-o`` file end a tool with one line, never a
traceback."""

from __future__ import annotations

import logging
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import APP_SCRIPT
from cryptography.fernet import Fernet

import bot.cli
from bench.audit_export import append_chained
from bot.cli import main
from bot.config import ConfigError, load_config
from bot.crypto import TokenCipher
from bot.dburl import database_url_problem
from bot.logredact import REDACTING_FILTER, redact_database_url
from storage import Store, StoreUnavailable
from storage.pg_backend import PostgresBackend, probe, single_transaction
from tests.backends import raw_rows

SECRET = "SeCrEt-pw-5150"

# (URL, what the message says): each is refused before any connection, naming no part of it.
HOSTILE = [
    (f"postgresql://bot:{SECRET}%zz@127.0.0.1:1/delorg", "a % must start a percent-encoded"),
    (f"postgresql://bot:{SECRET}%@127.0.0.1:1/delorg", "a % must start a percent-encoded"),
    (f"postgresql://bot:{SECRET}@x@127.0.0.1:1/delorg", "libpq reads an @ of the password"),
    (f"postgresql://bot:{SECRET}/x@127.0.0.1:1/delorg", "percent-encode the reserved"),
    (f"postgresql://bot:{SECRET}#x@127.0.0.1:1/delorg", "percent-encode the reserved"),
    (f"postgresql://bot:{SECRET}?x@127.0.0.1:1/delorg", "percent-encode the reserved"),
    (f"postgresql://bot:{SECRET} x@127.0.0.1:1/delorg", "no spaces or control characters"),
    (f"postgresql://bot:{SECRET}@127.0.0.1:1/delorg?{SECRET}=1", "does not know the ?parameter;"),
]


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test-dburl",
        "SLACK_SIGNING_SECRET": "signing-secret-dburl",
        "DELETE_ORG_DATABASE_URL": url,
        "DELETE_ORG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DELETE_ORG_POLICY": str(tmp_path / "none.toml"),
    }


@pytest.mark.parametrize(("url", "why"), HOSTILE)
def test_the_setting_is_refused_with_advice_and_without_the_password(
    tmp_path: Path, url: str, why: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config({k: v for k, v in _env(tmp_path, url).items() if k != "DELETE_ORG_POLICY"})
    [problem] = info.value.problems
    assert problem.startswith("DELETE_ORG_DATABASE_URL must be a PostgreSQL URL")
    assert why in problem and SECRET not in str(info.value)


@pytest.mark.parametrize(("url", "why"), HOSTILE)
def test_migrate_db_and_audit_refuse_it_too_exit_2_before_connecting(
    tmp_path: Path, url: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bot.db"
    source.write_bytes(b"")
    assert main(["migrate-db", "--from", str(source), "--to", url], {}) == 2
    out, err = capsys.readouterr()
    assert "--to must be a PostgreSQL URL" in err and why in err
    assert "copying" not in out and SECRET not in out + err
    assert main(["audit", "verify", "--db", url], {}) == 2
    out, err = capsys.readouterr()
    assert why in err and SECRET not in out + err


@pytest.mark.parametrize(("url", "why"), HOSTILE)
def test_every_backend_entry_refuses_it_without_the_password(url: str, why: str) -> None:
    """The backend checks again: no caller can hand libpq a URL whose errors quote it."""
    for attempt in (
        lambda: PostgresBackend(url),
        lambda: probe(url),
        lambda: single_transaction(url).__enter__(),
    ):
        with pytest.raises(StoreUnavailable) as info:
            attempt()
        assert why in str(info.value) and SECRET not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bot:p%40ss%3Aw%2Fo%25r%23d%3F%20x@db.example.com:5432/delorg",
        "postgres://bot:pa:ss@db.example.com/delorg?sslmode=require",
        "postgresql://db.example.com/delorg?user=bot&password=x",
        "postgresql://[::1]:5432/delorg",
    ],
)
def test_valid_libpq_urls_are_accepted(url: str) -> None:
    assert database_url_problem(url) is None


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            f"postgresql://127.0.0.1:5432/delorg?user=bot&password={SECRET}",
            "postgresql://127.0.0.1:5432/delorg?user=bot&password=***",
        ),
        (
            f"at postgres://bot@db/delorg?password={SECRET}&sslmode=require: refused",
            "at postgres://bot@db/delorg?password=***&sslmode=require: refused",
        ),
        (f"postgresql://bot:{SECRET}@x@db:5432/delorg", "postgresql://bot:***@db:5432/delorg"),
        (f"postgresql://bot:{SECRET}@db/d, again", "postgresql://bot:***@db/d, again"),
    ],
)
def test_passwords_in_the_query_or_with_a_stray_at_are_redacted(text: str, shown: str) -> None:
    assert redact_database_url(text) == shown
    record = logging.LogRecord("storage", logging.ERROR, __file__, 1, "%s", (text,), None)
    REDACTING_FILTER.filter(record)
    assert record.getMessage() == shown


def test_check_config_shows_a_query_password_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://db.example.com/delorg?user=bot&password={SECRET}"
    environ = {k: v for k, v in _env(tmp_path, url).items() if k != "DELETE_ORG_POLICY"}
    assert main(["check-config"], environ) == 0
    out, err = capsys.readouterr()
    assert "postgresql://db.example.com/delorg?user=bot&password=***" in out
    assert SECRET not in out + err


def test_ctrl_c_in_a_tool_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(bot.cli, "run_audit", interrupted)
    assert main(["audit", "verify"], {}) == 130
    out, err = capsys.readouterr()
    assert err.strip() == "delete-org-bot audit: interrupted (Ctrl-C)" and out == ""


def test_a_reader_leaving_early_ends_the_export_quietly(tmp_path: Path) -> None:
    """`delete-org-bot audit export | head -1`: the pipe closes while rows are being written."""
    path = tmp_path / "bot.db"
    Store(path, TokenCipher([Fernet.generate_key().decode()])).close()
    append_chained(path, 3000, datetime(2026, 12, 1, tzinfo=UTC))
    proc = subprocess.Popen(
        [str(APP_SCRIPT), "audit", "export", "--db", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader is gone
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err


@pytest.mark.parametrize("where", ["missing/dir/audit.csv", "."])
def test_an_unwritable_export_file_is_one_line_exit_2(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bot.db"
    Store(path, TokenCipher([Fernet.generate_key().decode()])).close()
    target = tmp_path / where
    argv = ["audit", "export", "--db", str(path), "--format", "csv", "-o", str(target)]
    assert main(argv, {}) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"delete-org-bot audit: cannot write {target}: ") and out == ""
    assert not (tmp_path / "missing").exists()


def test_rotate_key_on_a_database_that_was_never_the_apps_creates_nothing(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {k: v for k, v in _env(Path(), pg_url).items() if k != "DELETE_ORG_POLICY"}
    environ["DELETE_ORG_ENCRYPTION_KEY"] += "," + Fernet.generate_key().decode()
    assert main(["rotate-key"], environ) == 2
    out, err = capsys.readouterr()
    assert "holds no delete-org-bot schema; nothing to rotate" in err and out == ""
    assert raw_rows(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == []


def test_audit_on_a_database_without_the_schema_says_so_without_the_sql(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--db", pg_url], {}) == 2
    err = capsys.readouterr().err
    assert 'has no audit chain (relation "audit_chain" does not exist);' in err
    assert "LINE 1" not in err and "SELECT" not in err
