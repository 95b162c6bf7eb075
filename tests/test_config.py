"""Unit tests of ``bot.config``: validation, secrecy of messages, and the .env merge."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.config import (
    DEFAULT_CONFIRM_TIMEOUT,
    DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_PORT,
    DEFAULT_SWEEP_INTERVAL,
    Config,
    ConfigError,
    is_fernet_key,
    load_config,
    read_environment,
)

BOT_TOKEN = "xoxb-test-SECRETBOT-1111"
SIGNING = "SIGNSECRET-2222-bbbb"
APP_TOKEN = "xapp-SECRETAPP-3333-cccc"
KEY_NEW = Fernet.generate_key().decode()
KEY_OLD = Fernet.generate_key().decode()


def _env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING,
        "DELETE_ORG_DB": str(tmp_path / "bot.db"),
        "DELETE_ORG_ENCRYPTION_KEY": KEY_NEW,
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value != "<unset>"}


def _problems(environ: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(environ)
    return info.value


def test_full_valid_environment(tmp_path: Path) -> None:
    config = load_config(
        _env(
            tmp_path,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL="http://127.0.0.1:9001/api",
            COVEO_PLATFORM_URL="http://127.0.0.1:9002/",
            DELETE_ORG_CONFIRM_TIMEOUT="300",
            DELETE_ORG_SWEEP_INTERVAL="7",
            DELETE_ORG_ENCRYPTION_KEY=f"{KEY_NEW},{KEY_OLD}",
            PORT="8080",
            HOST="127.0.0.1",
            LOG_LEVEL="debug",
        )
    )
    assert config.slack_bot_token == BOT_TOKEN
    assert config.slack_signing_secret == SIGNING
    assert config.slack_app_token == APP_TOKEN
    assert config.socket_mode is True
    assert config.slack_api_url == "http://127.0.0.1:9001/api/"
    assert config.coveo_platform_url == "http://127.0.0.1:9002"
    assert config.db_path == tmp_path / "bot.db"
    assert config.key_file == tmp_path / "bot.db.key"
    assert config.confirm_timeout == 300
    assert config.sweep_interval == 7
    assert config.encryption_keys == (KEY_NEW, KEY_OLD)
    assert config.port == 8080
    assert config.host == "127.0.0.1"
    assert config.log_level == "DEBUG"


def test_defaults_in_http_mode(tmp_path: Path) -> None:
    config = load_config(_env(tmp_path, DELETE_ORG_ENCRYPTION_KEY="<unset>"))
    assert config.socket_mode is False
    assert config.slack_app_token is None
    assert config.slack_api_url is None
    assert config.coveo_platform_url is None
    assert config.confirm_timeout == DEFAULT_CONFIRM_TIMEOUT
    assert config.sweep_interval == DEFAULT_SWEEP_INTERVAL
    assert config.port == DEFAULT_PORT
    assert config.encryption_keys == ()
    assert config.log_level == "INFO"


def test_blank_values_count_as_unset(tmp_path: Path) -> None:
    config = load_config(
        _env(tmp_path, SLACK_APP_TOKEN="   ", DELETE_ORG_CONFIRM_TIMEOUT=" ", LOG_LEVEL="")
    )
    assert config.socket_mode is False
    assert config.confirm_timeout == DEFAULT_CONFIRM_TIMEOUT


def test_empty_environment_reports_both_required_variables() -> None:
    error = _problems({})
    text = "\n".join(error.problems)
    assert "SLACK_BOT_TOKEN" in text
    assert "SLACK_SIGNING_SECRET" in text
    assert len(error.problems) == 2
    assert "2 problem" in str(error)


def test_every_invalid_variable_is_reported_together(tmp_path: Path) -> None:
    error = _problems(
        {
            "SLACK_BOT_TOKEN": "xoxp-test-user",
            "SLACK_APP_TOKEN": "xoxa-not-app",
            "SLACK_API_URL": "ftp://example.com/",
            "COVEO_PLATFORM_URL": "not a url",
            "DELETE_ORG_DB": str(tmp_path),
            "DELETE_ORG_CONFIRM_TIMEOUT": "abc",
            "DELETE_ORG_SWEEP_INTERVAL": "0",
            "PORT": "70000",
            "DELETE_ORG_ENCRYPTION_KEY": "not-a-key",
            "LOG_LEVEL": "LOUD",
        }
    )
    names = [
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_API_URL",
        "COVEO_PLATFORM_URL",
        "DELETE_ORG_DB",
        "DELETE_ORG_CONFIRM_TIMEOUT",
        "DELETE_ORG_SWEEP_INTERVAL",
        "PORT",
        "DELETE_ORG_ENCRYPTION_KEY",
        "LOG_LEVEL",
    ]
    assert len(error.problems) == len(names)
    for name in names:
        assert sum(problem.startswith(name) for problem in error.problems) == 1, name
        assert name in str(error)


def test_missing_signing_secret_in_http_mode_is_reported(tmp_path: Path) -> None:
    error = _problems(_env(tmp_path, SLACK_SIGNING_SECRET="<unset>"))
    assert error.problems == [
        "SLACK_SIGNING_SECRET is required in HTTP mode (set SLACK_APP_TOKEN for Socket Mode)"
    ]


def test_signing_secret_optional_in_socket_mode(tmp_path: Path) -> None:
    config = load_config(_env(tmp_path, SLACK_SIGNING_SECRET="<unset>", SLACK_APP_TOKEN=APP_TOKEN))
    assert config.socket_mode is True
    assert config.slack_signing_secret is None


def test_invalid_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    leaked_bot = "xoxp-test-LEAKBOT-9999"
    leaked_app = "xoxa-test-LEAKAPP-8888"
    leaked_key = "LEAKKEY-7777-not-a-fernet-key"
    error = _problems(
        _env(
            tmp_path,
            SLACK_BOT_TOKEN=leaked_bot,
            SLACK_APP_TOKEN=leaked_app,
            SLACK_SIGNING_SECRET=SIGNING,
            DELETE_ORG_ENCRYPTION_KEY=f"{KEY_NEW},{leaked_key}",
            DELETE_ORG_CONFIRM_TIMEOUT="5",
        )
    )
    rendered = [str(error), repr(error), *error.problems, *map(str, error.args)]
    for secret in (leaked_bot, leaked_app, leaked_key, KEY_NEW, SIGNING, "LEAK"):
        for text in rendered:
            assert secret not in text
    assert len(error.problems) == 4


def test_repr_of_config_hides_every_secret(tmp_path: Path) -> None:
    config = load_config(
        _env(
            tmp_path,
            SLACK_APP_TOKEN=APP_TOKEN,
            DELETE_ORG_ENCRYPTION_KEY=f"{KEY_NEW},{KEY_OLD}",
        )
    )
    for text in (repr(config), str(config)):
        for secret in (BOT_TOKEN, SIGNING, APP_TOKEN, KEY_NEW, KEY_OLD, "SECRET"):
            assert secret not in text
    assert "bot.db" in repr(config)


@pytest.mark.parametrize("token", ["xoxp-123", "xoxb-has space", "xoxb-tab\there", "xoxb-é"])
def test_bot_token_must_be_a_bot_token(tmp_path: Path, token: str) -> None:
    error = _problems(_env(tmp_path, SLACK_BOT_TOKEN=token))
    assert len(error.problems) == 1
    assert error.problems[0].startswith("SLACK_BOT_TOKEN must be a bot token: xoxb-")
    assert token not in error.problems[0]


def test_placeholder_bot_token_is_refused(tmp_path: Path) -> None:
    error = _problems(_env(tmp_path, SLACK_BOT_TOKEN="xoxb-CHANGEME"))
    assert error.problems == ["SLACK_BOT_TOKEN still holds the .env.example placeholder"]


def test_database_directory_must_exist(tmp_path: Path) -> None:
    error = _problems(_env(tmp_path, DELETE_ORG_DB=str(tmp_path / "missing" / "x.db")))
    assert len(error.problems) == 1 and "does not exist" in error.problems[0]


def test_port_error_speaks_of_a_port(tmp_path: Path) -> None:
    error = _problems(_env(tmp_path, PORT="http"))
    assert error.problems == ["PORT must be a port number from 0 to 65535"]


def test_port_zero_picks_a_free_port(tmp_path: Path) -> None:
    assert load_config(_env(tmp_path, PORT="0")).port == 0


def test_app_token_must_be_an_app_token(tmp_path: Path) -> None:
    error = _problems(_env(tmp_path, SLACK_APP_TOKEN="xoxb-test-looks-like-bot"))
    assert len(error.problems) == 1
    assert "SLACK_APP_TOKEN" in error.problems[0]


@pytest.mark.parametrize("value", ["10", "1800", " 600 ", "120"])
def test_confirm_timeout_accepted_bounds(tmp_path: Path, value: str) -> None:
    config = load_config(_env(tmp_path, DELETE_ORG_CONFIRM_TIMEOUT=value))
    assert config.confirm_timeout == int(value)


@pytest.mark.parametrize("value", ["9", "1801", "abc", "0", "-10", "12.5", "1e3", "10s"])
def test_confirm_timeout_rejected(tmp_path: Path, value: str) -> None:
    error = _problems(_env(tmp_path, DELETE_ORG_CONFIRM_TIMEOUT=value))
    assert len(error.problems) == 1
    assert error.problems[0].startswith("DELETE_ORG_CONFIRM_TIMEOUT")
    assert "10" in error.problems[0]
    assert "1800" in error.problems[0]


@pytest.mark.parametrize(("value", "ok"), [("1", True), ("25", True), ("0", False), ("26", False)])
def test_sweep_interval_bounds(tmp_path: Path, value: str, ok: bool) -> None:
    environ = _env(tmp_path, DELETE_ORG_SWEEP_INTERVAL=value)
    if ok:
        assert load_config(environ).sweep_interval == int(value)
    else:
        assert _problems(environ).problems[0].startswith("DELETE_ORG_SWEEP_INTERVAL")


@pytest.mark.parametrize(
    ("sweep", "value", "ok"),
    [("5", "", True), ("1", "3", True), ("5", "15", True), ("5", "14", False), ("1", "2", False),
     ("1", "3601", False), ("1", "2m", False)],
)  # fmt: skip
def test_heartbeat_timeout_is_bounded_and_spans_three_sweeps(
    tmp_path: Path, sweep: str, value: str, ok: bool
) -> None:
    environ = _env(tmp_path, DELETE_ORG_SWEEP_INTERVAL=sweep, DELETE_ORG_HEARTBEAT_TIMEOUT=value)
    if ok:
        assert load_config(environ).heartbeat_timeout == int(value or DEFAULT_HEARTBEAT_TIMEOUT)
    else:
        (problem,) = _problems(environ).problems
        assert problem.startswith("DELETE_ORG_HEARTBEAT_TIMEOUT"), problem


def test_encryption_keys_are_split_trimmed_and_ordered(tmp_path: Path) -> None:
    config = load_config(_env(tmp_path, DELETE_ORG_ENCRYPTION_KEY=f" {KEY_NEW} ,, {KEY_OLD} ,"))
    assert config.encryption_keys == (KEY_NEW, KEY_OLD)


def test_one_bad_key_among_several_is_reported_by_position(tmp_path: Path) -> None:
    error = _problems(
        _env(tmp_path, DELETE_ORG_ENCRYPTION_KEY=f"{KEY_NEW},{KEY_NEW[:-2]},{KEY_OLD}")
    )
    assert len(error.problems) == 1
    problem = error.problems[0]
    assert problem.startswith("DELETE_ORG_ENCRYPTION_KEY")
    assert "number 2 " in problem
    assert KEY_NEW[:-2] not in problem


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        (Fernet.generate_key().decode(), True),
        ("", False),
        ("short", False),
        ("A" * 44, False),
        ("x" * 42 + "==", False),
        (Fernet.generate_key().decode()[:-1] + "\u00e9", False),
        ("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=", True),
    ],
)
def test_is_fernet_key(key: str, valid: bool) -> None:
    assert is_fernet_key(key) is valid


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://slack.example.com/api", "https://slack.example.com/api/"),
        ("https://slack.example.com/api/", "https://slack.example.com/api/"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/"),
    ],
)
def test_slack_api_url_gets_a_trailing_slash(tmp_path: Path, raw: str, expected: str) -> None:
    assert load_config(_env(tmp_path, SLACK_API_URL=raw)).slack_api_url == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://coveo.example.com/", "https://coveo.example.com"),
        ("https://coveo.example.com///", "https://coveo.example.com"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
    ],
)
def test_coveo_platform_url_loses_its_trailing_slash(
    tmp_path: Path, raw: str, expected: str
) -> None:
    assert load_config(_env(tmp_path, COVEO_PLATFORM_URL=raw)).coveo_platform_url == expected


@pytest.mark.parametrize("raw", ["example.com", "ftp://example.com", "https://", "file:///etc/x"])
@pytest.mark.parametrize("name", ["SLACK_API_URL", "COVEO_PLATFORM_URL"])
def test_urls_must_be_http(tmp_path: Path, name: str, raw: str) -> None:
    error = _problems(_env(tmp_path, **{name: raw}))
    assert len(error.problems) == 1
    assert error.problems[0].startswith(name)


def test_db_path_must_not_be_a_directory(tmp_path: Path) -> None:
    error = _problems(_env(tmp_path, DELETE_ORG_DB=str(tmp_path)))
    assert error.problems == ["DELETE_ORG_DB must name a file, not a directory"]


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(_env(tmp_path))
    assert isinstance(config, Config)
    with pytest.raises(AttributeError):
        config.confirm_timeout = 5  # type: ignore[misc]


def test_read_environment_process_env_wins_over_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "DOB_TEST_SHARED=from-file\n"
        "DOB_TEST_FILE_ONLY=file-value\n"
        "DOB_TEST_NO_VALUE\n"
        "# DOB_TEST_COMMENTED=nope\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("DOB_TEST_SHARED", "from-process")
    monkeypatch.setenv("DOB_TEST_PROCESS_ONLY", "process-value")
    monkeypatch.delenv("DOB_TEST_FILE_ONLY", raising=False)
    monkeypatch.delenv("DOB_TEST_NO_VALUE", raising=False)
    monkeypatch.delenv("DOB_TEST_COMMENTED", raising=False)

    merged = read_environment(str(env_file))

    assert merged["DOB_TEST_SHARED"] == "from-process"
    assert merged["DOB_TEST_FILE_ONLY"] == "file-value"
    assert merged["DOB_TEST_PROCESS_ONLY"] == "process-value"
    assert "DOB_TEST_NO_VALUE" not in merged
    assert "DOB_TEST_COMMENTED" not in merged


def test_read_environment_without_file_is_the_process_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOB_TEST_ONLY_PROCESS", "yes")
    merged = read_environment(None)
    assert merged["DOB_TEST_ONLY_PROCESS"] == "yes"
    assert all(isinstance(value, str) for value in merged.values())


def test_read_environment_feeds_load_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"SLACK_BOT_TOKEN={BOT_TOKEN}\n"
        f"SLACK_SIGNING_SECRET={SIGNING}\n"
        f"DELETE_ORG_DB={tmp_path / 'from-file.db'}\n"
        "DELETE_ORG_CONFIRM_TIMEOUT=60\n",
        encoding="utf-8",
    )
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DELETE_ORG_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DELETE_ORG_CONFIRM_TIMEOUT", "90")
    for name in ("SLACK_API_URL", "COVEO_PLATFORM_URL", "DELETE_ORG_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("PORT", "LOG_LEVEL", "DELETE_ORG_SWEEP_INTERVAL", "HOST"):
        monkeypatch.delenv(name, raising=False)

    config = load_config(read_environment(str(env_file)))

    assert config.confirm_timeout == 90
    assert config.db_path == tmp_path / "from-file.db"
    assert config.slack_bot_token == BOT_TOKEN


# -- Sign in with Coveo ----------------------------------------------------------------------
def test_oauth_client_with_https_public_url(tmp_path: Path) -> None:
    config = load_config(
        _env(
            tmp_path,
            COVEO_OAUTH_CLIENT_ID="client",
            COVEO_OAUTH_CLIENT_SECRET="secret",
            PUBLIC_URL="https://bot.example.com/",
        )
    )
    assert config.oauth_enabled
    assert config.oauth_redirect_uri == "https://bot.example.com/coveo/oauth/callback"
    assert "secret" not in repr(config)


def test_no_oauth_client_means_paste_only(tmp_path: Path) -> None:
    config = load_config(_env(tmp_path))
    assert not config.oauth_enabled


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"COVEO_OAUTH_CLIENT_ID": "client"}, "COVEO_OAUTH_CLIENT_SECRET is missing"),
        ({"COVEO_OAUTH_CLIENT_SECRET": "secret"}, "COVEO_OAUTH_CLIENT_ID is missing"),
        (
            {"COVEO_OAUTH_CLIENT_ID": "c", "COVEO_OAUTH_CLIENT_SECRET": "s"},
            "PUBLIC_URL is required",
        ),
        ({"PUBLIC_URL": "http://bot.example.com"}, "https://"),
        ({"PUBLIC_URL": "https://bot.example.com/?x=1"}, "no query"),
        ({"PUBLIC_URL": "ftp://bot.example.com"}, "https://"),
    ],
)
def test_oauth_settings_are_validated(tmp_path: Path, extra: dict[str, str], words: str) -> None:
    error = _problems(_env(tmp_path, **extra))
    assert any(words in problem for problem in error.problems), error.problems


def test_loopback_public_url_may_be_http(tmp_path: Path) -> None:
    config = load_config(_env(tmp_path, PUBLIC_URL="http://127.0.0.1:3000"))
    assert config.public_url == "http://127.0.0.1:3000"


def test_socket_ping_interval_defaults_to_bolts_ten_seconds(tmp_path: Path) -> None:
    assert load_config(_env(tmp_path)).socket_ping_interval == 10
    config = load_config(_env(tmp_path, DELETE_ORG_SOCKET_PING_INTERVAL="2"))
    assert config.socket_ping_interval == 2


@pytest.mark.parametrize("raw", ["0", "31", "fast"])
def test_socket_ping_interval_out_of_range_is_refused(tmp_path: Path, raw: str) -> None:
    error = _problems(_env(tmp_path, DELETE_ORG_SOCKET_PING_INTERVAL=raw))
    assert error.problems == [
        next(p for p in error.problems if p.startswith("DELETE_ORG_SOCKET_PING_INTERVAL"))
    ]
    assert "from 1 to 30" in error.problems[0]


# -- DELETE_ORG_DATABASE_URL ------------------------------------------------------------------
PG_PASSWORD = "pg-SECRET-pass-4444"


def test_database_url_selects_postgresql_and_never_shows_its_password(tmp_path: Path) -> None:
    url = f"postgresql://bot:{PG_PASSWORD}@db.example.com:5432/delorg?sslmode=require"
    config = load_config(_env(tmp_path, DELETE_ORG_DB="<unset>", DELETE_ORG_DATABASE_URL=url))
    assert config.database == url and config.database_url == url
    assert (
        config.database_shown == "postgresql://bot:***@db.example.com:5432/delorg?sslmode=require"
    )
    assert PG_PASSWORD not in repr(config)


def test_without_database_url_the_sqlite_file_is_the_database(tmp_path: Path) -> None:
    config = load_config(_env(tmp_path))
    assert config.database_url is None
    assert config.database == tmp_path / "bot.db" and config.database_shown == str(
        tmp_path / "bot.db"
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (f"mysql://bot:{PG_PASSWORD}@db/delorg", "it must start with postgresql://"),
        (f"postgresql:bot:{PG_PASSWORD}@db/delorg", "it must start with postgresql://"),
        (f"postgresql://bot:{PG_PASSWORD}@db:99999/delorg", "the port must be a number"),
        (f"postgresql://bot:{PG_PASSWORD}@db:5432", "the host and the database name"),
        (f"postgresql://bot:{PG_PASSWORD}@/delorg", "the host and the database name"),
        (f"postgresql://bot:{PG_PASSWORD} x@db/delorg", "no spaces or control characters"),
    ],
)
def test_invalid_database_url_is_refused_without_echoing_it(
    tmp_path: Path, url: str, why: str
) -> None:
    error = _problems(_env(tmp_path, DELETE_ORG_DB="<unset>", DELETE_ORG_DATABASE_URL=url))
    [problem] = error.problems
    assert problem.startswith("DELETE_ORG_DATABASE_URL must be a PostgreSQL URL") and why in problem
    assert PG_PASSWORD not in str(error)


def test_database_url_and_sqlite_file_together_are_refused(tmp_path: Path) -> None:
    url = f"postgresql://bot:{PG_PASSWORD}@db/delorg"
    error = _problems(_env(tmp_path, DELETE_ORG_DATABASE_URL=url))
    assert any(
        "DELETE_ORG_DB and DELETE_ORG_DATABASE_URL are both set" in p for p in error.problems
    )
    assert PG_PASSWORD not in str(error)


def test_database_url_requires_a_shared_encryption_key(tmp_path: Path) -> None:
    url = f"postgresql://bot:{PG_PASSWORD}@db/delorg"
    error = _problems(
        _env(
            tmp_path,
            DELETE_ORG_DB="<unset>",
            DELETE_ORG_DATABASE_URL=url,
            DELETE_ORG_ENCRYPTION_KEY="<unset>",
        )
    )
    assert [p for p in error.problems if "every replica" in p] == [
        "DELETE_ORG_ENCRYPTION_KEY is required with DELETE_ORG_DATABASE_URL: every replica must"
        " encrypt with the same key (a generated key file would differ per host); make one with"
        " `delete-org-bot generate-key`"
    ]
