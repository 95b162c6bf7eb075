"""Local emulator of the Slack side of the app: Web API, response_url hooks and a signing client.

`FakeSlack` runs a real HTTP server on 127.0.0.1 (a `ThreadingHTTPServer` in a background
thread) and plays three roles for end-to-end tests and the text demo:

1. **Slack Web API** at ``{url}/api/<method>``.  Point the app's client at it with
   ``WebClient(token=..., base_url=fake.api_url)``.  It implements ``auth.test``,
   ``chat.postMessage``, ``chat.update``, ``chat.delete``, ``chat.postEphemeral``,
   ``views.open``, ``views.update``, ``views.push``, ``views.publish`` (the App Home, see
   `bot.emulator.slack_home`), ``conversations.info`` and ``users.info``,
   with Slack's error strings.  Every call is recorded as an `ApiCall`.
2. **response_url endpoints** at ``{url}/hooks/<opaque>``.  They are valid for 30 minutes
   and 5 uses (both configurable), and apply ``response_type`` / ``replace_original`` /
   ``delete_original`` / ``thread_ts`` the way Slack does.  Every post and its answer is
   recorded (`FakeSlack.hook_posts`).  ``chat.postMessage`` to a user ID is a direct message
   (`FakeSlack.direct_messages`; ``bot/emulator/slack_records.py``).
3. **The Slack client.**  `FakeSlack.send_command`, `FakeSlack.click` and
   `FakeSlack.submit_view` POST signed, form-encoded requests to ``{app_url}/slack/events``,
   the way Slack does.  They then apply the app's HTTP answer: an ack body becomes a
   message, and a view response_action closes, updates or keeps the modal open.
   `FakeSlack.open_home` sends a signed ``app_home_opened`` event (JSON, Events API) and
   `FakeSlack.click_home` a click on the user's published Home.  With
   `FakeSlack.app_transport` set (``bot.emulator.socket_mode``), all of them are delivered
   as Socket Mode envelopes instead and the ack is applied the same way.

The workspace state (channels, messages, threads, ephemerals, modals) sits behind one lock.
Use the query methods (`messages`, `thread`, `ephemerals`, `views`, `calls`,
`app_responses`) to inspect it.  They return deep copies.

Time: message timestamps come from a deterministic counter (``"1700000000.000100"``,
``"1700000000.000200"``, ...).  Expiry of trigger_ids (3 s) and response_urls (30 min) uses
``clock() + offset`` in seconds.  `FakeSlack.advance_clock` moves that offset.  The
request-signing timestamp always uses the real wall clock, because the app checks it.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from bot.emulator import slack_home
from bot.emulator.slack_records import DirectMessage, HookPost, Records, is_user_channel

__all__ = [
    "API_APP_ID",
    "BOT_ID",
    "RESPONSE_URL_MAX_USES",
    "RESPONSE_URL_TTL_SECONDS",
    "TRIGGER_TTL_SECONDS",
    "ApiCall",
    "AppResponse",
    "Channel",
    "DirectMessage",
    "Ephemeral",
    "FakeSlack",
    "HookPost",
    "Message",
    "OpenView",
    "sign_request",
]

T = TypeVar("T")

#: Seconds a trigger_id stays valid for views.open / views.push (Slack: 3 s).
TRIGGER_TTL_SECONDS = 3.0
#: Seconds a response_url stays valid (Slack: about 30 minutes).
RESPONSE_URL_TTL_SECONDS = 30 * 60.0
#: Number of POSTs a response_url accepts (Slack: 5).
RESPONSE_URL_MAX_USES = 5
#: The bot_id of the fake app's bot user (appears as ``bot_id`` on bot messages).
BOT_ID = "B0BOT00001"
#: The fake app's id (``api_app_id`` in payloads, ``app_id`` on bot messages).
API_APP_ID = "A0APP00001"

_TEAM_DOMAIN = "fake-team"
_TEAM_NAME = "Fake Team"
_BOT_NAME = "delete-org-bot"
_VERIFICATION_TOKEN = "fake-verification-token"  # noqa: S105 - deprecated dummy field, not a secret
_MAX_BLOCKS = 50
_MAX_PRIVATE_METADATA = 3000
_FIRST_TS_MICROS = 1_700_000_000_000_100
_TS_STEP_MICROS = 100
_JSON_FIELDS = ("blocks", "view", "attachments", "metadata")


def sign_request(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Return Slack's v0 signature for a request.

    The value is ``"v0=" + hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}"))``.  ``timestamp``
    is the ``X-Slack-Request-Timestamp`` header value (unix seconds, as a string).  ``body``
    is the raw request body, exactly the bytes that are sent.
    """
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return "v0=" + digest


# --------------------------------------------------------------------------------------
# Public state records
# --------------------------------------------------------------------------------------


@dataclass
class Channel:
    """A conversation in the fake workspace.

    ``kind`` is ``"public"``, ``"private"`` or ``"im"``.  ``bot_is_member`` controls
    ``not_in_channel`` / ``channel_not_found`` answers.  ``archived`` gives ``is_archived``.
    """

    id: str
    name: str
    kind: str = "public"
    bot_is_member: bool = True
    archived: bool = False


@dataclass
class Message:
    """A channel message or thread reply.

    ``ts`` is a Slack timestamp string (``"1700000000.000100"``).  ``user`` is the human
    author's id, or None for app messages (``bot`` is True then).  ``thread_ts`` is the
    parent's ts for thread replies and None for top-level messages.  ``via`` is ``"api"``
    for chat.postMessage, ``"response_url"`` for messages posted through a response_url
    or an in_channel ack body, and ``"user"`` for `FakeSlack.post_user_message`.
    ``edited`` turns True after chat.update or replace_original.
    """

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    user: str | None
    bot: bool
    thread_ts: str | None
    via: str
    edited: bool = False


@dataclass
class Ephemeral:
    """An ephemeral message shown only to ``user`` in ``channel``.

    ``ts`` is the ``message_ts`` Slack reports for it, and `FakeSlack.click` with
    ``ephemeral=True`` refers to that value.  ``response_url`` is a response_url bound to
    this ephemeral.  A fresh one is minted when the ephemeral is created and again on every
    click on it, and the field always holds the latest.  ``replace_original`` /
    ``delete_original`` posted to it edit or remove this ephemeral.
    """

    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]]
    ts: str
    thread_ts: str | None
    response_url: str


@dataclass
class OpenView:
    """A modal opened by the app (views.open / views.push / response_action push).

    ``view`` is the view JSON the app sent, as last opened or updated, without the fields
    Slack adds.  ``hash`` is the current view hash, which views.update checks when it is
    given.  ``closed`` turns True after a successful submission, a ``clear``, or
    `FakeSlack.close_view`.
    """

    id: str
    user: str
    view: dict[str, Any]
    trigger_id: str
    closed: bool = False
    hash: str = ""


@dataclass(frozen=True)
class ApiCall:
    """One Web API request received by the fake.

    ``method`` is e.g. ``"chat.postMessage"``.  ``params`` holds the query string, form
    fields or JSON body merged into one dict; the ``token`` field is removed, and
    JSON-encoded ``blocks`` / ``view`` form fields are decoded.  ``token`` comes from
    ``Authorization: Bearer`` or the ``token`` field, or is None.  ``at`` is the fake
    clock (unix seconds) when the call arrived.
    """

    method: str
    params: dict[str, Any]
    token: str | None
    at: float


@dataclass(frozen=True)
class AppResponse:
    """The app's HTTP answer to a request the fake sent as the Slack client.

    ``headers`` keys are lower-cased.  ``elapsed`` is the round-trip time in seconds.
    Slack gives up after 3 s.  ``kind`` is ``"command"``, ``"block_actions"``,
    ``"view_submission"``, ``"event"`` or ``"raw"``.
    """

    status: int
    body: str
    headers: dict[str, str]
    elapsed: float = 0.0
    kind: str = "raw"

    def json(self) -> Any:
        """Decode the body as JSON.  Raises ValueError if it is not JSON."""
        return json.loads(self.body)


# --------------------------------------------------------------------------------------
# Internal records
# --------------------------------------------------------------------------------------


class _ApiError(Exception):
    """A Web API error answered as ``{"ok": false, "error": <error>}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class _Trigger:
    user: str
    issued_at: float
    used: bool = False


@dataclass
class _Hook:
    """A response_url: who and where it came from, and what a replace would edit."""

    url: str
    kind: str  # "command" | "action"
    user: str
    channel: str
    issued_at: float
    target_ts: str | None = None  # clicked message (or ephemeral) ts
    target_ephemeral: bool = False
    uses: int = 0


@dataclass
class _Failure:
    method: str
    error: str
    remaining: int
    status: int
    retry_after: int | None
    channel: str | None


@dataclass
class _Reply:
    text: str
    blocks: list[dict[str, Any]]
    response_type: str
    thread_ts: str | None = None


_Result = tuple[int, dict[str, str], bytes]


def _json_result(payload: dict[str, Any], status: int = 200) -> _Result:
    data = json.dumps(payload).encode()
    return status, {"Content-Type": "application/json; charset=utf-8"}, data


def _text_result(status: int, text: str) -> _Result:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode()


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = ts.partition(".")
    try:
        return int(seconds), int(fraction.ljust(6, "0")[:6] or "0")
    except ValueError:
        return (0, 0)


def _validate_blocks(raw: Any) -> list[dict[str, Any]]:
    """Check a ``blocks`` argument.  Raises _ApiError like Slack does."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise _ApiError("invalid_blocks_format") from None
    if not isinstance(raw, list):
        raise _ApiError("invalid_blocks_format")
    if len(raw) > _MAX_BLOCKS:
        raise _ApiError("invalid_blocks")
    for block in raw:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _ApiError("invalid_blocks")
    return [dict(b) for b in raw]


def _content(
    data: dict[str, Any], *, require: bool
) -> tuple[str | None, list[dict[str, Any]] | None]:
    """Extract (text, blocks) from a request.  An absent field gives None."""
    text_raw = data.get("text")
    text = None if text_raw is None else str(text_raw)
    blocks = None if data.get("blocks") is None else _validate_blocks(data["blocks"])
    if require and not text and not blocks:
        raise _ApiError("no_text")
    return text, blocks


def _find_action(blocks: list[dict[str, Any]], action_id: str) -> tuple[dict[str, Any], str] | None:
    """Find the element with ``action_id`` in actions blocks or section accessories."""
    for index, block in enumerate(blocks):
        block_id = str(block.get("block_id") or f"fake-block-{index}")
        candidates: list[Any] = []
        if block.get("type") == "actions":
            candidates = list(block.get("elements") or [])
        elif block.get("type") == "section" and block.get("accessory"):
            candidates = [block["accessory"]]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element, block_id
    return None


def _find_option(element: dict[str, Any], value: str) -> dict[str, Any] | None:
    options: list[Any] = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        if isinstance(group, dict):
            options.extend(group.get("options") or [])
    for option in options:
        if isinstance(option, dict) and option.get("value") == value:
            return copy.deepcopy(option)
    return None


# --------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeSlack) -> None:
        super().__init__(address, _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def _dispatch(self, verb: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, out_headers, data = self.server.fake._route(verb, self.path, headers, body)
        except Exception as exc:  # pragma: no cover - a bug in the fake; surface it
            status, out_headers, data = _text_result(500, f"fake slack error: {exc!r}")
        self.send_response(status)
        for name, value in out_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""


# --------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------


class FakeSlack:
    """Emulates the Slack side over real HTTP on ``host:port``.  Port 0 picks a free port.

    Use it as a context manager (``with FakeSlack(signing_secret=...) as fake:``), or call
    `start` and `stop`.  ``app_url`` is the app's base URL (e.g. ``"http://127.0.0.1:3000"``).
    Client-side requests go to ``app_url + app_path``.  ``app_timeout`` is the socket
    timeout in seconds for those requests; if the app does not answer in time the socket
    error (``TimeoutError``) propagates.  ``clock`` returns unix seconds and drives the
    expiry of trigger_ids and response_urls (pass the app's clock to measure on it).
    ``response_url_ttl`` (seconds) and ``response_url_max_uses`` set a response_url's life
    (Slack: 30 minutes and 5 posts, slack-notes §1), shorter for fast tests.

    response_url answers: 200 ``"ok"``; 404 ``"expired_url"`` / ``"used_url"`` /
    ``"invalid_url"`` (unknown) / ``"message_not_found"`` (replace or delete of a message
    that is gone); 400 ``"invalid_payload"`` / ``"no_text"``.  ``delete_original`` on a
    slash command's response_url is a no-op (there is no original), like
    ``replace_original``, which posts a new message instead.
    """

    def __init__(
        self,
        *,
        signing_secret: str,
        bot_token: str = "xoxb-test-not-a-real-token",  # noqa: S107 - fake default
        team_id: str = "T0TEST0001",
        bot_user_id: str = "U0BOT00001",
        host: str = "127.0.0.1",
        port: int = 0,
        app_url: str | None = None,
        app_path: str = "/slack/events",
        app_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        response_url_ttl: float = RESPONSE_URL_TTL_SECONDS,
        response_url_max_uses: int = RESPONSE_URL_MAX_USES,
    ) -> None:
        """Configure the fake.  Nothing listens until `start` is called."""
        if not signing_secret:
            raise ValueError("signing_secret must be non-empty")
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.app_url = app_url
        self.app_path = app_path
        self.app_timeout = app_timeout
        self._host = host
        self._port = port
        self._clock = clock
        self._clock_offset = 0.0
        self.response_url_ttl = response_url_ttl
        self.response_url_max_uses = response_url_max_uses
        self._records = Records()
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ts_counter = _FIRST_TS_MICROS
        self._channels: dict[str, Channel] = {}
        self._users: dict[str, str] = {bot_user_id: _BOT_NAME}
        self._usergroups: dict[str, list[str]] = {}
        self._messages: list[Message] = []
        self._ephemerals: list[Ephemeral] = []
        self._views: dict[str, OpenView] = {}
        self._view_errors: dict[str, dict[str, str]] = {}
        self._calls: list[ApiCall] = []
        self._app_responses: list[AppResponse] = []
        self._triggers: dict[str, _Trigger] = {}
        self._hooks: dict[str, _Hook] = {}
        self._failures: list[_Failure] = []
        self._homes = slack_home.HomeTabs()
        self._extra_api: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {}
        self.app_transport: Callable[[bytes, str, str], AppResponse] | None = None
        """When set, client-side requests go through it instead of HTTP: it gets the form
        body, its content type and its kind (``command``, ``block_actions``,
        ``view_submission``, ``raw``) and returns the app's answer (Socket Mode:
        ``bot.emulator.socket_mode``)."""
        self._api: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._api_auth_test,
            "chat.postMessage": self._api_post_message,
            "chat.update": self._api_update,
            "chat.delete": self._api_delete,
            "chat.postEphemeral": self._api_post_ephemeral,
            "views.open": self._api_views_open,
            "views.push": self._api_views_open,
            "views.update": self._api_views_update,
            "views.publish": self._api_views_publish,
            "conversations.info": self._api_conversations_info,
            "users.info": self._api_users_info,
            "usergroups.users.list": self._api_usergroup_users,
        }

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeSlack:
        """Bind the server and serve it from a daemon thread.  Returns self."""
        if self._server is not None:
            raise RuntimeError("FakeSlack already started")
        server = _Server((self._host, self._port), self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-slack",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket.  Safe to call twice."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        """Start the server."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server."""
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the running fake, e.g. ``"http://127.0.0.1:54321"``."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = self._server.server_address[:2]
        host_str = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_str}:{port}"

    @property
    def api_url(self) -> str:
        """Web API base URL with a trailing slash: pass it to ``WebClient(base_url=...)``."""
        return self.url + "/api/"

    # ---------------------------------------------------------------- clock

    def now(self) -> float:
        """Current fake time in unix seconds: ``clock() + offset``."""
        return self._clock() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the fake clock forward, e.g. past a trigger_id or response_url expiry."""
        with self._lock:
            self._clock_offset += seconds

    def expire_response_urls(self) -> None:
        """Make every response_url issued so far expired (it then answers 404 ``expired_url``)."""
        with self._lock:
            for hook in self._hooks.values():
                hook.issued_at -= self.response_url_ttl + 1

    def expire_trigger_ids(self) -> None:
        """Make every trigger_id issued so far expired (views.open: ``expired_trigger_id``)."""
        with self._lock:
            for trigger in self._triggers.values():
                trigger.issued_at -= TRIGGER_TTL_SECONDS + 1

    # ---------------------------------------------------------------- workspace setup

    def add_channel(
        self, channel_id: str, name: str, *, kind: str = "public", bot_is_member: bool = True
    ) -> Channel:
        """Create (or replace) a conversation and return the live `Channel` record.

        ``kind`` is ``"public"``, ``"private"`` or ``"im"``.  Use `set_channel` to change the
        record later under the lock.
        """
        if kind not in ("public", "private", "im"):
            raise ValueError(f"unknown channel kind {kind!r}")
        channel = Channel(id=channel_id, name=name, kind=kind, bot_is_member=bot_is_member)
        with self._lock:
            self._channels[channel_id] = channel
        return channel

    def set_channel(
        self, channel_id: str, *, bot_is_member: bool | None = None, archived: bool | None = None
    ) -> Channel:
        """Change membership or archived state of a channel.  Returns a copy of it."""
        with self._lock:
            channel = self._get_channel(channel_id)
            if bot_is_member is not None:
                channel.bot_is_member = bot_is_member
            if archived is not None:
                channel.archived = archived
            return copy.deepcopy(channel)

    def channel(self, channel_id: str) -> Channel:
        """A copy of a channel.  Raises LookupError if it is unknown."""
        with self._lock:
            return copy.deepcopy(self._get_channel(channel_id))

    def channels(self) -> list[Channel]:
        """Copies of all channels, in creation order."""
        with self._lock:
            return copy.deepcopy(list(self._channels.values()))

    def add_user(self, user_id: str, name: str) -> None:
        """Register a user's display name.  It goes into ``user_name`` / ``user.name`` fields."""
        with self._lock:
            self._users[user_id] = name

    def set_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        """Create or replace a user group (``S…``) with these members."""
        with self._lock:
            self._usergroups[group_id] = list(user_ids)

    def user_name(self, user_id: str) -> str:
        """The registered name of a user, or the id itself if unknown."""
        with self._lock:
            return self._users.get(user_id, user_id)

    def post_user_message(
        self, user_id: str, channel_id: str, text: str, *, thread_ts: str | None = None
    ) -> Message:
        """Store a message written by a human user (no request to the app).  Returns a copy."""
        with self._lock:
            self._get_channel(channel_id)
            message = Message(
                channel=channel_id,
                ts=self._new_ts(),
                text=text,
                blocks=[],
                user=user_id,
                bot=False,
                thread_ts=self._thread_parent(channel_id, thread_ts),
                via="user",
            )
            self._messages.append(message)
            return copy.deepcopy(message)

    # ---------------------------------------------------------------- inspection

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Web API calls received so far (all, or only ``method``), in arrival order."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def direct_messages(self, user_id: str | None = None) -> list[DirectMessage]:
        """Direct messages the app posted (``chat.postMessage`` to a user ID), in order."""
        with self._lock:
            return self._records.dms(user_id)

    def hook_posts(self) -> list[HookPost]:
        """Every POST to a response_url with the fake's answer, in order."""
        with self._lock:
            return self._records.hook_posts()

    def clear_calls(self) -> None:
        """Forget the recorded Web API calls and app responses."""
        with self._lock:
            self._calls.clear()
            self._app_responses.clear()

    def app_responses(self) -> list[AppResponse]:
        """The app's HTTP answers to every request the fake sent it, in order."""
        with self._lock:
            return list(self._app_responses)

    def messages(self, channel_id: str, *, include_replies: bool = True) -> list[Message]:
        """Copies of the channel's messages in ts order.  Set ``include_replies=False`` to skip
        thread replies.
        """
        with self._lock:
            found = [
                m
                for m in self._messages
                if m.channel == channel_id and (include_replies or m.thread_ts is None)
            ]
            return copy.deepcopy(sorted(found, key=lambda m: _ts_key(m.ts)))

    def thread(self, channel_id: str, ts: str) -> list[Message]:
        """Copies of the replies whose ``thread_ts == ts``, in ts order.  The parent is not
        included.
        """
        with self._lock:
            found = [m for m in self._messages if m.channel == channel_id and m.thread_ts == ts]
            return copy.deepcopy(sorted(found, key=lambda m: _ts_key(m.ts)))

    def message(self, channel_id: str, ts: str) -> Message:
        """A copy of one message.  Raises LookupError if it does not exist (or was deleted)."""
        with self._lock:
            return copy.deepcopy(self._get_message(channel_id, ts))

    def ephemerals(
        self, user_id: str | None = None, channel_id: str | None = None
    ) -> list[Ephemeral]:
        """Copies of the ephemeral messages, optionally filtered, in creation order."""
        with self._lock:
            return copy.deepcopy(
                [
                    e
                    for e in self._ephemerals
                    if (user_id is None or e.user == user_id)
                    and (channel_id is None or e.channel == channel_id)
                ]
            )

    def views(self, user_id: str | None = None, *, open_only: bool = False) -> list[OpenView]:
        """Copies of the modals the app opened (closed ones too, unless ``open_only``)."""
        with self._lock:
            return copy.deepcopy(
                [
                    v
                    for v in self._views.values()
                    if (user_id is None or v.user == user_id) and not (open_only and v.closed)
                ]
            )

    def view(self, view_id: str) -> OpenView:
        """A copy of one modal.  Raises LookupError if unknown."""
        with self._lock:
            if view_id not in self._views:
                raise LookupError(f"no view {view_id}")
            return copy.deepcopy(self._views[view_id])

    def view_errors(self, view_id: str) -> dict[str, str]:
        """The errors (``{block_id: message}``) from the last ``response_action: errors``.
        Empty when there were none.
        """
        with self._lock:
            return dict(self._view_errors.get(view_id, {}))

    def close_view(self, user_id: str, view_id: str) -> None:
        """Simulate the user dismissing a modal.  The fake does not send ``view_closed``."""
        with self._lock:
            view = self._views.get(view_id)
            if view is None or view.user != user_id:
                raise LookupError(f"no view {view_id} for {user_id}")
            view.closed = True

    def home(self, user_id: str) -> slack_home.HomeView | None:
        """A copy of the App Home ``user_id`` sees now (the latest views.publish), or None."""
        with self._lock:
            return self._homes.latest(user_id)

    def homes(self, user_id: str) -> list[slack_home.HomeView]:
        """Copies of every App Home published for ``user_id``, oldest first."""
        with self._lock:
            return self._homes.history(user_id)

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.02
    ) -> T:
        """Poll ``predicate`` every ``interval`` seconds until it returns a truthy value.

        Returns that value.  A LookupError (KeyError or IndexError included) raised by the
        predicate counts as "not yet".  Raises AssertionError after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        last_error: LookupError | None = None
        while True:
            try:
                value = predicate()
            except LookupError as exc:
                last_error = exc
            else:
                if value:
                    return value
            if time.monotonic() >= deadline:
                detail = f" (last error: {last_error!r})" if last_error else ""
                raise AssertionError(f"condition not met within {timeout} s{detail}")
            time.sleep(interval)

    # ---------------------------------------------------------------- fault injection

    def fail_method(
        self,
        method: str,
        error: str,
        *,
        times: int = 1,
        status: int = 200,
        retry_after: int | None = None,
        channel: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of a Web API method fail with ``error``.

        With ``channel`` set, only calls whose ``channel`` param equals it count.  The answer
        is ``{"ok": false, "error": error}`` with HTTP ``status``.  For ``"ratelimited"`` a
        status of 200 becomes 429.  A 429 always carries ``Retry-After`` (``retry_after``
        seconds, default 1).  Canned failures take priority over everything else, auth
        included.
        """
        if error == "ratelimited" and status == 200:
            status = 429
        with self._lock:
            self._failures.append(_Failure(method, error, times, status, retry_after, channel))

    def add_api_method(
        self, method: str, handler: Callable[[dict[str, Any]], dict[str, Any]], *, token: str
    ) -> None:
        """Answer Web API ``method`` with ``handler(params)`` (merged into ``{"ok": true}``)
        for callers presenting ``token`` (e.g. an app-level ``xapp-`` token for
        ``apps.connections.open``); other tokens get ``invalid_auth``."""
        with self._lock:
            self._extra_api[method] = (token, handler)

    # ---------------------------------------------------------------- client side

    def send_command(
        self,
        user_id: str,
        channel_id: str,
        text: str,
        *,
        command: str = "/delete-org",
        enterprise_id: str | None = None,
    ) -> AppResponse:
        """Send the app a signed slash-command request, as if ``user_id`` typed it.

        ``text`` is passed through as-is, so give it the way Slack would deliver it
        (``&``, ``<``, ``>`` already escaped).  The request carries a fresh response_url
        (30 min, 5 uses) and a fresh trigger_id (3 s, single use).  A 200 answer with a body
        (plain text, or JSON ``{text, blocks, response_type}``) becomes an `Ephemeral` for
        the user, or a channel `Message` when ``response_type`` is ``"in_channel"``.
        Raises LookupError for an unknown channel.
        """
        with self._lock:
            channel = self._get_channel(channel_id)
            hook = self._issue_hook("command", user_id, channel_id)
            trigger_id = self._issue_trigger(user_id)
            fields: dict[str, str] = {
                "token": _VERIFICATION_TOKEN,
                "team_id": self.team_id,
                "team_domain": _TEAM_DOMAIN,
            }
            if enterprise_id is not None:
                fields["enterprise_id"] = enterprise_id
                fields["enterprise_name"] = "Fake Enterprise"
            fields.update(
                {
                    "channel_id": channel_id,
                    "channel_name": "directmessage" if channel.kind == "im" else channel.name,
                    "user_id": user_id,
                    "user_name": self._users.get(user_id, user_id),
                    "command": command,
                    "text": text,
                    "api_app_id": API_APP_ID,
                    "is_enterprise_install": "false",
                    "response_url": hook.url,
                    "trigger_id": trigger_id,
                }
            )
        body = urllib.parse.urlencode(fields).encode()
        response = self._post(body, "application/x-www-form-urlencoded", kind="command")
        if response.status == 200 and response.body.strip():
            reply = self._parse_ack_body(response)
            if reply is not None:
                with self._lock:
                    self._deliver_reply(reply, user_id, channel_id)
        return response

    def click(
        self,
        user_id: str,
        *,
        channel_id: str,
        message_ts: str,
        action_id: str,
        ephemeral: bool = False,
        value: str | None = None,
    ) -> AppResponse:
        """Click an element and send the block_actions request (see `build_click`)."""
        body = self.build_click(
            user_id,
            channel_id=channel_id,
            message_ts=message_ts,
            action_id=action_id,
            ephemeral=ephemeral,
            value=value,
        )
        return self.send_interaction(body)

    def send_interaction(self, body: bytes, *, app_url: str | None = None) -> AppResponse:
        """Send (or send again: a double click, a redelivery) a block_actions body built by
        `build_click`, freshly signed; ``app_url`` targets another app instance."""
        return self._post(
            body, "application/x-www-form-urlencoded", kind="block_actions", app_url=app_url
        )

    def build_click(
        self,
        user_id: str,
        *,
        channel_id: str,
        message_ts: str,
        action_id: str,
        ephemeral: bool = False,
        value: str | None = None,
    ) -> bytes:
        """Build the form body of a block_actions request for a click on a stored message.

        The element with ``action_id`` is searched in actions blocks and section accessories.
        With ``ephemeral=True``, ``message_ts`` is an `Ephemeral`'s ts, and the payload then
        has no ``message`` object.  ``value`` picks the option of a select or overflow
        element.  The payload's response_url is fresh and bound to the clicked message, so
        ``replace_original`` / ``delete_original`` edit it.  Raises LookupError if the
        message or the action does not exist.
        """
        with self._lock:
            channel = self._get_channel(channel_id)
            message_json: dict[str, Any] | None
            if ephemeral:
                eph = self._get_ephemeral(channel_id, message_ts, user_id)
                blocks = eph.blocks
                message_json = None
            else:
                msg = self._get_message(channel_id, message_ts)
                blocks = msg.blocks
                message_json = self._message_json(msg)
            found = _find_action(blocks, action_id)
            if found is None:
                raise LookupError(f"no element with action_id {action_id!r} in {message_ts}")
            element, block_id = found
            action = self._action_json(element, block_id, value)
            hook = self._issue_hook(
                "action", user_id, channel_id, target_ts=message_ts, target_ephemeral=ephemeral
            )
            if ephemeral:
                eph.response_url = hook.url
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": self._user_json(user_id),
                "api_app_id": API_APP_ID,
                "token": _VERIFICATION_TOKEN,
                "container": {
                    "type": "message",
                    "message_ts": message_ts,
                    "channel_id": channel_id,
                    "is_ephemeral": ephemeral,
                },
                "trigger_id": self._issue_trigger(user_id),
                "team": {"id": self.team_id, "domain": _TEAM_DOMAIN},
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {
                    "id": channel_id,
                    "name": "directmessage" if channel.kind == "im" else channel.name,
                },
            }
            if message_json is not None:
                payload["message"] = message_json
            payload["state"] = {"values": {}}
            payload["response_url"] = hook.url
            payload["actions"] = [action]
        return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()

    def submit_view(
        self, user_id: str, view_id: str, values: dict[str, dict[str, Any]]
    ) -> AppResponse:
        """Submit an open modal and apply the app's answer.

        ``values`` maps ``{block_id: {action_id: value}}``.  A str value becomes a
        ``plain_text_input`` state, or a ``static_select`` state (``selected_option``) when
        the view's element of that action_id is a static_select.  A dict value is used
        as the raw state entry.  Input blocks you leave out are sent empty (value None), as
        Slack does.  The app's answer is applied like this:

        - an empty 200 closes the view;
        - ``{"response_action": "errors", "errors": {...}}`` keeps it open and records the
          errors (see `view_errors`);
        - ``"update"`` replaces the view;
        - ``"push"`` opens another view;
        - ``"clear"`` closes all of the user's views;
        - a non-200 answer leaves the view open.

        Raises LookupError if the view is not open for that user.
        """
        with self._lock:
            view = self._views.get(view_id)
            if view is None or view.closed or view.user != user_id:
                raise LookupError(f"no open view {view_id} for {user_id}")
            state = self._build_state(view.view, values)
            view_json = self._view_json(view)
            view_json["state"] = {"values": state}
            payload: dict[str, Any] = {
                "type": "view_submission",
                "team": {"id": self.team_id, "domain": _TEAM_DOMAIN},
                "user": self._user_json(user_id),
                "api_app_id": API_APP_ID,
                "token": _VERIFICATION_TOKEN,
                "trigger_id": self._issue_trigger(user_id),
                "view": view_json,
                "response_urls": [],
                "enterprise": None,
                "is_enterprise_install": False,
            }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        response = self._post(body, "application/x-www-form-urlencoded", kind="view_submission")
        if response.status == 200:
            with self._lock:
                self._apply_view_response(user_id, view_id, response.body)
        return response

    def open_home(self, user_id: str, *, tab: str = "home") -> AppResponse:
        """``user_id`` opens the app's ``tab`` (``home`` or ``messages``): send the app a signed
        Events API ``app_home_opened`` (JSON, like Slack's HTTP deliveries)."""
        with self._lock:
            current = self._homes.latest(user_id)
            view = self._home_json(current) if current is not None else None
            body = slack_home.event_body(
                user_id=user_id,
                tab=tab,
                team_id=self.team_id,
                app_id=API_APP_ID,
                bot_user_id=self.bot_user_id,
                event_time=int(self.now()),
                view=view,
                verification_token=_VERIFICATION_TOKEN,
            )
        return self._post(body, "application/json", kind="event")

    def click_home(self, user_id: str, action_id: str, *, value: str | None = None) -> AppResponse:
        """Click the element ``action_id`` on ``user_id``'s current App Home (``value`` picks a
        select's option); the block_actions payload has no channel and no response_url.

        Raises:
            LookupError: no Home published for the user, or no such element on it.
        """
        with self._lock:
            current = self._homes.latest(user_id)
            if current is None:
                raise LookupError(f"no Home published for {user_id}")
            found = _find_action(list(current.view.get("blocks") or []), action_id)
            if found is None:
                raise LookupError(f"no element with action_id {action_id!r} on the Home")
            element, block_id = found
            payload = slack_home.click_payload(
                user=self._user_json(user_id),
                view=self._home_json(current),
                action=self._action_json(element, block_id, value),
                trigger_id=self._issue_trigger(user_id),
                team={"id": self.team_id, "domain": _TEAM_DOMAIN},
                app_id=API_APP_ID,
                verification_token=_VERIFICATION_TOKEN,
            )
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._post(body, "application/x-www-form-urlencoded", kind="block_actions")

    def post_signed(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> AppResponse:
        """POST a raw body to the app, signed with the signing secret unless ``signature``
        is given.

        ``timestamp`` is unix seconds (default: now).  Use this to send forged or stale
        requests.  The answer is recorded in `app_responses`.
        """
        return self._post(body, content_type, kind="raw", timestamp=timestamp, signature=signature)

    # ---------------------------------------------------------------- internals: client

    def _post(
        self,
        body: bytes,
        content_type: str,
        *,
        kind: str,
        timestamp: int | None = None,
        signature: str | None = None,
        app_url: str | None = None,
    ) -> AppResponse:
        if self.app_transport is not None and app_url is None:
            result = self.app_transport(body, content_type, kind)
            with self._lock:
                self._app_responses.append(result)
            return result
        base = app_url or self.app_url
        if not base:
            raise RuntimeError("FakeSlack.app_url is not set")
        target = urllib.parse.urlsplit(base.rstrip("/") + self.app_path)
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = signature if signature is not None else sign_request(self.signing_secret, ts, body)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        conn_cls = (
            http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_cls(target.netloc, timeout=self.app_timeout)
        path = target.path + (f"?{target.query}" if target.query else "")
        started = time.monotonic()
        try:
            conn.request("POST", path or "/", body=body, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            status = resp.status
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        result = AppResponse(
            status=status,
            body=raw.decode("utf-8", errors="replace"),
            headers=resp_headers,
            elapsed=time.monotonic() - started,
            kind=kind,
        )
        with self._lock:
            self._app_responses.append(result)
        return result

    def _parse_ack_body(self, response: AppResponse) -> _Reply | None:
        text = response.body
        content_type = response.headers.get("content-type", "")
        stripped = text.strip()
        if "json" in content_type or stripped.startswith("{"):
            try:
                data = json.loads(stripped)
            except ValueError:
                data = None
            if isinstance(data, dict):
                try:
                    msg_text, blocks = _content(data, require=False)
                except _ApiError:
                    return None
                if not msg_text and not blocks:
                    return None
                return _Reply(
                    text=msg_text or "",
                    blocks=blocks or [],
                    response_type=str(data.get("response_type") or "ephemeral"),
                )
        return _Reply(text=text, blocks=[], response_type="ephemeral")

    def _apply_view_response(self, user_id: str, view_id: str, body: str) -> None:
        view = self._views[view_id]
        data: Any = None
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                data = None
        action = data.get("response_action") if isinstance(data, dict) else None
        if action == "errors" and isinstance(data, dict):
            errors = data.get("errors") or {}
            self._view_errors[view_id] = {str(k): str(v) for k, v in dict(errors).items()}
            return
        self._view_errors.pop(view_id, None)
        if action == "update" and isinstance(data, dict) and isinstance(data.get("view"), dict):
            view.view = copy.deepcopy(data["view"])
            view.hash = self._new_hash()
        elif action == "push" and isinstance(data, dict) and isinstance(data.get("view"), dict):
            self._open_view(user_id, copy.deepcopy(data["view"]), view.trigger_id)
        elif action == "clear":
            for other in self._views.values():
                if other.user == user_id:
                    other.closed = True
        else:
            view.closed = True

    def _build_state(
        self, view: dict[str, Any], values: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        elements: dict[tuple[str, str], dict[str, Any]] = {}
        state: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks") or []:
            if not isinstance(block, dict) or block.get("type") != "input":
                continue
            element = block.get("element")
            if not isinstance(element, dict) or "block_id" not in block:
                continue
            block_id = str(block["block_id"])
            action_id = str(element.get("action_id") or "")
            elements[(block_id, action_id)] = element
            etype = str(element.get("type") or "plain_text_input")
            empty: dict[str, Any] = {"type": etype}
            if etype in ("static_select", "external_select"):
                empty["selected_option"] = None
            else:
                empty["value"] = None
            state.setdefault(block_id, {})[action_id] = empty
        for block_id, actions in values.items():
            for action_id, value in actions.items():
                element = elements.get((block_id, action_id), {})
                etype = str(element.get("type") or "plain_text_input")
                entry: dict[str, Any]
                if isinstance(value, dict):
                    entry = copy.deepcopy(value)
                elif etype in ("static_select", "external_select"):
                    option = _find_option(element, str(value)) or {
                        "text": {"type": "plain_text", "text": str(value), "emoji": True},
                        "value": str(value),
                    }
                    entry = {"type": etype, "selected_option": option}
                else:
                    entry = {"type": etype, "value": str(value)}
                state.setdefault(block_id, {})[action_id] = entry
        return state

    def _action_json(
        self, element: dict[str, Any], block_id: str, value: str | None
    ) -> dict[str, Any]:
        etype = str(element.get("type") or "button")
        action: dict[str, Any] = {
            "action_id": element["action_id"],
            "block_id": block_id,
            "type": etype,
            "action_ts": f"{time.time():.6f}",
        }
        if "text" in element:
            action["text"] = copy.deepcopy(element["text"])
        if "value" in element:
            action["value"] = element["value"]
        if element.get("style"):
            action["style"] = element["style"]
        if value is not None:
            option = _find_option(element, value)
            if option is None:
                raise LookupError(f"no option {value!r} in {element['action_id']!r}")
            action["selected_option"] = option
        return action

    # ---------------------------------------------------------------- internals: HTTP routing

    def _route(self, verb: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Result:
        parts = urllib.parse.urlsplit(raw_path)
        if parts.path.startswith("/api/"):
            return self._handle_api(parts.path[len("/api/") :], parts.query, headers, body)
        if parts.path.startswith("/hooks/") and verb == "POST":
            return self._handle_hook(parts.path[len("/hooks/") :], body)
        return _text_result(404, "not_found")

    def _parse_api_params(
        self, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[dict[str, Any], str | None, bool]:
        params: dict[str, Any] = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        content_type = headers.get("content-type", "")
        valid = True
        if body:
            if "json" in content_type:
                try:
                    data = json.loads(body)
                except ValueError:
                    data = None
                if isinstance(data, dict):
                    params.update(data)
                else:
                    valid = False
            else:
                form = urllib.parse.parse_qs(
                    body.decode("utf-8", "replace"), keep_blank_values=True
                )
                params.update({k: v[-1] for k, v in form.items()})
                for name in _JSON_FIELDS:
                    if isinstance(params.get(name), str):
                        try:
                            params[name] = json.loads(params[name])
                        except ValueError:
                            pass  # left as a str; validation answers invalid_*_format
        token: str | None = None
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[len("bearer ") :].strip()
        body_token = params.pop("token", None)
        if token is None and body_token is not None:
            token = str(body_token)
        return params, token, valid

    def _handle_api(self, method: str, query: str, headers: dict[str, str], body: bytes) -> _Result:
        params, token, valid = self._parse_api_params(query, headers, body)
        with self._lock:
            self._calls.append(ApiCall(method, copy.deepcopy(params), token, self.now()))
            failure = self._take_failure(method, params)
            if failure is not None:
                extra: dict[str, str] = {}
                if failure.retry_after is not None or failure.status == 429:
                    extra["Retry-After"] = str(
                        failure.retry_after if failure.retry_after is not None else 1
                    )
                status, out_headers, data = _json_result(
                    {"ok": False, "error": failure.error}, failure.status
                )
                return status, {**out_headers, **extra}, data
            if not valid:
                return _json_result({"ok": False, "error": "invalid_json"})
            if token is None:
                return _json_result({"ok": False, "error": "not_authed"})
            registered = self._extra_api.get(method)
            if registered is not None:
                if not hmac.compare_digest(token, registered[0]):
                    return _json_result({"ok": False, "error": "invalid_auth"})
                return _json_result({"ok": True, **registered[1](params)})
            if token != self.bot_token:
                return _json_result({"ok": False, "error": "invalid_auth"})
            handler = self._api.get(method)
            if handler is None:
                return _json_result({"ok": False, "error": "unknown_method"})
            try:
                return _json_result({"ok": True, **handler(params)})
            except _ApiError as exc:
                return _json_result({"ok": False, "error": exc.error})

    def _take_failure(self, method: str, params: dict[str, Any]) -> _Failure | None:
        for failure in self._failures:
            if failure.method != method or failure.remaining <= 0:
                continue
            if failure.channel is not None and params.get("channel") != failure.channel:
                continue
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.remove(failure)
            return failure
        return None

    def _handle_hook(self, token: str, body: bytes) -> _Result:
        with self._lock:
            hook = self._hooks.get(token)
            uses = hook.uses if hook is not None else 0
            result = self._answer_hook(hook, body)
            status, _, answer = result
            kind, channel = (hook.kind, hook.channel) if hook is not None else ("unknown", "")
            text = answer.decode("utf-8", "replace")
            post = HookPost(kind, channel, self.now(), uses, status, text)
            self._records.add_hook_post(post)
            return result

    def _answer_hook(self, hook: _Hook | None, body: bytes) -> _Result:
        with self._lock:
            if hook is None:
                return _text_result(404, "invalid_url")
            if self.now() - hook.issued_at > self.response_url_ttl:
                return _text_result(404, "expired_url")
            if hook.uses >= self.response_url_max_uses:
                return _text_result(404, "used_url")
            try:
                data = json.loads(body or b"null")
            except ValueError:
                data = None
            if not isinstance(data, dict):
                return _text_result(400, "invalid_payload")
            if _truthy(data.get("delete_original")):
                hook.uses += 1
                if hook.kind == "action" and not self._delete_target(hook):
                    return _text_result(404, "message_not_found")
                return _text_result(200, "ok")
            try:
                text, blocks = _content(data, require=True)
            except _ApiError as exc:
                return _text_result(400, exc.error)
            hook.uses += 1
            if _truthy(data.get("replace_original")) and hook.kind == "action":
                if not self._replace_target(hook, text or "", blocks or []):
                    return _text_result(404, "message_not_found")
                return _text_result(200, "ok")
            thread_ts = data.get("thread_ts")
            reply = _Reply(
                text=text or "",
                blocks=blocks or [],
                response_type=str(data.get("response_type") or "ephemeral"),
                thread_ts=str(thread_ts) if thread_ts else None,
            )
            self._deliver_reply(reply, hook.user, hook.channel)
            return _text_result(200, "ok")

    def _delete_target(self, hook: _Hook) -> bool:
        if hook.target_ephemeral:
            for eph in self._ephemerals:
                if eph.ts == hook.target_ts and eph.channel == hook.channel:
                    self._ephemerals.remove(eph)
                    return True
            return False
        for msg in self._messages:
            if msg.ts == hook.target_ts and msg.channel == hook.channel:
                self._messages.remove(msg)
                return True
        return False

    def _replace_target(self, hook: _Hook, text: str, blocks: list[dict[str, Any]]) -> bool:
        if hook.target_ephemeral:
            for eph in self._ephemerals:
                if eph.ts == hook.target_ts and eph.channel == hook.channel:
                    eph.text, eph.blocks = text, blocks
                    return True
            return False
        for msg in self._messages:
            if msg.ts == hook.target_ts and msg.channel == hook.channel:
                msg.text, msg.blocks, msg.edited = text, blocks, True
                return True
        return False

    def _deliver_reply(self, reply: _Reply, user_id: str, channel_id: str) -> None:
        """Post an ack body or response_url message: in_channel → Message, else Ephemeral."""
        if reply.response_type == "in_channel":
            self._messages.append(
                Message(
                    channel=channel_id,
                    ts=self._new_ts(),
                    text=reply.text,
                    blocks=reply.blocks,
                    user=None,
                    bot=True,
                    thread_ts=self._thread_parent(channel_id, reply.thread_ts),
                    via="response_url",
                )
            )
        else:
            self._store_ephemeral(channel_id, user_id, reply.text, reply.blocks, reply.thread_ts)

    # ---------------------------------------------------------------- internals: Web API

    def _api_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.test/",
            "team": _TEAM_NAME,
            "user": _BOT_NAME,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _api_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(params.get("channel") or "")
        if is_user_channel(channel_id) and channel_id not in self._channels:
            if channel_id not in self._users:
                raise _ApiError("channel_not_found")
            text, blocks = _content(params, require=True)
            return self._records.add_dm(
                channel_id, self._new_ts(), text or "", blocks or [], self.now()
            )
        self._check_postable(channel_id)
        text, blocks = _content(params, require=True)
        thread_ts: str | None = None
        if params.get("thread_ts"):
            parent = self._find_message(channel_id, str(params["thread_ts"]))
            if parent is None:
                raise _ApiError("thread_not_found")
            thread_ts = parent.thread_ts or parent.ts
        message = Message(
            channel=channel_id,
            ts=self._new_ts(),
            text=text or "",
            blocks=blocks or [],
            user=None,
            bot=True,
            thread_ts=thread_ts,
            via="api",
        )
        self._messages.append(message)
        return {"channel": channel_id, "ts": message.ts, "message": self._message_json(message)}

    def _api_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(params.get("channel") or "")
        self._check_postable(channel_id)
        message = self._find_message(channel_id, str(params.get("ts") or ""))
        if message is None:
            raise _ApiError("message_not_found")
        if not message.bot:
            raise _ApiError("cant_update_message")
        text, blocks = _content(params, require=False)
        if text is None and blocks is None:
            raise _ApiError("no_text")
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = blocks
        message.edited = True
        return {
            "channel": channel_id,
            "ts": message.ts,
            "text": message.text,
            "message": self._message_json(message),
        }

    def _api_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(params.get("channel") or "")
        self._check_postable(channel_id)
        message = self._find_message(channel_id, str(params.get("ts") or ""))
        if message is None:
            raise _ApiError("message_not_found")
        if not message.bot:
            raise _ApiError("cant_delete_message")
        self._messages.remove(message)
        return {"channel": channel_id, "ts": message.ts}

    def _api_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(params.get("channel") or "")
        self._check_postable(channel_id)
        user_id = str(params.get("user") or "")
        if not user_id:
            raise _ApiError("user_not_found")
        text, blocks = _content(params, require=True)
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        eph = self._store_ephemeral(channel_id, user_id, text or "", blocks or [], thread_ts)
        return {"message_ts": eph.ts}

    def _api_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger_id = str(params.get("trigger_id") or "")
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise _ApiError("invalid_trigger_id")
        if trigger.used:
            raise _ApiError("exchanged_trigger_id")
        if self.now() - trigger.issued_at > TRIGGER_TTL_SECONDS:
            raise _ApiError("expired_trigger_id")
        view = self._check_view(params.get("view"))
        trigger.used = True
        opened = self._open_view(trigger.user, view, trigger_id)
        return {"view": self._view_json(opened)}

    def _api_views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = str(params.get("view_id") or "")
        current = self._views.get(view_id)
        if current is None and params.get("external_id"):
            external = params["external_id"]
            current = next(
                (v for v in self._views.values() if v.view.get("external_id") == external), None
            )
        if current is None or current.closed:
            raise _ApiError("not_found")
        if params.get("hash") and params["hash"] != current.hash:
            raise _ApiError("hash_conflict")
        current.view = self._check_view(params.get("view"))
        current.hash = self._new_hash()
        self._view_errors.pop(current.id, None)
        return {"view": self._view_json(current)}

    def _api_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            published = self._homes.publish(params, set(self._users), self.now())
        except slack_home.HomeViewError as error:
            raise _ApiError(error.error) from None
        return {"view": self._home_json(published)}

    def _home_json(self, home: slack_home.HomeView) -> dict[str, Any]:
        return slack_home.view_json(home, team_id=self.team_id, app_id=API_APP_ID, bot_id=BOT_ID)

    def _api_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channels.get(str(params.get("channel") or ""))
        if channel is None or (channel.kind != "public" and not channel.bot_is_member):
            raise _ApiError("channel_not_found")
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": channel.kind == "public",
                "is_group": False,
                "is_im": channel.kind == "im",
                "is_private": channel.kind != "public",
                "is_archived": channel.archived,
                "is_member": channel.bot_is_member,
            }
        }

    def _api_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = str(params.get("user") or "")
        if user_id not in self._users:
            raise _ApiError("user_not_found")
        name = self._users[user_id]
        return {
            "user": {
                "id": user_id,
                "team_id": self.team_id,
                "name": name,
                "real_name": name,
                "is_bot": user_id == self.bot_user_id,
                "profile": {"display_name": name, "real_name": name},
            }
        }

    def _api_usergroup_users(self, params: dict[str, Any]) -> dict[str, Any]:
        group_id = str(params.get("usergroup") or "")
        if group_id not in self._usergroups:
            raise _ApiError("no_such_subteam")
        return {"users": list(self._usergroups[group_id])}

    def _check_postable(self, channel_id: str) -> Channel:
        channel = self._channels.get(channel_id)
        if channel is None or (channel.kind != "public" and not channel.bot_is_member):
            raise _ApiError("channel_not_found")
        if not channel.bot_is_member:
            raise _ApiError("not_in_channel")
        if channel.archived:
            raise _ApiError("is_archived")
        return channel

    def _check_view(self, raw: Any) -> dict[str, Any]:
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise _ApiError("invalid_arguments") from None
        if not isinstance(raw, dict) or raw.get("type") != "modal":
            raise _ApiError("invalid_arguments")
        if len(str(raw.get("private_metadata") or "")) > _MAX_PRIVATE_METADATA:
            raise _ApiError("invalid_arguments")
        if raw.get("blocks") is not None:
            _validate_blocks(raw["blocks"])
        return copy.deepcopy(raw)

    # ---------------------------------------------------------------- internals: state

    def _new_ts(self) -> str:
        seconds, micros = divmod(self._ts_counter, 1_000_000)
        self._ts_counter += _TS_STEP_MICROS
        return f"{seconds}.{micros:06d}"

    def _new_hash(self) -> str:
        return f"{int(self.now())}.{secrets.token_hex(4)}"

    def _issue_trigger(self, user_id: str) -> str:
        prefix = self._ts_counter // 1_000_000
        trigger_id = f"{prefix}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(user=user_id, issued_at=self.now())
        return trigger_id

    def _issue_hook(
        self,
        kind: str,
        user_id: str,
        channel_id: str,
        *,
        target_ts: str | None = None,
        target_ephemeral: bool = False,
    ) -> _Hook:
        token = f"{kind}s-{self.team_id}-{secrets.token_hex(12)}"
        hook = _Hook(
            url=f"{self.url}/hooks/{token}",
            kind=kind,
            user=user_id,
            channel=channel_id,
            issued_at=self.now(),
            target_ts=target_ts,
            target_ephemeral=target_ephemeral,
        )
        self._hooks[token] = hook
        return hook

    def _store_ephemeral(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None,
    ) -> Ephemeral:
        ts = self._new_ts()
        hook = self._issue_hook("action", user_id, channel_id, target_ts=ts, target_ephemeral=True)
        eph = Ephemeral(
            channel=channel_id,
            user=user_id,
            text=text,
            blocks=blocks,
            ts=ts,
            thread_ts=thread_ts,
            response_url=hook.url,
        )
        self._ephemerals.append(eph)
        return eph

    def _open_view(self, user_id: str, view: dict[str, Any], trigger_id: str) -> OpenView:
        view_id = "V" + secrets.token_hex(5).upper()
        opened = OpenView(
            id=view_id, user=user_id, view=view, trigger_id=trigger_id, hash=self._new_hash()
        )
        self._views[view_id] = opened
        return opened

    def _get_channel(self, channel_id: str) -> Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            raise LookupError(f"no channel {channel_id}")
        return channel

    def _find_message(self, channel_id: str, ts: str) -> Message | None:
        for message in self._messages:
            if message.channel == channel_id and message.ts == ts:
                return message
        return None

    def _get_message(self, channel_id: str, ts: str) -> Message:
        message = self._find_message(channel_id, ts)
        if message is None:
            raise LookupError(f"no message {ts} in {channel_id}")
        return message

    def _get_ephemeral(self, channel_id: str, ts: str, user_id: str) -> Ephemeral:
        for eph in self._ephemerals:
            if eph.channel == channel_id and eph.ts == ts and eph.user == user_id:
                return eph
        raise LookupError(f"no ephemeral {ts} for {user_id} in {channel_id}")

    def _thread_parent(self, channel_id: str, thread_ts: str | None) -> str | None:
        """Normalise a thread_ts: a reply's ts resolves to its parent's ts."""
        if not thread_ts:
            return None
        parent = self._find_message(channel_id, thread_ts)
        if parent is not None and parent.thread_ts:
            return parent.thread_ts
        return thread_ts

    def _user_json(self, user_id: str) -> dict[str, Any]:
        name = self._users.get(user_id, user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _message_json(self, message: Message) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": "message",
            "text": message.text,
            "ts": message.ts,
            "team": self.team_id,
            "blocks": copy.deepcopy(message.blocks),
        }
        if message.bot:
            data.update({"user": self.bot_user_id, "bot_id": BOT_ID, "app_id": API_APP_ID})
        elif message.user is not None:
            data["user"] = message.user
        if message.thread_ts is not None:
            data["thread_ts"] = message.thread_ts
        if message.edited:
            data["edited"] = {"user": self.bot_user_id, "ts": message.ts}
        return data

    def _view_json(self, view: OpenView) -> dict[str, Any]:
        data = copy.deepcopy(view.view)
        data.update(
            {
                "id": view.id,
                "team_id": self.team_id,
                "type": view.view.get("type", "modal"),
                "private_metadata": view.view.get("private_metadata", ""),
                "callback_id": view.view.get("callback_id", ""),
                "external_id": view.view.get("external_id", ""),
                "state": {"values": {}},
                "hash": view.hash,
                "root_view_id": view.id,
                "previous_view_id": None,
                "app_id": API_APP_ID,
                "app_installed_team_id": self.team_id,
                "bot_id": BOT_ID,
            }
        )
        return data
