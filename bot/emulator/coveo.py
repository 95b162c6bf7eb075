"""Local fake of the Coveo Platform API over real HTTP, for end-to-end tests, demos and manual runs.

`FakeCoveo` serves the handful of endpoints the bot uses (`POST /oauth/check_token`,
`GET /rest/organizations`, `GET /rest/organizations/{id}`, `DELETE /rest/organizations/{id}`,
and through `FakeCoveo.oauth` — `bot/emulator/coveo_oauth.py` — `/oauth/authorize` and
`/oauth/token`)
from an in-memory data set on 127.0.0.1, in a background thread. The answers follow the shapes
described in the team's Coveo API notes; where Coveo's real behaviour is unknown (error statuses
for DELETE, body shapes) the fake picks one plausible answer so the bot's handling can be tested.

Every request is recorded (`requests()`, `deletes()`, `wait_for_requests()`), and faults can be
injected: canned answers (`fail_next`), latency (`set_latency`) and hung or dropped connections
(`hang`). All state sits behind one lock, so tests may drive the fake from any thread.

Run by hand with ``python -m bot.emulator.coveo --port 8001`` (see `main`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Final, cast
from urllib.parse import parse_qs, unquote, urlsplit

from bot.emulator.coveo_oauth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FakeOAuth

__all__ = [
    "REGIONS",
    "FakeCoveo",
    "FakeOrganization",
    "FakeToken",
    "RecordedRequest",
    "demo_organizations",
    "demo_tokens",
    "main",
]

REGIONS: Final[frozenset[str]] = frozenset({"us", "eu", "au", "ca", "hipaa"})
"""Region names an organization or token may have; a token only sees orgs of its own region."""

TOKEN_KINDS: Final[frozenset[str]] = frozenset({"user", "api_key"})
"""Kinds of bearer token: a user's access token, or an (anonymous) API key."""

_HANG_ACTIONS: Final[frozenset[str]] = frozenset({"drop", "process"})
_ORG_PATH: Final[re.Pattern[str]] = re.compile(r"/rest/organizations/([^/]+)")
_ORG_STATUS_PATH: Final[re.Pattern[str]] = re.compile(r"/rest/organizations/([^/]+)/status")
_LIST_PATHS: Final[frozenset[str]] = frozenset({"/rest/organizations", "/rest/organizations/"})
# Any of these query parameters turns the list answer into a paged object (coveo-api.md §2).
_PAGING_PARAMS: Final[frozenset[str]] = frozenset(
    {"page", "perPage", "filter", "order", "sortBy", "type", "additionalFields"}
)
_DEFAULT_PER_PAGE: Final = 100
# How long stop() waits, in seconds, for connection threads to finish after closing their sockets.
_STOP_JOIN_SECONDS: Final = 1.5
# Idle keep-alive connections are closed after this many seconds without a new request.
_IDLE_TIMEOUT_SECONDS: Final = 60.0

JsonBody = dict[str, Any] | list[Any]


@dataclass
class FakeOrganization:
    """One Coveo organization held by the fake.

    `created_ms` is epoch milliseconds (as Coveo's `createdDate`). `type` is free text and is
    returned verbatim (Coveo mixes casings such as "Production" and "TRIAL"). A paused org is
    reported read-only too. `product_type` is what `license.productType` reports.

    Raises:
        ValueError: `region` is not one of `REGIONS`.
    """

    id: str
    display_name: str
    region: str = "us"
    type: str = "Production"
    owner_email: str = "owner@example.com"
    created_ms: int = 1_700_000_000_000
    read_only: bool = False
    paused: bool = False
    product_type: str = "STANDARD"

    def __post_init__(self) -> None:
        """Reject regions the fake does not know, so a typo cannot hide an org from every token."""
        if self.region not in REGIONS:
            raise ValueError(f"unknown region {self.region!r}; expected one of {sorted(REGIONS)}")


@dataclass
class FakeToken:
    """A bearer token the fake accepts, and what it may see and do.

    Tokens are region-scoped: they only see orgs whose `region` equals theirs. `can_view` lists
    the org ids the token may read (None: every org of its region); `can_edit` lists the org ids
    it may delete (None: every org it can view). `expires_at` is epoch seconds, reported by
    `/oauth/check_token` as `exp`; a token is treated as expired when `expired` is set or
    `expires_at` is in the past. `display_name` defaults to one derived from `email`.
    `kind="api_key"` tokens are anonymous: they can read but never delete an organization.

    Raises:
        ValueError: `region` is not one of `REGIONS` or `kind` is not one of `TOKEN_KINDS`.
    """

    token: str
    username: str
    email: str
    region: str = "us"
    kind: str = "user"
    expired: bool = False
    expires_at: float | None = None
    can_view: frozenset[str] | None = None
    can_edit: frozenset[str] | None = None
    display_name: str | None = None

    def __post_init__(self) -> None:
        """Validate `region` and `kind`, which are plain strings for ease of use."""
        if self.region not in REGIONS:
            raise ValueError(f"unknown region {self.region!r}; expected one of {sorted(REGIONS)}")
        if self.kind not in TOKEN_KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; expected one of {sorted(TOKEN_KINDS)}")

    def is_expired(self, now: float | None = None) -> bool:
        """Return True when the token is flagged expired or `expires_at` (epoch s) has passed."""
        if self.expired:
            return True
        if self.expires_at is None:
            return False
        return self.expires_at <= (time.time() if now is None else now)


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the fake received it (recorded even when the answer was faked).

    `path` excludes the query string, which is parsed into `query` (repeatable keys keep every
    value, in order). Header names are lower-cased; repeated headers are joined with ", ".
    `at` is `time.monotonic()` in seconds when the request was fully read. `request_id` is the
    `X-Request-ID` the fake sent (or would have sent) back.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float
    request_id: str = ""

    @property
    def bearer(self) -> str | None:
        """The token from an `Authorization: Bearer <token>` header, or None if absent/other."""
        value = self.headers.get("authorization", "")
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass
class _CannedRule:
    method: str
    pattern: re.Pattern[str]
    response: _Response
    remaining: int


@dataclass
class _LatencyRule:
    seconds: float
    method: str | None
    pattern: re.Pattern[str] | None


@dataclass
class _HangRule:
    method: str
    pattern: re.Pattern[str]
    seconds: float
    then: str
    remaining: int


def _json(status: int, payload: JsonBody) -> _Response:
    return _Response(status, json.dumps(payload).encode("utf-8"), "application/json")


def _error(status: int, code: str, message: str) -> _Response:
    """Coveo's most common error shape: `{"errorCode": ..., "message": ...}`."""
    return _json(status, {"errorCode": code, "message": message})


def _problem(status: int, title: str, detail: str) -> _Response:
    """The RFC-7807-like error shape some Coveo services use: `{"title": ..., "detail": ...}`."""
    return _json(status, {"title": title, "detail": detail})


def _method_matches(rule_method: str | None, method: str) -> bool:
    return rule_method is None or rule_method == "*" or rule_method.upper() == method.upper()


def _canned_response(
    status: int,
    body: bytes | str | JsonBody | None,
    headers: Mapping[str, str] | None,
) -> _Response:
    """Build a `fail_next` answer; the content type is guessed unless `headers` sets one."""
    content_type: str | None
    if body is None:
        raw, content_type = b"", None
    elif isinstance(body, dict | list):
        raw, content_type = json.dumps(body).encode("utf-8"), "application/json"
    else:
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        start = raw.lstrip()[:1]
        if start == b"<":
            content_type = "text/html; charset=utf-8"
        elif start in (b"{", b"["):
            content_type = "application/json"
        else:
            content_type = "text/plain; charset=utf-8"
    return _Response(status, raw, content_type, dict(headers or {}))


def _display_name(token: FakeToken) -> str:
    if token.display_name:
        return token.display_name
    local = (token.email or token.username).partition("@")[0]
    words = re.split(r"[._\-+]+", local)
    return " ".join(word.capitalize() for word in words if word) or token.username


def _wanted_fields(query: Mapping[str, list[str]]) -> set[str]:
    """`additionalFields` values; repeatable, and comma-separated values are accepted too."""
    wanted: set[str] = set()
    for value in query.get("additionalFields", []):
        wanted.update(part.strip() for part in value.split(",") if part.strip())
    return wanted


def _status_model(org: FakeOrganization) -> dict[str, Any]:
    state = "PAUSED" if org.paused else "ACTIVE"
    return {
        "lifeCycleState": state,
        "pauseState": state,
        "paused": org.paused,
        "readOnly": org.read_only or org.paused,
        "status": "HEALTHY",
        "errorCodes": [],
        "supportActivated": False,
        "provisioningStatus": {
            "currentProvisioningProgress": 100,
            "initialProvisioningDone": True,
            "lastProvisioningCompletedDate": org.created_ms,
            "ongoing": False,
            "status": "HEALTHY",
        },
    }


def _org_model(org: FakeOrganization, wanted: set[str]) -> dict[str, Any]:
    """OrganizationModel JSON; `wanted` holds requested `additionalFields` (status, license)."""
    model: dict[str, Any] = {
        "id": org.id,
        "displayName": org.display_name,
        "createdDate": org.created_ms,
        "publicContentOnly": False,
        "type": org.type,
        "owner": {"email": org.owner_email},
        "readOnly": org.read_only or org.paused,
        "configuration": {"servingExperimentAllowed": False},
    }
    if "status" in wanted:
        model["organizationStatusModel"] = _status_model(org)
    if "license" in wanted:
        model["license"] = {
            "productType": org.product_type,
            "productEdition": "ENTERPRISE",
            "expirationStatus": "ACTIVE",
            "type": org.type,
        }
    return model


def _form_field(headers: Mapping[str, str], body: bytes, name: str) -> str | None:
    """Read one field of a form-encoded or multipart/form-data body; None when absent."""
    content_type = headers.get("content-type", "")
    if content_type.lower().startswith("multipart/"):
        envelope = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        message = BytesParser(policy=policy.HTTP).parsebytes(envelope)
        if not message.is_multipart():
            return None
        for part in message.walk():
            if part.get_param("name", header="content-disposition") == name:
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    return payload.decode("utf-8", "replace")
        return None
    values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get(name)
    return values[0] if values else None


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with daemon threads that knows its FakeCoveo."""

    daemon_threads = True
    # stop() closes connections and joins handler threads itself, with a time limit; the stock
    # join in server_close() would wait forever on an idle keep-alive connection.
    block_on_close = False

    def __init__(self, address: tuple[str, int], fake: FakeCoveo) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() calls socket.getfqdn(), a reverse DNS lookup that can stall
        # for seconds in sandboxes; the fake never needs the server name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and go away, and sockets closed by stop(), are expected here.
        if isinstance(sys.exc_info()[1], OSError) or self.fake._stopping.is_set():
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Per-connection handler: reads a request, applies injected faults, answers."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeCoveo/1.0"
    sys_version = ""
    timeout = _IDLE_TIMEOUT_SECONDS
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (~40 ms per keep-alive request).
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return self.server_version

    @property
    def fake(self) -> FakeCoveo:
        return cast(_Server, self.server).fake

    def setup(self) -> None:
        super().setup()
        self.fake._register_connection(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake._unregister_connection(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.fake._verbose:
            sys.stderr.write(f"fake-coveo {self.address_string()} - {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Protocol-level failures answered by the stdlib (malformed request line, unsupported
        # method, oversized headers) still get a JSON body and an X-Request-ID. An unsupported
        # method is "anything else" for this fake, hence 404 rather than the stdlib's 501.
        self.close_connection = True
        if code == 501:
            response = _error(404, "NOT_FOUND", f"No fake Coveo endpoint for {self.command}.")
        else:
            response = _error(code, "BAD_REQUEST", message or explain or "Malformed request.")
        self._write(response, f"fake-{uuid.uuid4()}")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Skip trailers up to the blank line that ends the message.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        fake = self.fake
        request_id = f"fake-{uuid.uuid4()}"
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._write(_error(400, "INVALID_REQUEST", "Malformed request body."), request_id)
            return
        split = urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=headers,
            body=body,
            at=time.monotonic(),
            request_id=request_id,
        )
        hang, latency = fake._admit(request)
        if hang is not None:
            interrupted = fake._stopping.wait(hang.seconds)
            if hang.then == "drop" or interrupted:
                # Close without a status line: the client sees a dropped connection.
                self.close_connection = True
                return
        if latency > 0 and fake._stopping.wait(latency):
            self.close_connection = True
            return
        if fake._stopping.is_set():
            self.close_connection = True
            return
        response = fake._take_canned(request)
        if response is None:
            try:
                response = fake._handle(request)
            except Exception as exc:  # a bug in the fake must still answer, loudly
                traceback.print_exc()
                response = _error(500, "FAKE_COVEO_BUG", f"{type(exc).__name__}: {exc}")
        self._write(response, request_id)

    def _write(self, response: _Response, request_id: str) -> None:
        status = response.status
        has_body = status >= 200 and status not in (204, 304)
        extra = {name.lower(): (name, value) for name, value in response.headers.items()}
        try:
            self.send_response(status)
            if "x-request-id" not in extra:
                self.send_header("X-Request-ID", request_id)
            if response.content_type and has_body and "content-type" not in extra:
                self.send_header("Content-Type", response.content_type)
            if has_body and "content-length" not in extra:
                self.send_header("Content-Length", str(len(response.body)))
            for name, value in extra.values():
                self.send_header(name, value)
            self.end_headers()
            if has_body and getattr(self, "command", "") != "HEAD" and response.body:
                self.wfile.write(response.body)
            self.wfile.flush()
        except OSError:
            # The client gave up (e.g. its timeout fired during a hang or latency).
            self.close_connection = True


class FakeCoveo:
    """A fake Coveo Platform API listening on `host:port` (port 0 picks a free port).

    Use as a context manager, or call `start()` and `stop()`. Data is added with
    `add_organization` / `add_token` (or `seed_demo`); every request is recorded. Not restartable:
    after `stop()`, build a new instance.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False) -> None:
        """Prepare the fake; nothing listens until `start()`. `verbose` logs requests to stderr."""
        self._host = host
        self._port = port
        self._verbose = verbose
        self._cond = threading.Condition()
        self._orgs: dict[str, FakeOrganization] = {}
        self._tokens: dict[str, FakeToken] = {}
        self._requests: list[RecordedRequest] = []
        self._canned: list[_CannedRule] = []
        self._latency: list[_LatencyRule] = []
        self._hangs: list[_HangRule] = []
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._address: tuple[str, int] | None = None
        self.oauth = FakeOAuth(self)
        """The OAuth server part (clients, sign-in identities, codes, refresh tokens)."""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeCoveo:
        """Bind the socket and serve in a daemon thread; returns self.

        Raises:
            RuntimeError: already started (or stopped: instances are single-use).
            OSError: the address cannot be bound (e.g. port in use).
        """
        with self._cond:
            if self._server is not None or self._stopping.is_set():
                raise RuntimeError("FakeCoveo can only be started once")
            server = _Server((self._host, self._port), self)
            self._server = server
            self._address = (self._host, int(server.server_address[1]))
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fake-coveo-{self._address[1]}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop hung and idle connections, and close the socket (idempotent).

        Hung (`hang`) and delayed (`set_latency`) requests are woken and dropped without an
        answer. Returns within about two seconds even if handler threads misbehave.
        """
        with self._cond:
            server, thread = self._server, self._thread
            self._server = None
            self._thread = None
            self._stopping.set()
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            thread.join()
        deadline = time.monotonic() + _STOP_JOIN_SECONDS
        # Twice: a connection accepted just before shutdown() may register after the first pass.
        for _ in range(2):
            with self._cond:
                connections = list(self._connections.items())
            for conn, _thread in connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            for _conn, handler_thread in connections:
                handler_thread.join(max(0.0, deadline - time.monotonic()))
        server.server_close()

    def __enter__(self) -> FakeCoveo:
        """Start the server (see `start`)."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server (see `stop`)."""
        self.stop()

    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:54321`` (no trailing slash).

        Raises:
            RuntimeError: the fake was never started (the port is not known yet).
        """
        if self._address is None:
            raise RuntimeError("FakeCoveo.url is only known after start()")
        host, port = self._address
        return f"http://{host}:{port}"

    # -- data --------------------------------------------------------------------------------

    def add_organization(self, org: FakeOrganization) -> None:
        """Add an organization, replacing any with the same id (also re-creates a deleted one)."""
        with self._cond:
            self._orgs[org.id] = dataclasses.replace(org)

    def update_organization(self, org_id: str, **changes: Any) -> FakeOrganization:
        """Change fields of a stored org (e.g. ``paused=True``) and return the new value.

        Raises:
            KeyError: no such organization (never added, or deleted).
        """
        with self._cond:
            updated = dataclasses.replace(self._orgs[org_id], **changes)
            self._orgs[org_id] = updated
            return dataclasses.replace(updated)

    def add_token(self, token: FakeToken) -> None:
        """Add a bearer token, replacing any with the same token string."""
        with self._cond:
            self._tokens[token.token] = dataclasses.replace(token)

    def organization(self, org_id: str) -> FakeOrganization | None:
        """A copy of the stored org, or None if it was never added or has been deleted."""
        with self._cond:
            org = self._orgs.get(org_id)
            return None if org is None else dataclasses.replace(org)

    def organizations(self) -> list[FakeOrganization]:
        """Copies of every stored (not deleted) org, in insertion order."""
        with self._cond:
            return [dataclasses.replace(org) for org in self._orgs.values()]

    # -- recorded requests -------------------------------------------------------------------

    def requests(
        self, method: str | None = None, path_prefix: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests in arrival order, optionally filtered by method and path prefix."""
        with self._cond:
            return self._matching(method, path_prefix)

    def deletes(self, org_id: str | None = None) -> list[RecordedRequest]:
        """Recorded ``DELETE /rest/organizations/{id}`` requests (whatever their outcome).

        With `org_id`, only those aimed at that organization.
        """
        found = []
        for request in self.requests("DELETE"):
            match = _ORG_PATH.fullmatch(request.path)
            if match and (org_id is None or unquote(match.group(1)) == org_id):
                found.append(request)
        return found

    def wait_for_requests(
        self,
        n: int,
        method: str | None = None,
        path_prefix: str | None = None,
        timeout: float = 5.0,
    ) -> list[RecordedRequest]:
        """Block until at least `n` matching requests were recorded; return all matching ones.

        `timeout` is in seconds.

        Raises:
            AssertionError: fewer than `n` matching requests arrived within `timeout`; the
                message lists what was recorded.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self._matching(method, path_prefix)
                if len(found) >= n:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [f"{r.method} {r.path}" for r in self._requests[-20:]]
                    raise AssertionError(
                        f"FakeCoveo: timed out after {timeout:g}s waiting for {n} request(s)"
                        f" with method={method!r} path_prefix={path_prefix!r};"
                        f" {len(found)} matched. Last recorded requests: {seen or 'none'}"
                    )
                self._cond.wait(remaining)

    # -- fault injection ---------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        body: bytes | str | JsonBody | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` matching requests with a canned response.

        A request matches when its method equals `method` (case-insensitive; "*" = any) and
        `re.search(path_pattern, path)` succeeds (path without query string). Canned answers
        take priority over normal handling; the request is still recorded. A dict/list `body`
        is sent as JSON; a str/bytes body is sent as text/html when it starts with "<", as JSON
        when it starts with "{" or "[", else as text/plain. `headers` (e.g. ``Retry-After``)
        are added and may override the content type. Rules are used in the order added.

        Raises:
            ValueError: `times` < 1. re.error: invalid `path_pattern`.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        rule = _CannedRule(
            method.upper(),
            re.compile(path_pattern),
            _canned_response(status, body, headers),
            times,
        )
        with self._cond:
            self._canned.append(rule)

    def set_latency(
        self, seconds: float, method: str | None = None, path_pattern: str | None = None
    ) -> None:
        """Delay every matching request by `seconds` before answering (None = match anything).

        Calling again with the same `method`/`path_pattern` replaces that rule; `seconds=0`
        removes it, and ``set_latency(0)`` with no filters removes every latency rule. When
        several rules match, the longest delay applies. Delays are cut short by `stop()`.

        Raises:
            ValueError: negative `seconds`. re.error: invalid `path_pattern`.
        """
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        pattern = None if path_pattern is None else re.compile(path_pattern)
        key_method = None if method is None else method.upper()
        with self._cond:
            if seconds == 0 and method is None and path_pattern is None:
                self._latency.clear()
                return
            self._latency = [
                rule
                for rule in self._latency
                if not (
                    rule.method == key_method
                    and (rule.pattern.pattern if rule.pattern else None) == path_pattern
                )
            ]
            if seconds > 0:
                self._latency.append(_LatencyRule(seconds, key_method, pattern))

    def hang(
        self,
        method: str,
        path_pattern: str,
        seconds: float,
        *,
        then: str = "drop",
        times: int = 1,
    ) -> None:
        """Hold the next `times` matching requests for `seconds` (matching as in `fail_next`).

        Afterwards ``then="drop"`` closes the connection without any answer, and
        ``then="process"`` handles the request normally (so e.g. a DELETE completes
        server-side after the client already gave up). `stop()` interrupts the wait; the
        request is then dropped in both modes.

        Raises:
            ValueError: `then` is not "drop"/"process", `times` < 1 or `seconds` < 0.
        """
        if then not in _HANG_ACTIONS:
            raise ValueError(f"then must be one of {sorted(_HANG_ACTIONS)}, not {then!r}")
        if times < 1:
            raise ValueError("times must be >= 1")
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        rule = _HangRule(method.upper(), re.compile(path_pattern), seconds, then, times)
        with self._cond:
            self._hangs.append(rule)

    # -- demo data ---------------------------------------------------------------------------

    def seed_demo(self) -> dict[str, str]:
        """Add the invented demo orgs and tokens (see `demo_organizations`, `demo_tokens`);
        each live user token is also an identity of the sign-in page (``oauth``).

        Returns {name: token string}, e.g. {"admin_us": "fake-coveo-token-admin-us-0001", ...}.
        """
        tokens = demo_tokens()
        for org in demo_organizations():
            self.add_organization(org)
        for name, token in tokens.items():
            self.add_token(token)
            if token.kind == "user" and not token.is_expired():
                self.oauth.add_identity(name, token)
        return {name: token.token for name, token in tokens.items()}

    # -- internals (called from handler threads) ---------------------------------------------

    def _register_connection(self, conn: socket.socket) -> None:
        with self._cond:
            self._connections[conn] = threading.current_thread()

    def _unregister_connection(self, conn: socket.socket) -> None:
        with self._cond:
            self._connections.pop(conn, None)

    def _matching(self, method: str | None, path_prefix: str | None) -> list[RecordedRequest]:
        return [
            r
            for r in self._requests
            if _method_matches(method, r.method)
            and (path_prefix is None or r.path.startswith(path_prefix))
        ]

    def _admit(self, request: RecordedRequest) -> tuple[_HangRule | None, float]:
        """Record the request; consume a matching hang rule and compute its latency (s)."""
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()
            hang = None
            for rule in self._hangs:
                if _method_matches(rule.method, request.method) and rule.pattern.search(
                    request.path
                ):
                    hang = dataclasses.replace(rule)
                    rule.remaining -= 1
                    break
            self._hangs = [rule for rule in self._hangs if rule.remaining > 0]
            latency = max(
                (
                    rule.seconds
                    for rule in self._latency
                    if _method_matches(rule.method, request.method)
                    and (rule.pattern is None or rule.pattern.search(request.path))
                ),
                default=0.0,
            )
            return hang, latency

    def _take_canned(self, request: RecordedRequest) -> _Response | None:
        with self._cond:
            for rule in self._canned:
                if _method_matches(rule.method, request.method) and rule.pattern.search(
                    request.path
                ):
                    rule.remaining -= 1
                    self._canned = [r for r in self._canned if r.remaining > 0]
                    return rule.response
            return None

    def _handle(self, request: RecordedRequest) -> _Response:
        method, path = request.method, request.path
        answer = self.oauth.handle(request)
        if answer is not None:
            return _Response(answer.status, answer.body, answer.content_type, answer.headers)
        if method == "POST" and path == "/oauth/check_token":
            return self._check_token(request)
        if method == "GET" and path in _LIST_PATHS:
            return self._list_organizations(request)
        match = _ORG_PATH.fullmatch(path)
        if match and method in ("GET", "HEAD"):
            return self._get_organization(request, unquote(match.group(1)))
        if match and method == "DELETE":
            return self._delete_organization(request, unquote(match.group(1)))
        match = _ORG_STATUS_PATH.fullmatch(path)
        if match and method == "GET":
            return self._get_organization(request, unquote(match.group(1)), status_only=True)
        return _error(404, "NOT_FOUND", f"No fake Coveo endpoint for {method} {path}.")

    def _authenticate(self, request: RecordedRequest) -> FakeToken | _Response:
        """The caller's token (a copy), or the 401 answer. Call with the lock held."""
        bearer = request.bearer
        if bearer is None:
            return _error(401, "UNAUTHORIZED", "Full authentication is required.")
        token = self._tokens.get(bearer)
        if token is None or token.is_expired():
            return _error(401, "INVALID_TOKEN", "The access token is invalid or has expired.")
        return token

    @staticmethod
    def _can_view(token: FakeToken, org: FakeOrganization) -> bool:
        return token.region == org.region and (token.can_view is None or org.id in token.can_view)

    @classmethod
    def _can_edit(cls, token: FakeToken, org: FakeOrganization) -> bool:
        return cls._can_view(token, org) and (token.can_edit is None or org.id in token.can_edit)

    def _check_token(self, request: RecordedRequest) -> _Response:
        value = _form_field(request.headers, request.body, "token")
        if value is None and request.query.get("token"):
            value = request.query["token"][0]
        if not value:
            return _json(400, {"error": "invalid_request", "error_description": "Missing token"})
        with self._cond:
            token = self._tokens.get(value)
            if token is None or token.is_expired():
                return _json(
                    400,
                    {"error": "invalid_token", "error_description": "Token was not recognised"},
                )
            if token.kind == "api_key":
                return _json(
                    200, {"active": True, "authentication": {"anonymous": True, "username": None}}
                )
            payload: dict[str, Any] = {"active": True, "user_name": token.username}
            if token.expires_at is not None:
                payload["exp"] = int(token.expires_at)
            payload["authentication"] = {
                "username": token.username,
                "email": token.email,
                "displayName": _display_name(token),
            }
            return _json(200, payload)

    def _list_organizations(self, request: RecordedRequest) -> _Response:
        with self._cond:
            token = self._authenticate(request)
            if isinstance(token, _Response):
                return token
            visible = [org for org in self._orgs.values() if self._can_view(token, org)]
        query = request.query
        if not _PAGING_PARAMS & set(query):
            return _json(200, [_org_model(org, set()) for org in visible])
        # Paged variant (coveo-api.md §2): any paging/filter parameter yields an object.
        text = (query.get("filter") or [""])[0].lower()
        wanted_type = (query.get("type") or [""])[0].lower()
        selected = [
            org
            for org in visible
            if (not text or text in org.id.lower() or text in org.display_name.lower())
            and (not wanted_type or org.type.lower() == wanted_type)
        ]
        sort_keys: dict[str, Any] = {
            "id": lambda o: o.id,
            "createdDate": lambda o: o.created_ms,
            "type": lambda o: o.type.lower(),
        }
        sort_by = (query.get("sortBy") or ["displayName"])[0]
        selected.sort(key=sort_keys.get(sort_by, lambda o: o.display_name.lower()))
        if (query.get("order") or ["asc"])[0].lower() == "desc":
            selected.reverse()
        try:
            page = max(0, int((query.get("page") or ["0"])[0]))
            per_page = max(1, int((query.get("perPage") or [str(_DEFAULT_PER_PAGE)])[0]))
        except ValueError:
            return _error(400, "INVALID_PARAMETER", "page and perPage must be integers.")
        wanted = _wanted_fields(query)
        items = [_org_model(o, wanted) for o in selected[page * per_page : (page + 1) * per_page]]
        total_pages = (len(selected) + per_page - 1) // per_page
        return _json(
            200, {"items": items, "totalEntries": len(selected), "totalPages": total_pages}
        )

    def _get_organization(
        self, request: RecordedRequest, org_id: str, *, status_only: bool = False
    ) -> _Response:
        with self._cond:
            token = self._authenticate(request)
            if isinstance(token, _Response):
                return token
            org = self._orgs.get(org_id)
            if org is None:
                return _error(
                    404, "ORGANIZATION_NOT_FOUND", f"Organization '{org_id}' does not exist."
                )
            if not self._can_view(token, org):
                return _error(
                    403, "ACCESS_DENIED", f"You do not have access to organization '{org_id}'."
                )
            if status_only:
                return _json(200, _status_model(org))
            return _json(200, _org_model(org, _wanted_fields(request.query)))

    def _delete_organization(self, request: RecordedRequest, org_id: str) -> _Response:
        with self._cond:
            token = self._authenticate(request)
            if isinstance(token, _Response):
                return token
            org = self._orgs.get(org_id)
            if org is None:
                return _error(
                    404, "ORGANIZATION_NOT_FOUND", f"Organization '{org_id}' does not exist."
                )
            if not self._can_view(token, org):
                return _error(
                    403, "ACCESS_DENIED", f"You do not have access to organization '{org_id}'."
                )
            if token.kind == "api_key":
                return _json(
                    403,
                    {
                        "type": "OPERATION_FORBIDDEN_FOR_ANONYMOUS_AUTHENTICATION",
                        "message": "Deleting an organization requires a user access token;"
                        " API keys are not allowed.",
                    },
                )
            if not self._can_edit(token, org):
                return _problem(
                    403,
                    "ACCESS_DENIED",
                    f"Deleting organization '{org_id}' requires the Organization - Edit privilege.",
                )
            if org.paused:
                return _error(
                    400,
                    "ORGANIZATION_IS_PAUSED",
                    f"Organization '{org_id}' is paused; resume it before deleting it.",
                )
            if org.read_only:
                return _problem(
                    412,
                    "OPERATION_FORBIDDEN_FOR_ORGANIZATION_IN_READ_ONLY",
                    f"Organization '{org_id}' is in read-only mode and cannot be deleted.",
                )
            del self._orgs[org_id]
            return _Response(204)


def demo_organizations() -> list[FakeOrganization]:
    """The invented demo organizations added by `FakeCoveo.seed_demo`.

    Covers every region, the types Production/TRIAL/Sandbox, one read-only and one paused org.
    """
    return [
        FakeOrganization("exampleprodus4k7q2m", "Example Production (US)", "us", "Production",
                         "owner@example.com", 1_650_000_000_000),
        FakeOrganization("exampletrialus8p3d1x", "Example Trial (US)", "us", "TRIAL",
                         "alice@example.com", 1_720_000_000_000, product_type="TRIAL"),
        FakeOrganization("examplesandboxus2r9t5w", "Example Sandbox (US)", "us", "Sandbox",
                         "alice@example.com", 1_730_000_000_000, product_type="SANDBOX"),
        FakeOrganization("examplereadonlyus6h2j8c", "Example Expired Trial (US, read-only)", "us",
                         "TRIAL", "bob@example.com", 1_700_000_000_000, read_only=True,
                         product_type="TRIAL"),
        FakeOrganization("examplepausedus3n5v7b", "Example Paused Test (US)", "us", "Test",
                         "bob@example.com", 1_710_000_000_000, paused=True, product_type="TEST"),
        FakeOrganization("exampleprodeu9f4g6z", "Example Production (EU)", "eu", "Production",
                         "owner@example.com", 1_660_000_000_000),
        FakeOrganization("examplesandboxeu1c8k3y", "Example Sandbox (EU)", "eu", "Sandbox",
                         "dave@example.com", 1_735_000_000_000, product_type="SANDBOX"),
        FakeOrganization("exampletrialau7m2w4e", "Example Trial (AU)", "au", "TRIAL",
                         "erin@example.com", 1_725_000_000_000, product_type="TRIAL"),
        FakeOrganization("exampleprodca5t1s9u", "Example Production (CA)", "ca", "Production",
                         "owner@example.com", 1_670_000_000_000),
        FakeOrganization("examplehipaa0b6n2q", "Example Health (HIPAA)", "hipaa", "Production",
                         "owner@example.com", 1_680_000_000_000),
    ]  # fmt: skip


def demo_tokens(now: float | None = None) -> dict[str, FakeToken]:
    """The invented demo tokens added by `FakeCoveo.seed_demo`, keyed by name.

    admin_us/admin_eu/admin_au/admin_ca/admin_hipaa may view and delete every org of their region;
    viewer_us may view every US org but delete none; scoped_us sees only the US trial and sandbox
    orgs and may delete only the sandbox; expired is rejected; api_key is an anonymous key that
    sees only the US sandbox org. `now` (epoch s) anchors the `expires_at` values.
    """
    now = time.time() if now is None else now
    day, hours_4 = 24 * 3600.0, 4 * 3600.0
    return {
        "admin_us": FakeToken("fake-coveo-token-admin-us-0001", "alice@example.com",
                              "alice@example.com", "us", expires_at=now + day),
        "viewer_us": FakeToken("fake-coveo-token-viewer-us-0002", "bob@example.com",
                               "bob@example.com", "us", expires_at=now + hours_4,
                               can_edit=frozenset()),
        "scoped_us": FakeToken("fake-coveo-token-scoped-us-0003", "carol@example.com",
                               "carol@example.com", "us", expires_at=now + hours_4,
                               can_view=frozenset({"exampletrialus8p3d1x",
                                                   "examplesandboxus2r9t5w"}),
                               can_edit=frozenset({"examplesandboxus2r9t5w"})),
        "expired": FakeToken("fake-coveo-token-expired-us-0004", "frank@example.com",
                             "frank@example.com", "us", expired=True, expires_at=now - 3600),
        "api_key": FakeToken("fake-coveo-apikey-us-0005", "apikey", "", "us", kind="api_key",
                             can_view=frozenset({"examplesandboxus2r9t5w"})),
        "admin_eu": FakeToken("fake-coveo-token-admin-eu-0006", "dave@example.com",
                              "dave@example.com", "eu", expires_at=now + day),
        "admin_au": FakeToken("fake-coveo-token-admin-au-0007", "erin@example.com",
                              "erin@example.com", "au", expires_at=now + day),
        "admin_ca": FakeToken("fake-coveo-token-admin-ca-0008", "grace@example.com",
                              "grace@example.com", "ca", expires_at=now + day),
        "admin_hipaa": FakeToken("fake-coveo-token-admin-hipaa-0009", "heidi@example.com",
                                 "heidi@example.com", "hipaa", expires_at=now + day),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Serve the fake with demo data until Ctrl-C or SIGTERM; print its URL and demo tokens.

    Options: --host (default 127.0.0.1), --port (default 8001; 0 picks a free one), --quiet
    (no per-request log on stderr). Returns 0 after a clean stop, 1 if the port cannot be bound.
    """
    parser = argparse.ArgumentParser(
        prog="delete-org-bot fake-coveo",
        description="Serve a local fake of the Coveo Platform API with invented demo data.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port (default 8001; 0 = any)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request to stderr")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        help="register the demo OAuth client for this redirect URI (repeatable), e.g."
        " http://127.0.0.1:3000/coveo/oauth/callback",
    )
    args = parser.parse_args(argv)

    fake = FakeCoveo(args.host, args.port, verbose=not args.quiet)
    try:
        fake.start()
    except OSError as exc:
        print(f"fake-coveo: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop_requested = threading.Event()
    previous: Any = None
    installed = False
    try:
        tokens = fake.seed_demo()
        print(f"Fake Coveo Platform API listening on {fake.url}", flush=True)
        if args.redirect_uri:
            fake.oauth.register_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, args.redirect_uri)
            print(
                f"OAuth client: COVEO_OAUTH_CLIENT_ID={DEMO_CLIENT_ID}"
                f" COVEO_OAUTH_CLIENT_SECRET={DEMO_CLIENT_SECRET}"
                f" for {', '.join(args.redirect_uri)}"
            )
        print("Demo tokens (Authorization: Bearer <token>):")
        for name, value in tokens.items():
            print(f"  {name:<12} {value}")
        print("Demo organizations:")
        for org in fake.organizations():
            flags = " (read-only)" if org.read_only else " (paused)" if org.paused else ""
            print(f"  {org.region:<6} {org.type:<11} {org.id}{flags}")
        print("Press Ctrl-C to stop.", flush=True)

        def _on_sigterm(signum: int, frame: FrameType | None) -> None:
            stop_requested.set()

        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
            installed = True
        try:
            while not stop_requested.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        fake.stop()
    print("Fake Coveo stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
