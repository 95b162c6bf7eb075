"""Configuration: read and validate every environment variable at start-up, in one place."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot.dburl import database_url_problem
from bot.logredact import redact_database_url
from bot.wording import plural

DEFAULT_CONFIRM_TIMEOUT = 120
"""Seconds a preview card stays confirmable when ``DELETE_ORG_CONFIRM_TIMEOUT`` is unset."""
CONFIRM_TIMEOUT_RANGE = (10, 1800)
"""Allowed ``DELETE_ORG_CONFIRM_TIMEOUT`` values, in seconds, inclusive. 1800 s is also the
lifetime of a Slack ``response_url``: a card posted through one (the app not in the channel)
gets a shorter deadline that fits it (``handlers.response_url.capped_timeout``)."""
DEFAULT_SWEEP_INTERVAL = 5
SWEEP_INTERVAL_RANGE = (1, 25)
"""Seconds between two passes of the expiry sweeper; kept under 30 s so an expired card
is marked expired within 30 s of its deadline."""
DEFAULT_HEARTBEAT_TIMEOUT = 120
"""Seconds without a heartbeat after which a process is presumed dead when
``DELETE_ORG_HEARTBEAT_TIMEOUT`` is unset (each upkeep pass writes one)."""
HEARTBEAT_TIMEOUT_RANGE = (3, 3600)
"""Allowed ``DELETE_ORG_HEARTBEAT_TIMEOUT`` values, in seconds; it must also be at least
:data:`HEARTBEATS_PER_TIMEOUT` sweep intervals, so a live process is never presumed dead for
one slow upkeep pass."""
HEARTBEATS_PER_TIMEOUT = 3
DEFAULT_SOCKET_PING_INTERVAL = 10
"""Seconds between Socket Mode pings when ``DELETE_ORG_SOCKET_PING_INTERVAL`` is unset: the
default of slack_bolt 1.30.0's ``SocketModeHandler(ping_interval=10)``."""
SOCKET_PING_INTERVAL_RANGE = (1, 30)
"""Allowed ``DELETE_ORG_SOCKET_PING_INTERVAL`` values, in seconds. slack_sdk 3.48.0 drops a
connection that saw no pong for more than 4 pings' time (``socket_mode/builtin/connection.py``
``check_state``: ``ping_interval * 4``), so a silent drop is noticed within 5 intervals."""
DEFAULT_PORT = 3000
DEFAULT_DB = "delete-org-bot.db"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
OAUTH_CALLBACK_PATH = "/coveo/oauth/callback"
"""Path of the OAuth redirect URI on the app's HTTP server (served in both modes)."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts for which ``PUBLIC_URL`` may be plain ``http://`` (local tests and the demo: the
browser and the app are on the same machine, RFC 8252 §7.3)."""
LOG_FORMATS = ("text", "json")
DEFAULT_RESPONSE_URL_RETENTION = 86_400
"""Seconds a finished request keeps its encrypted response URL when
``DELETE_ORG_RESPONSE_URL_RETENTION`` is unset (one day). Slack honours a response URL for
about 30 minutes (slack-notes §response_url limits), so after a day it is a dead secret."""
RESPONSE_URL_RETENTION_RANGE = (3_600, 31_536_000)
"""Allowed retention values besides 0 (keep for good), in seconds: at least an hour, twice the
URL's 30-minute life, so a URL the outbox could still use is never cleared; at most a year."""
AUDIT_KEY_MIN_CHARS = 32
"""Shortest ``DELETE_ORG_AUDIT_KEY`` accepted (``generate-key`` prints 44 characters)."""


PLACEHOLDER_BOT_TOKEN = "xoxb-CHANGEME"
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9-]+")


class ConfigError(Exception):
    """One or more environment variables are missing or invalid; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid configuration ({plural(len(problems), 'problem')}):\n{lines}")


@dataclass(frozen=True)
class Config:
    """Validated settings. Secrets are excluded from ``repr`` so a logged config leaks nothing.

    Times are in seconds. ``slack_api_url`` ends with ``/`` (as ``slack_sdk.WebClient`` expects);
    ``coveo_platform_url`` has no trailing ``/``.
    """

    slack_bot_token: str = field(repr=False)
    slack_signing_secret: str | None = field(repr=False)
    slack_app_token: str | None = field(repr=False)
    slack_api_url: str | None
    coveo_platform_url: str | None
    db_path: Path
    confirm_timeout: int
    encryption_keys: tuple[str, ...] = field(repr=False)
    port: int = DEFAULT_PORT
    host: str = "0.0.0.0"  # noqa: S104 - Slack must reach the server in HTTP mode
    sweep_interval: int = DEFAULT_SWEEP_INTERVAL
    heartbeat_timeout: int = DEFAULT_HEARTBEAT_TIMEOUT
    socket_ping_interval: int = DEFAULT_SOCKET_PING_INTERVAL
    log_level: str = "INFO"
    policy_path: Path | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = field(default=None, repr=False)
    public_url: str | None = None

    @property
    def oauth_enabled(self) -> bool:
        """True when a Coveo OAuth client is configured: the link flow offers **Sign in with
        Coveo** (validation guarantees ``public_url`` is set then)."""
        return bool(self.oauth_client_id and self.oauth_client_secret and self.public_url)

    @property
    def oauth_redirect_uri(self) -> str | None:
        """``{PUBLIC_URL}/coveo/oauth/callback``: the redirect URI to register with Coveo."""
        return self.public_url + OAUTH_CALLBACK_PATH if self.public_url else None

    log_format: str = "text"
    audit_key: bytes | None = field(default=None, repr=False)
    response_url_retention: int | None = DEFAULT_RESPONSE_URL_RETENTION
    """Seconds after which a finished request's response URL is cleared; None: kept."""
    database_url: str | None = field(default=None, repr=False)
    """``DELETE_ORG_DATABASE_URL``: PostgreSQL instead of the SQLite file (may hold a password:
    show :attr:`database_shown`, never this)."""

    @property
    def database(self) -> Path | str:
        """Where the store lives, for ``storage.open_store``: the PostgreSQL URL when
        ``DELETE_ORG_DATABASE_URL`` is set, else the SQLite file ``DELETE_ORG_DB``."""
        return self.database_url or self.db_path

    @property
    def database_shown(self) -> str:
        """:attr:`database` as it may be shown and logged (the URL's password redacted)."""
        return redact_database_url(self.database_url) if self.database_url else str(self.db_path)

    @property
    def socket_mode(self) -> bool:
        """True when ``SLACK_APP_TOKEN`` is set: connect out over Socket Mode, serve no HTTP."""
        return self.slack_app_token is not None

    @property
    def key_file(self) -> Path:
        """Where a generated encryption key lives when ``DELETE_ORG_ENCRYPTION_KEY`` is unset."""
        return self.db_path.with_name(self.db_path.name + ".key")


def _int_in_range(
    environ: Mapping[str, str],
    name: str,
    default: int,
    low: int,
    high: int,
    problems: list[str],
    *,
    unit: str = "a whole number of seconds",
) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name} must be {unit} from {low} to {high}")
        return default
    if not low <= value <= high:
        problems.append(f"{name} must be from {low} to {high} (got {value})")
        return default
    return value


def _http_url(environ: Mapping[str, str], name: str, problems: list[str]) -> str | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"{name} must be an http(s) URL such as https://example.com/api/")
        return None
    return raw


def _public_url(environ: Mapping[str, str], problems: list[str]) -> str | None:
    raw = environ.get("PUBLIC_URL", "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    loopback = parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS
    if (parts.scheme != "https" and not loopback) or not parts.hostname:
        problems.append(
            "PUBLIC_URL must be the app's public https:// base URL, such as"
            " https://delete-org.example.com (http:// only for 127.0.0.1 or localhost)"
        )
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        problems.append("PUBLIC_URL must be a plain base URL: no query, fragment or user info")
        return None
    return raw.rstrip("/")


def _oauth_client(
    environ: Mapping[str, str], public_url: str | None, problems: list[str]
) -> tuple[str | None, str | None]:
    client_id = environ.get("COVEO_OAUTH_CLIENT_ID", "").strip() or None
    secret = environ.get("COVEO_OAUTH_CLIENT_SECRET", "").strip() or None
    if (client_id is None) != (secret is None):
        missing = "COVEO_OAUTH_CLIENT_SECRET" if secret is None else "COVEO_OAUTH_CLIENT_ID"
        problems.append(
            f"{missing} is missing: set both COVEO_OAUTH_CLIENT_ID and COVEO_OAUTH_CLIENT_SECRET"
            " (Sign in with Coveo), or neither (tokens are pasted)"
        )
        return None, None
    if client_id is not None and not client_id.isprintable():
        problems.append("COVEO_OAUTH_CLIENT_ID must be printable text")
    if client_id is not None and not environ.get("PUBLIC_URL", "").strip():
        problems.append(
            "PUBLIC_URL is required with COVEO_OAUTH_CLIENT_ID: the app's public https:// base"
            " URL, from which Coveo redirects to /coveo/oauth/callback"
        )
    return client_id, secret


def is_fernet_key(key: str) -> bool:
    """Return True if ``key`` is a Fernet key: 32 bytes in URL-safe base64 (44 characters).

    Source: the Fernet spec (github.com/fernet/spec), as implemented by ``cryptography``.
    """
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32 and len(key) == 44
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False


def load_config(environ: Mapping[str, str]) -> Config:
    """Build a :class:`Config` from ``environ`` (normally ``os.environ``).

    Raises:
        ConfigError: listing every missing or invalid variable at once. Messages name the
            variable and the rule, never the secret value.
    """
    problems: list[str] = []

    bot_token = environ.get("SLACK_BOT_TOKEN", "").strip()
    if not bot_token:
        problems.append("SLACK_BOT_TOKEN is required (the bot token, xoxb-...)")
    elif not bot_token.startswith("xoxb-") or not _TOKEN_CHARS.fullmatch(bot_token):
        problems.append(
            "SLACK_BOT_TOKEN must be a bot token: xoxb- followed by letters, digits and hyphens"
        )
    elif bot_token == PLACEHOLDER_BOT_TOKEN:
        problems.append("SLACK_BOT_TOKEN still holds the .env.example placeholder")

    app_token = environ.get("SLACK_APP_TOKEN", "").strip() or None
    if app_token is not None and not app_token.startswith("xapp-"):
        problems.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-")

    signing_secret = environ.get("SLACK_SIGNING_SECRET", "").strip() or None
    if signing_secret is None and app_token is None:
        problems.append(
            "SLACK_SIGNING_SECRET is required in HTTP mode (set SLACK_APP_TOKEN for Socket Mode)"
        )

    slack_api_url = _http_url(environ, "SLACK_API_URL", problems)
    if slack_api_url is not None and not slack_api_url.endswith("/"):
        slack_api_url += "/"
    coveo_url = _http_url(environ, "COVEO_PLATFORM_URL", problems)
    if coveo_url is not None:
        coveo_url = coveo_url.rstrip("/")

    database_url = _database_url(environ, problems)
    db_raw = environ.get("DELETE_ORG_DB", "").strip() or DEFAULT_DB
    db_path = Path(db_raw)
    if database_url is not None:
        pass  # the SQLite file is not used: nothing to check
    elif db_path.is_dir():
        problems.append("DELETE_ORG_DB must name a file, not a directory")
    elif not db_path.absolute().parent.is_dir():
        problems.append(f"DELETE_ORG_DB: the directory {db_path.absolute().parent} does not exist")

    low, high = CONFIRM_TIMEOUT_RANGE
    timeout = _int_in_range(
        environ, "DELETE_ORG_CONFIRM_TIMEOUT", DEFAULT_CONFIRM_TIMEOUT, low, high, problems
    )
    low, high = SWEEP_INTERVAL_RANGE
    sweep = _int_in_range(
        environ, "DELETE_ORG_SWEEP_INTERVAL", DEFAULT_SWEEP_INTERVAL, low, high, problems
    )
    heartbeat_timeout = _heartbeat_timeout(environ, sweep, problems)
    low, high = SOCKET_PING_INTERVAL_RANGE
    ping = _int_in_range(
        environ,
        "DELETE_ORG_SOCKET_PING_INTERVAL",
        DEFAULT_SOCKET_PING_INTERVAL,
        low,
        high,
        problems,
    )
    port = _int_in_range(environ, "PORT", DEFAULT_PORT, 0, 65535, problems, unit="a port number")
    host = environ.get("HOST", "").strip() or "0.0.0.0"  # noqa: S104

    keys_raw = environ.get("DELETE_ORG_ENCRYPTION_KEY", "").strip()
    keys: tuple[str, ...] = ()
    if keys_raw:
        keys = tuple(part.strip() for part in keys_raw.split(",") if part.strip())
        bad = [str(i + 1) for i, key in enumerate(keys) if not is_fernet_key(key)]
        if bad:
            which = (
                f"key number {bad[0]} is not a Fernet key"
                if len(bad) == 1
                else (f"keys number {', '.join(bad)} are not Fernet keys")
            )
            problems.append(
                f"DELETE_ORG_ENCRYPTION_KEY: {which} (44 URL-safe base64 characters); "
                "make one with `delete-org-bot generate-key`"
            )

    policy_raw = environ.get("DELETE_ORG_POLICY", "").strip()
    policy_path = Path(policy_raw) if policy_raw else None
    if policy_path is not None and not policy_path.is_file():
        problems.append(f"DELETE_ORG_POLICY: no such file {policy_path}")

    public_url = _public_url(environ, problems)
    client_id, client_secret = _oauth_client(environ, public_url, problems)

    level = (environ.get("LOG_LEVEL", "").strip() or "INFO").upper()
    if level not in LOG_LEVELS:
        problems.append("LOG_LEVEL must be one of " + ", ".join(LOG_LEVELS))

    log_format = (environ.get("LOG_FORMAT", "").strip() or "text").lower()
    if log_format not in LOG_FORMATS:
        problems.append("LOG_FORMAT must be one of " + ", ".join(LOG_FORMATS))
    audit_key = _audit_key(environ, problems)
    retention = _response_url_retention(environ, problems)
    if database_url is not None and not keys:
        problems.append(
            "DELETE_ORG_ENCRYPTION_KEY is required with DELETE_ORG_DATABASE_URL: every replica"
            " must encrypt with the same key (a generated key file would differ per host); make"
            " one with `delete-org-bot generate-key`"
        )

    if problems:
        raise ConfigError(problems)
    return Config(
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=app_token,
        slack_api_url=slack_api_url,
        coveo_platform_url=coveo_url,
        db_path=db_path,
        confirm_timeout=timeout,
        encryption_keys=keys,
        port=port,
        host=host,
        sweep_interval=sweep,
        heartbeat_timeout=heartbeat_timeout,
        socket_ping_interval=ping,
        log_level=level,
        policy_path=policy_path,
        oauth_client_id=client_id,
        oauth_client_secret=client_secret,
        public_url=public_url,
        log_format=log_format,
        audit_key=audit_key,
        response_url_retention=retention,
        database_url=database_url,
    )


def _heartbeat_timeout(environ: Mapping[str, str], sweep: int, problems: list[str]) -> int:
    """``DELETE_ORG_HEARTBEAT_TIMEOUT``: seconds after its last heartbeat that a process
    (another replica, or a crashed one) is presumed dead and its deletions in progress are
    settled by another (read-only: never a second DELETE)."""
    name = "DELETE_ORG_HEARTBEAT_TIMEOUT"
    low, high = HEARTBEAT_TIMEOUT_RANGE
    value = _int_in_range(environ, name, DEFAULT_HEARTBEAT_TIMEOUT, low, high, problems)
    if value < HEARTBEATS_PER_TIMEOUT * sweep:
        problems.append(
            f"{name} must be at least {HEARTBEATS_PER_TIMEOUT} times DELETE_ORG_SWEEP_INTERVAL"
            f" (a heartbeat is written every sweep): at least {HEARTBEATS_PER_TIMEOUT * sweep},"
            f" got {value}"
        )
    return value


def _response_url_retention(environ: Mapping[str, str], problems: list[str]) -> int | None:
    name = "DELETE_ORG_RESPONSE_URL_RETENTION"
    raw = environ.get(name, "").strip()
    if not raw:
        return DEFAULT_RESPONSE_URL_RETENTION
    low, high = RESPONSE_URL_RETENTION_RANGE
    rule = (
        f"{name} must be 0 (keep response URLs) or whole seconds from {low} to {high}"
        " (a response URL works for 30 minutes; default 86400, one day)"
    )
    try:
        value = int(raw)
    except ValueError:
        problems.append(rule)
        return None
    if value == 0:
        return None
    if not low <= value <= high:
        problems.append(f"{rule}; got {value}")
        return None
    return value


def _database_url(environ: Mapping[str, str], problems: list[str]) -> str | None:
    """``DELETE_ORG_DATABASE_URL``, checked without ever echoing it (it may hold a password):
    a libpq URI, ``postgresql://user:password@host:port/dbname?sslmode=require``
    (postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING)."""
    raw = environ.get("DELETE_ORG_DATABASE_URL", "").strip()
    if not raw:
        return None
    if environ.get("DELETE_ORG_DB", "").strip():
        problems.append(
            "DELETE_ORG_DB and DELETE_ORG_DATABASE_URL are both set: set DELETE_ORG_DB for a"
            " SQLite file, or DELETE_ORG_DATABASE_URL for PostgreSQL, not both"
        )
        return None
    problem = database_url_problem(raw)
    if problem is not None:
        problems.append(problem)
        return None
    return raw


def _audit_key(environ: Mapping[str, str], problems: list[str]) -> bytes | None:
    raw = environ.get("DELETE_ORG_AUDIT_KEY", "").strip()
    if not raw:
        return None
    if len(raw) < AUDIT_KEY_MIN_CHARS:
        problems.append(
            f"DELETE_ORG_AUDIT_KEY must be at least {AUDIT_KEY_MIN_CHARS} characters;"
            " make one with `delete-org-bot generate-key`"
        )
        return None
    return raw.encode("utf-8")


def load_audit_settings(environ: Mapping[str, str]) -> tuple[Path | str, bytes | None]:
    """The database and audit key for the ``audit`` commands, which need no Slack tokens:
    ``DELETE_ORG_DATABASE_URL`` (PostgreSQL) or else ``DELETE_ORG_DB`` (default
    ``delete-org-bot.db``), and ``DELETE_ORG_AUDIT_KEY``.

    Raises:
        ConfigError: the audit key is too short, or the database URL is invalid.
    """
    problems: list[str] = []
    key = _audit_key(environ, problems)
    url = _database_url(environ, problems)
    if problems:
        raise ConfigError(problems)
    return url or Path(environ.get("DELETE_ORG_DB", "").strip() or DEFAULT_DB), key


def read_environment(env_file: str | None = None) -> dict[str, str]:
    """The process environment, over the values of ``env_file`` (a ``.env`` file) when given:
    variables already set in the environment win. The only reader of ``os.environ``."""
    merged: dict[str, str] = {}
    if env_file:
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return merged
