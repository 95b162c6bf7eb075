"""`LocalStack`: the real app, a fake Slack workspace and a fake Coveo, wired together locally.

Everything runs in this process on 127.0.0.1 and nothing leaves the machine:

- `FakeSlack` (the Web API, response_urls, and the Slack client that sends signed slash
  commands, clicks and modal submissions), with users alice (``U0ALICE0001``) and bob
  (``U0BOB000001``) and the channel #general (``C0GENERAL01``);
- `FakeCoveo` seeded with the invented demo organizations and tokens (`seed_demo`);
- the REAL app from :func:`bot.app.create_app`, configured from an environment like
  production's, served in HTTP mode by :func:`bot.server.make_http_server` on a free port, with
  its expiry sweeper running. Its clock is a :class:`SteppableClock`, so a card can be made to
  expire without waiting.

Used by ``delete-org-bot demo`` and ``delete-org-bot console``; tests may use it too::

    with LocalStack(confirm_timeout=10) as stack:
        stack.link(ALICE, "admin_us")
        stack.command(ALICE, CHANNEL, "exampleprodus4k7q2m")
        stack.wait_for(stack.latest_card)
        stack.click(ALICE, ACTION_CONFIRM)
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from cryptography.fernet import Fernet

from bot.app import Runtime, create_app
from bot.clock import utcnow
from bot.config import OAUTH_CALLBACK_PATH, load_config
from bot.coveo import DEFAULT_TIMEOUT
from bot.emulator import browser
from bot.emulator.coveo import FakeCoveo
from bot.emulator.coveo_oauth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from bot.emulator.render import Workspace
from bot.emulator.slack import AppResponse, FakeSlack, Message
from bot.server import ServerThread, make_http_server
from handlers.ids import (
    ACTION_OPEN_LINK,
    ACTION_REGION,
    ACTION_SIGN_IN,
    ACTION_SIGN_IN_REGION,
    ACTION_TOKEN,
    ACTION_TYPED,
    BLOCK_REGION,
    BLOCK_TOKEN,
    BLOCK_TYPED,
    VIEW_CONFIRM,
    VIEW_LINK,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "ALICE",
    "BOB",
    "CHANNEL",
    "CHANNEL_NAME",
    "DEMO_USERS",
    "LocalStack",
    "SteppableClock",
]

T = TypeVar("T")

ALICE = "U0ALICE0001"
BOB = "U0BOB000001"
CHANNEL = "C0GENERAL01"
CHANNEL_NAME = "general"
DEMO_USERS: Mapping[str, str] = {ALICE: "alice", BOB: "bob"}
"""Users created in the fake workspace: ID → display name."""

_SIGNING_SECRET = "local-stack-signing-secret-not-real"
_BOT_TOKEN = "xoxb-test-local-stack"
_LOOPBACK = ("127.0.0.1", "localhost")
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


class SteppableClock:
    """The app's injected clock: real UTC time plus an offset that :meth:`advance` moves."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """Current time as the app sees it (aware UTC)."""
        with self._lock:
            return utcnow() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the app's time forward by ``seconds``."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)


class LocalStack:
    """Fake Slack + fake Coveo + the real app over loopback HTTP; a context manager.

    ``confirm_timeout`` is ``DELETE_ORG_CONFIRM_TIMEOUT`` in seconds (10 to 1800). ``workdir`` is
    where the SQLite database goes (default: a temporary directory removed on close).
    ``quiet`` hides the app's log lines below ERROR while the stack runs. ``sweep_interval``
    is ``DELETE_ORG_SWEEP_INTERVAL`` (1 to 25 s). ``oauth`` configures **Sign in with Coveo**
    with the fake Coveo's demo client (``PUBLIC_URL`` is the app's loopback URL).

    After :meth:`start`: ``slack`` and ``coveo`` are the fakes, ``runtime`` the app's
    :class:`~bot.app.Runtime`, ``tokens`` the demo tokens by name (``"admin_us"`` → the token),
    ``clock`` the app's clock and ``db_path`` its database.
    """

    def __init__(
        self,
        *,
        confirm_timeout: int = 30,
        workdir: str | Path | None = None,
        quiet: bool = True,
        sweep_interval: int = 1,
        oauth: bool = True,
    ) -> None:
        """Configure the stack; nothing runs until :meth:`start` (or ``with``)."""
        self.confirm_timeout = confirm_timeout
        self.oauth = oauth
        self.sweep_interval = sweep_interval
        self.quiet = quiet
        self.clock = SteppableClock()
        self.tokens: dict[str, str] = {}
        self._users: dict[str, str] = dict(DEMO_USERS)
        self._workdir = Path(workdir) if workdir is not None else None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._slack: FakeSlack | None = None
        self._coveo: FakeCoveo | None = None
        self._runtime: Runtime | None = None
        self._server: ServerThread | None = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_disable: int | None = None
        self._busy: set[Future[Any]] = set()
        self._busy_lock = threading.Lock()
        self.db_path = Path()
        self.app_url = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start both fakes and the app, and the sweeper. Returns self.

        Raises:
            RuntimeError: already started.
            OSError / slack_bolt.error.BoltError / bot.config.ConfigError: the stack could not
                start (everything started so far is stopped again).
        """
        if self._slack is not None:
            raise RuntimeError("LocalStack already started")
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        if self.quiet:
            self._saved_disable = logging.root.manager.disable
            logging.disable(logging.WARNING)
        self._bypass_proxies()
        if self._workdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="delete-org-bot-")
            workdir = Path(self._tempdir.name)
        else:
            workdir = self._workdir
            workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = workdir / "delete-org-bot.db"

        self._slack = slack = FakeSlack(signing_secret=_SIGNING_SECRET, bot_token=_BOT_TOKEN)
        slack.start()
        slack.add_channel(CHANNEL, CHANNEL_NAME)
        for user_id, name in DEMO_USERS.items():
            slack.add_user(user_id, name)
        self._coveo = coveo = FakeCoveo()
        coveo.start()
        self.tokens = coveo.seed_demo()

        environ = {
            "SLACK_BOT_TOKEN": _BOT_TOKEN,
            "SLACK_SIGNING_SECRET": _SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "COVEO_PLATFORM_URL": coveo.url,
            "DELETE_ORG_DB": str(self.db_path),
            "DELETE_ORG_ENCRYPTION_KEY": Fernet.generate_key().decode("ascii"),
            "DELETE_ORG_CONFIRM_TIMEOUT": str(self.confirm_timeout),
            "DELETE_ORG_SWEEP_INTERVAL": str(self.sweep_interval),
            "HOST": "127.0.0.1",
        }
        port = 0
        if self.oauth:
            port = free_port()
            public_url = f"http://127.0.0.1:{port}"
            environ.update(
                {
                    "COVEO_OAUTH_CLIENT_ID": DEMO_CLIENT_ID,
                    "COVEO_OAUTH_CLIENT_SECRET": DEMO_CLIENT_SECRET,
                    "PUBLIC_URL": public_url,
                }
            )
            coveo.oauth.register_client(
                DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, [public_url + OAUTH_CALLBACK_PATH]
            )
        # trust_env=False: the fake Coveo is on loopback; never route it through a proxy.
        http = httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False, trust_env=False)
        try:
            self._runtime = create_app(load_config(environ), clock=self.clock, http=http)
        except BaseException:
            http.close()
            raise
        executor = getattr(self._runtime, "executor", None)
        if isinstance(executor, ThreadPoolExecutor):
            self._track_listeners(executor)
        self._server = ServerThread(
            make_http_server(self._runtime.app, "127.0.0.1", port, self._runtime.routes),
            name="local-app",
        ).start()
        self.app_url = f"http://127.0.0.1:{self._server.port}"
        slack.app_url = self.app_url
        self._runtime.start()

    def _track_listeners(self, executor: ThreadPoolExecutor) -> None:
        """Count the app's listener tasks in flight (Bolt submits its listeners and lazy
        listeners to this executor), so :meth:`wait_idle` knows when the app is still busy."""
        submit = executor.submit

        def tracked(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            future = submit(fn, *args, **kwargs)
            with self._busy_lock:
                self._busy.add(future)
            future.add_done_callback(self._done)
            return future

        setattr(executor, "submit", tracked)  # noqa: B010 - an instance attribute on purpose

    def _done(self, future: Future[Any]) -> None:
        with self._busy_lock:
            self._busy.discard(future)

    def busy(self) -> int:
        """How many of the app's listener tasks are running or queued right now."""
        with self._busy_lock:
            return len(self._busy)

    def _bypass_proxies(self) -> None:
        """Make Slack's SDK (which honours proxy variables) reach the loopback fakes directly."""
        for name in ("NO_PROXY", "no_proxy"):
            self._saved_env[name] = os.environ.get(name)
            parts = [p.strip() for p in (os.environ.get(name) or "").split(",") if p.strip()]
            os.environ[name] = ",".join([*parts, *(h for h in _LOOPBACK if h not in parts)])

    def close(self) -> None:
        """Stop the app (sweeper, listeners, database), the HTTP server and both fakes.

        Safe to call twice."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None
        if self._coveo is not None:
            self._coveo.stop()
            self._coveo = None
        if self._slack is not None:
            self._slack.stop()
            self._slack = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
        if self._saved_disable is not None:
            logging.disable(self._saved_disable)
            self._saved_disable = None

    def __enter__(self) -> LocalStack:
        """Start the stack."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the stack."""
        self.close()

    # -- parts ---------------------------------------------------------------------------------

    @property
    def slack(self) -> FakeSlack:
        """The fake Slack (raises RuntimeError before :meth:`start`)."""
        if self._slack is None:
            raise RuntimeError("LocalStack is not started")
        return self._slack

    @property
    def coveo(self) -> FakeCoveo:
        """The fake Coveo (raises RuntimeError before :meth:`start`)."""
        if self._coveo is None:
            raise RuntimeError("LocalStack is not started")
        return self._coveo

    @property
    def runtime(self) -> Runtime:
        """The real app's runtime (raises RuntimeError before :meth:`start`)."""
        if self._runtime is None:
            raise RuntimeError("LocalStack is not started")
        return self._runtime

    # -- acting as people ----------------------------------------------------------------------

    def resolve_user(self, who: str) -> str:
        """A user ID from an ID or a display name (``"bob"`` or ``"@bob"`` → ``"U0BOB000001"``).

        An unknown ID (``U`` or ``W`` then capitals and digits) is added to the workspace with
        its ID as name.

        Raises:
            LookupError: an unknown name.
        """
        who = who.strip().lstrip("@")
        if who in self._users:
            return who
        for user_id, name in self._users.items():
            if name.lower() == who.lower():
                return user_id
        if _USER_ID.fullmatch(who):
            self.slack.add_user(who, who)
            self._users[who] = who
            return who
        known = ", ".join(sorted(self._users.values()))
        raise LookupError(f"unknown user {who!r}; known: {known}, or a user ID like U0CAROL001")

    def command(self, user: str, channel: str, text: str) -> AppResponse:
        """``user`` types ``/delete-org <text>`` in ``channel``; returns the app's ack."""
        return self.slack.send_command(user, channel, text)

    def link(self, user: str, token_name: str, region: str = "us") -> AppResponse:
        """Run ``/delete-org link`` and submit the modal with the demo token ``token_name``
        (or, when it is not a demo token name, that literal value) and ``region``.

        Returns the app's answer to the submission; the modal stays open (showing the result or
        the form's errors).

        Raises:
            AssertionError: the modal did not open within 5 s.
        """
        before = {view.id for view in self.slack.views(user)}
        self.command(user, CHANNEL, "link")
        if self.oauth:  # the region choice came first: take its "Paste a token instead"
            choice = self.wait_for(lambda: self._ephemerals_with(user, ACTION_OPEN_LINK))[-1]
            self.slack.click(
                user,
                channel_id=CHANNEL,
                message_ts=choice.ts,
                action_id=ACTION_OPEN_LINK,
                ephemeral=True,
            )
        view = self.wait_for(
            lambda: [
                v
                for v in self.slack.views(user, open_only=True)
                if v.id not in before and v.view.get("callback_id") == VIEW_LINK
            ]
        )[-1]
        return self.slack.submit_view(
            user,
            view.id,
            {
                BLOCK_TOKEN: {ACTION_TOKEN: self.tokens.get(token_name, token_name)},
                BLOCK_REGION: {ACTION_REGION: region},
            },
        )

    def _ephemerals_with(self, user: str, action_id: str) -> list[Any]:
        return [e for e in self.slack.ephemerals(user) if _has_action(e.blocks, action_id)]

    def sign_in_link(self, user: str, region: str = "us") -> str:
        """Run ``/delete-org link``, click the ``region`` button, and return the URL of the
        **Sign in with Coveo** button that comes back privately.

        Raises:
            AssertionError: a message did not come within 5 s. RuntimeError: no OAuth.
        """
        if not self.oauth:
            raise RuntimeError("this LocalStack runs without Sign in with Coveo")
        before = {e.ts for e in self._ephemerals_with(user, ACTION_SIGN_IN)}
        self.command(user, CHANNEL, "link")
        action = ACTION_SIGN_IN_REGION + region
        choice = self.wait_for(lambda: self._ephemerals_with(user, action))[-1]
        self.slack.click(
            user, channel_id=CHANNEL, message_ts=choice.ts, action_id=action, ephemeral=True
        )
        message = self.wait_for(
            lambda: [e for e in self._ephemerals_with(user, ACTION_SIGN_IN) if e.ts not in before]
        )[-1]
        return sign_in_url(message.blocks) or ""

    def sign_in(self, user: str, identity: str, region: str = "us") -> browser.WebPage:
        """The whole **Sign in with Coveo** as ``user`` would do it: the region button, then in
        the "browser" the fake Coveo's page, "Sign in as" ``identity`` (a demo token name such
        as ``admin_eu``), and the redirects back to the app. Returns the app's final page."""
        url = self.sign_in_link(user, region)
        return self.follow_sign_in(url, identity)

    def follow_sign_in(self, url: str, identity: str | None) -> browser.WebPage:
        """Open the sign-in ``url`` and press "Sign in as ``identity``" (None: **Cancel**).

        Raises:
            LookupError: the page has no such choice.
        """
        with httpx.Client(trust_env=False, timeout=DEFAULT_TIMEOUT) as client:
            page = browser.open_page(client, url)
            for index, choice in enumerate(page.choices):
                wanted = {"deny": "1"} if identity is None else {"identity": identity}
                if wanted.items() <= choice.fields.items():
                    return browser.choose(client, page, index)
        raise LookupError(f"no sign-in choice {identity!r} on {page.title!r}")

    def type_confirmation(self, user: str, text: str) -> AppResponse:
        """Wait for the Confirm modal (typed confirmation) to open for ``user``, type ``text``
        and submit it.

        Raises:
            AssertionError: no Confirm modal opened within 5 s.
        """
        view = self.wait_for(
            lambda: [
                v
                for v in self.slack.views(user, open_only=True)
                if v.view.get("callback_id") == VIEW_CONFIRM
            ]
        )[-1]
        return self.slack.submit_view(user, view.id, {BLOCK_TYPED: {ACTION_TYPED: text}})

    def close_views(self, user: str) -> int:
        """Dismiss every modal open for ``user`` (as pressing Close); returns how many."""
        views = self.slack.views(user, open_only=True)
        for view in views:
            self.slack.close_view(user, view.id)
        return len(views)

    def latest_card(self, channel: str = CHANNEL, action_id: str | None = None) -> Message | None:
        """The newest top-level app message in ``channel`` with buttons (with ``action_id``
        among them, when given), or None."""
        for message in reversed(self.slack.messages(channel, include_replies=False)):
            if message.bot and _has_action(message.blocks, action_id):
                return message
        return None

    def click(self, user: str, action_id: str, channel: str = CHANNEL) -> AppResponse:
        """``user`` clicks the button ``action_id`` on the latest card that has it.

        Raises:
            LookupError: no card in ``channel`` has that button.
        """
        card = self.latest_card(channel, action_id)
        if card is None:
            raise LookupError(f"no message in {channel} has a button {action_id!r}")
        return self.slack.click(user, channel_id=channel, message_ts=card.ts, action_id=action_id)

    def advance(self, seconds: float) -> None:
        """Pretend ``seconds`` passed: moves the app's clock and the fake Slack's clock."""
        self.clock.advance(seconds)
        self.slack.advance_clock(seconds)

    # -- waiting and looking -------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Poll ``predicate`` until it returns something truthy, and return that.

        Raises:
            AssertionError: not within ``timeout`` seconds.
        """
        return self.slack.wait_for(predicate, timeout=timeout)

    def wait_thread_reply(
        self, card_ts: str, containing: str, channel: str = CHANNEL, timeout: float = 5.0
    ) -> Message:
        """Wait for a reply in the thread of ``card_ts`` whose text contains ``containing``."""
        return self.wait_for(
            lambda: [m for m in self.slack.thread(channel, card_ts) if containing in m.text],
            timeout,
        )[0]

    def wait_ephemeral(self, user: str, containing: str, timeout: float = 5.0) -> str:
        """Wait for an ephemeral to ``user`` whose text contains ``containing``; returns it."""
        return self.wait_for(
            lambda: [e.text for e in self.slack.ephemerals(user) if containing in e.text], timeout
        )[0]

    def fingerprint(self) -> str:
        """A digest of the fakes' visible state, to notice when the app is still working."""
        slack = self.slack
        state = {
            "calls": len(slack.calls()),
            "answers": len(slack.app_responses()),
            "coveo": len(self.coveo.requests()),
            "messages": [asdict(m) for c in slack.channels() for m in slack.messages(c.id)],
            "ephemerals": [asdict(e) for e in slack.ephemerals()],
            "views": [asdict(v) for v in slack.views()],
        }
        return json.dumps(state, sort_keys=True, default=str)

    def wait_idle(self, quiet: float = 0.2, timeout: float = 5.0) -> bool:
        """Wait until the app runs no listener task and the fakes' state has not changed for
        ``quiet`` seconds (the app's work after an ack is done), at most ``timeout`` seconds.
        Returns False on timeout."""
        deadline = time.monotonic() + timeout
        last = self.fingerprint()
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.03)
            current = self.fingerprint()
            if current != last or self.busy():
                last, stable_since = current, time.monotonic()
            elif time.monotonic() - stable_since >= quiet:
                return True
        return False

    def workspace(
        self,
        channel: str = CHANNEL,
        form_values: Mapping[str, Mapping[tuple[str, str], str]] | None = None,
    ) -> Workspace:
        """A snapshot of ``channel`` for :func:`bot.emulator.render.render_screen`."""
        slack = self.slack
        messages = slack.messages(channel)
        ephemerals = slack.ephemerals(channel_id=channel)
        views = slack.views()
        user_ids = set(self._users) | {m.user for m in messages if m.user}
        user_ids |= {e.user for e in ephemerals} | {v.user for v in views}
        texts = json.dumps(
            [[m.text, m.blocks] for m in messages]
            + [[e.text, e.blocks] for e in ephemerals]
            + [v.view for v in views]
        )
        user_ids |= set(_MENTION.findall(texts))
        return Workspace(
            channel=slack.channel(channel),
            messages=messages,
            ephemerals=ephemerals,
            views=views,
            users={user_id: slack.user_name(user_id) for user_id in user_ids},
            channels={c.id: c.name for c in slack.channels()},
            view_errors={v.id: slack.view_errors(v.id) for v in views},
            form_values=dict(form_values or {}),
        )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (to know ``PUBLIC_URL`` before listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sign_in_url(blocks: list[dict[str, Any]]) -> str | None:
    """The URL of the **Sign in with Coveo** button in ``blocks``, or None."""
    for block in blocks:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == ACTION_SIGN_IN:
                url = element.get("url")
                return url if isinstance(url, str) else None
    return None


def _has_action(blocks: list[dict[str, Any]], action_id: str | None) -> bool:
    """True when ``blocks`` hold a clickable element (with ``action_id``, when given)."""
    for block in blocks:
        elements: list[Any] = []
        if block.get("type") == "actions":
            elements = list(block.get("elements") or [])
        elif block.get("type") == "section" and block.get("accessory"):
            elements = [block["accessory"]]
        for element in elements:
            if isinstance(element, dict) and element.get("action_id"):
                if action_id is None or element.get("action_id") == action_id:
                    return True
    return False
