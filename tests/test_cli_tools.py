"""Operator commands: rotate-key, check-config (warnings, --online), --version, help, errors."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import SIGNING_SECRET
from cryptography.fernet import Fernet

from bot.cli import build_parser, main
from bot.crypto import TokenCipher
from bot.emulator.slack import FakeSlack
from storage import Store
from tests.backends import raw_rows

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TOKEN = "fake-coveo-token-rotation-0001"
HOOK = "https://hooks.slack.com/commands/T0TEST0001/1/rotate"


def _seed(db: Path | str, key: str) -> None:
    store = Store(db, TokenCipher([key]))
    try:
        for user in ("U0ALICE0001", "U0BOB000001"):
            store.save_link(
                workspace="T0TEST0001",
                user_id=user,
                token=TOKEN,
                region="us",
                coveo_username=f"{user}@example.com",
                coveo_email=None,
                expires_at=None,
                now=NOW,
            )
        store.create_request(
            workspace="T0TEST0001",
            team_id="T0TEST0001",
            requester_id="U0ALICE0001",
            channel_id="C0GENERAL01",
            org_id="examplesandboxus2r9t5w",
            org_name="Sandbox",
            org_type="Sandbox",
            region="us",
            response_url=HOOK,
            now=NOW,
            expires_at=NOW + timedelta(seconds=120),
        )
    finally:
        store.close()


def _environ(db: Path, keys: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test-not-a-real-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DELETE_ORG_DB": str(db),
        "DELETE_ORG_ENCRYPTION_KEY": keys,
    }


def test_rotate_key_re_encrypts_every_secret_and_says_the_old_key_can_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    db = tmp_path / "bot.db"
    _seed(db, old)
    assert main(["rotate-key"], environ=_environ(db, f"{new},{old}")) == 0
    out = capsys.readouterr().out
    assert "linked Coveo tokens: 2 re-encrypted, 0 already with the first key" in out
    assert "Slack response URLs: 1 re-encrypted" in out
    assert "the old key can be removed" in out
    # The new key alone now reads everything.
    store = Store(db, TokenCipher([new]))
    try:
        link = store.get_link("T0TEST0001", "U0ALICE0001")
        assert link is not None and link.token == TOKEN
        request = store.live_request_for_org("examplesandboxus2r9t5w", "us")
        assert request is not None and request.response_url == HOOK
    finally:
        store.close()
    assert TOKEN.encode() not in db.read_bytes()
    # A second run finds nothing to do.
    assert main(["rotate-key"], environ=_environ(db, f"{new},{old}")) == 0
    assert "0 re-encrypted, 2 already with the first key" in capsys.readouterr().out


def test_rotate_key_moves_secrets_off_a_generated_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    db = tmp_path / "bot.db"
    _seed(db, old)
    (tmp_path / "bot.db.key").write_text(old + "\n")
    assert main(["rotate-key"], environ=_environ(db, new)) == 0
    out = capsys.readouterr().out
    assert "2 re-encrypted" in out and f"the key file {tmp_path / 'bot.db.key'}" in out


def test_rotate_key_names_unreadable_secrets_and_never_creates_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lost, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    other = Fernet.generate_key().decode()
    db = tmp_path / "bot.db"
    _seed(db, lost)
    assert main(["rotate-key"], environ=_environ(db, f"{new},{other}")) == 0
    assert "2 unreadable with every key (those users must relink)" in capsys.readouterr().out
    missing = tmp_path / "none.db"
    assert main(["rotate-key"], environ=_environ(missing, new)) == 2
    assert "no database at" in capsys.readouterr().err
    assert not missing.exists()


def test_rotate_key_on_postgresql(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    _seed(pg_url, old)
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-test-not-a-real-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DELETE_ORG_DATABASE_URL": pg_url,
        "DELETE_ORG_ENCRYPTION_KEY": f"{new},{old}",
    }
    assert main(["rotate-key"], environ=environ) == 0
    out = capsys.readouterr().out
    assert (
        "linked Coveo tokens: 2 re-encrypted" in out
        and "Slack response URLs: 1 re-encrypted" in out
    )
    assert "the old key can be removed" in out
    store = Store(pg_url, TokenCipher([new]))
    try:
        link = store.get_link("T0TEST0001", "U0ALICE0001")
        assert link is not None and link.token == TOKEN
    finally:
        store.close()


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("delete-org-bot 0.")


def test_flag_errors_name_the_flag_not_the_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--confirm-timeout", "5"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "argument --confirm-timeout: must be from 10 to 1800 seconds (got 5)" in result.stderr
    assert "DELETE_ORG_CONFIRM_TIMEOUT" not in result.stderr


def test_help_texts_have_defaults_and_no_rst_markup() -> None:
    parser = build_parser()
    texts = [parser.format_help()]
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for sub in subparsers.choices.values():  # type: ignore[union-attr]
        texts.append(sub.format_help())
    assert not [t for t in texts if "`" in t]
    fake = subparsers.choices["fake-coveo"].format_help()  # type: ignore[index]
    assert "(default: 127.0.0.1)" in fake and "(default: 8001)" in fake


def test_one_problem_is_singular(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"], environ={"SLACK_BOT_TOKEN": "xoxb-test-x"}) == 2
    err = capsys.readouterr().err
    assert "(1 problem)" in err and "problem(s)" not in err


def test_check_config_warns_when_the_encryption_key_is_unset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = _environ(tmp_path / "bot.db", "")
    assert main(["check-config"], environ=environ) == 0
    captured = capsys.readouterr()
    assert "warning: DELETE_ORG_ENCRYPTION_KEY is not set" in captured.err
    assert "configuration OK" in captured.out
    assert list(tmp_path.iterdir()) == []  # validating creates nothing
    environ["DELETE_ORG_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    assert main(["check-config"], environ=environ) == 0
    assert "warning" not in capsys.readouterr().err


def test_check_config_online_checks_the_bot_token_with_slack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack:
        environ = _environ(tmp_path / "bot.db", Fernet.generate_key().decode())
        environ["SLACK_API_URL"] = slack.api_url
        assert main(["check-config", "--online"], environ=environ) == 0
        assert "Slack accepts the bot token" in capsys.readouterr().out
        assert slack.calls("auth.test")
        environ["SLACK_BOT_TOKEN"] = "xoxb-test-revoked"
        assert main(["check-config", "--online"], environ=environ) == 1
        err = capsys.readouterr().err
        assert "Slack refused the bot token (invalid_auth)" in err
        assert "xoxb-test-revoked" not in err
    assert main(["check-config"], environ=environ) == 0  # offline: Slack is not asked
    assert list(tmp_path.iterdir()) == []


def test_check_config_online_connects_to_postgresql_and_creates_nothing(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack:
        environ = {
            "SLACK_BOT_TOKEN": "xoxb-test-not-a-real-token",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "DELETE_ORG_DATABASE_URL": pg_url,
            "DELETE_ORG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        }
        assert main(["check-config", "--online"], environ=environ) == 0
        out = capsys.readouterr().out
        assert (
            f"accepts the connection at {pg_url}" in out and f"database: PostgreSQL {pg_url}" in out
        )
        assert raw_rows(pg_url, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'") == [
            (0,)
        ]
        environ["DELETE_ORG_DATABASE_URL"] = "postgresql://bot:pw-77x@127.0.0.1:1/delorg"
        assert main(["check-config", "--online"], environ=environ) == 1
        err = capsys.readouterr().err
        assert "cannot use PostgreSQL at postgresql://bot:***@127.0.0.1:1/delorg" in err
        assert "pw-77x" not in err
