"""Shared fixtures: real SQLite files, and the end-to-end harness (real app over loopback HTTP)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.app import Runtime, create_app
from bot.clock import utcnow
from bot.config import load_config
from bot.crypto import TokenCipher
from bot.emulator.coveo import FakeCoveo
from bot.emulator.slack import AppResponse, FakeSlack
from bot.server import ServerThread, make_http_server
from handlers.ids import ACTION_REGION, ACTION_TOKEN, BLOCK_REGION, BLOCK_TOKEN, VIEW_LINK
from storage import Store

pytest_plugins = ["tests.pg"]

SIGNING_SECRET = "test-signing-secret-not-real"
CHANNEL = "C0GENERAL01"
ALICE = "U0ALICE0001"
BOB = "U0BOB000001"


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    """Tests that run the CLI call ``setup_logging`` (root at DEBUG, a handler): put the root
    logger back after each test, so later tests see the default logging set-up."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher([Fernet.generate_key().decode()])


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture
def store_target(tmp_path: Path) -> Path | str:
    """Where the ``store`` fixture lives: a SQLite file. Storage-level test modules override
    it with ``store_target = both_backends`` to run each test on SQLite and on PostgreSQL."""
    return tmp_path / "test.db"


@pytest.fixture(params=BACKENDS)
def both_backends(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A fresh database on each backend in turn: a SQLite file, then a PostgreSQL URL (a new
    database on the run's throwaway cluster, ``tests/pg.py``)."""
    if request.param == "sqlite":
        return tmp_path / "test.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(store_target: Path | str, cipher: TokenCipher) -> Iterator[Store]:
    db = Store(store_target, cipher)
    yield db
    db.close()


class SteppableClock:
    """Real UTC time plus an offset that tests advance (the app's injected clock)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def link_through_slack(
    slack: FakeSlack, user: str, channel: str, token: str, region: str = "us"
) -> AppResponse:
    """``/delete-org link`` in ``channel``, then submit the link form that opens with the Coveo
    ``token`` and ``region``; returns the app's answer to the submission."""
    before = {view.id for view in slack.views(user)}
    response = slack.send_command(user, channel, "link")
    assert response.status == 200
    view = slack.wait_for(
        lambda: [
            v
            for v in slack.views(user, open_only=True)
            if v.id not in before and v.view.get("callback_id") == VIEW_LINK
        ]
    )[-1]
    return slack.submit_view(
        user,
        view.id,
        {BLOCK_TOKEN: {ACTION_TOKEN: token}, BLOCK_REGION: {ACTION_REGION: region}},
    )


@dataclass
class Harness:
    """The real app in HTTP mode on 127.0.0.1, a fake Slack and a fake Coveo, all over HTTP."""

    slack: FakeSlack
    coveo: FakeCoveo
    runtime: Runtime
    tokens: dict[str, str]
    db_path: Path
    clock: SteppableClock
    environ: dict[str, str]
    app: AppProcess
    extra_apps: list[AppProcess] = field(default_factory=list)

    def start_another_app(self, *, sweeper: bool = False) -> AppProcess:
        """A second app on the same database file (as a second process would be)."""
        other = start_app(self.environ, self.clock, sweeper=sweeper)
        self.extra_apps.append(other)
        return other

    def restart(self, *, sweeper: bool = True) -> None:
        """Stop the app gracefully and start a new one on the same database."""
        self.app.stop()
        self.app = start_app(self.environ, self.clock, sweeper=sweeper)
        self.runtime = self.app.runtime
        self.slack.app_url = self.app.url

    @property
    def store(self) -> Store:
        return self.runtime.deps.store

    def link(self, user: str, token_name: str, region: str = "us") -> Any:
        """Run /delete-org link and submit the modal; returns the submit response."""
        return link_through_slack(
            self.slack, user, CHANNEL, self.tokens.get(token_name, token_name), region
        )

    def request_card(self, user: str, org_id: str, channel: str = CHANNEL) -> Any:
        """Run /delete-org <org_id> and wait for the preview card; returns the card message."""
        before = len(self.slack.messages(channel, include_replies=False))
        response = self.slack.send_command(user, channel, org_id)
        assert response.status == 200
        return self.slack.wait_for(
            lambda: self.slack.messages(channel, include_replies=False)[before:]
        )[0]

    def ephemeral_texts(self, user: str) -> list[str]:
        return [e.text for e in self.slack.ephemerals(user)]


@dataclass
class AppProcess:
    """One running app (runtime + waitress server on a free loopback port)."""

    runtime: Runtime
    server: ServerThread
    url: str

    def stop(self) -> None:
        self.server.stop()
        self.runtime.close()


def start_app(environ: dict[str, str], clock: SteppableClock, *, sweeper: bool) -> AppProcess:
    http = httpx.Client(timeout=httpx.Timeout(connect=1.0, read=1.5, write=1.0, pool=1.0))
    runtime = create_app(load_config(environ), clock=clock, http=http)
    runtime.start(upkeep=sweeper)
    port = int(environ.get("PORT", "0"))
    server = ServerThread(make_http_server(runtime.app, "127.0.0.1", port, runtime.routes)).start()
    return AppProcess(runtime, server, f"http://127.0.0.1:{server.port}")


def build_harness(tmp_path: Path, *, sweeper: bool = False, **env: str) -> Iterator[Harness]:
    slack = FakeSlack(signing_secret=SIGNING_SECRET).start()
    coveo = FakeCoveo().start()
    tokens = coveo.seed_demo()
    slack.add_channel(CHANNEL, "general")
    slack.add_user(ALICE, "alice")
    slack.add_user(BOB, "bob")
    policy = tmp_path / "policy.toml"
    if not policy.exists():
        # Most end-to-end tests are about the flow, not the guardrails: no typed confirmation.
        policy.write_text("[typed_confirmation]\ntypes = []\nproduct_types = []\n")
    environ = {
        "DELETE_ORG_POLICY": str(policy),
        "SLACK_BOT_TOKEN": "xoxb-test-not-a-real-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "COVEO_PLATFORM_URL": coveo.url,
        "DELETE_ORG_DB": str(tmp_path / "e2e.db"),
        "DELETE_ORG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DELETE_ORG_CONFIRM_TIMEOUT": "30",
        "DELETE_ORG_SWEEP_INTERVAL": "1",
        **env,
    }
    clock = SteppableClock()
    app = start_app(environ, clock, sweeper=sweeper)
    slack.app_url = app.url
    harness = Harness(slack, coveo, app.runtime, tokens, tmp_path / "e2e.db", clock, environ, app)
    try:
        yield harness
    finally:
        for extra in harness.extra_apps:
            extra.stop()
        harness.app.stop()
        coveo.stop()
        slack.stop()


@pytest.fixture(params=BACKENDS)
def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Harness variables selecting each backend in turn: the SQLite file (the harness's
    default), then ``DELETE_ORG_DATABASE_URL`` on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return {}
    return {"DELETE_ORG_DB": "", "DELETE_ORG_DATABASE_URL": request.getfixturevalue("pg_url")}


@pytest.fixture
def e2e(tmp_path: Path) -> Iterator[Harness]:
    yield from build_harness(tmp_path)


@pytest.fixture
def e2e_sweeping(tmp_path: Path) -> Iterator[Harness]:
    yield from build_harness(tmp_path, sweeper=True)


APP_SCRIPT = Path(sys.executable).parent / "delete-org-bot"


def process_env(slack: FakeSlack, coveo: FakeCoveo, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a real ``delete-org-bot`` process against the fakes (no inherited
    Slack or app settings)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DELETE_ORG_"))},
        "SLACK_BOT_TOKEN": "xoxb-test-not-a-real-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "COVEO_PLATFORM_URL": coveo.url,
        "DELETE_ORG_DB": str(tmp_path / "bot.db"),
        "DELETE_ORG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "HOST": "127.0.0.1",
        **extra,
    }


def launch_app_process(
    env: dict[str, str], *, log: Path | None = None
) -> tuple[subprocess.Popen[str], int]:
    """Start the console script on a free port and wait (up to 15 s) for ``/healthz``.

    Its stdout and stderr are pipes (read them with ``communicate``), or both go to the file
    ``log`` when given (for processes that log a lot while the test runs: a full pipe would
    block them)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    output = log.open("a") if log is not None else None
    try:
        proc = subprocess.Popen(
            [str(APP_SCRIPT)],
            env={**env, "PORT": str(port)},
            stdout=output or subprocess.PIPE,
            stderr=subprocess.STDOUT if output else subprocess.PIPE,
            text=True,
        )
    finally:
        if output is not None:
            output.close()  # the child has its own copy
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").text == "ok":
                return proc, port
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            detail = log.read_text() if log is not None else proc.communicate()
            raise AssertionError(f"app exited with {proc.returncode}: {detail}")
        assert time.monotonic() < deadline, "app did not start"
        time.sleep(0.05)
