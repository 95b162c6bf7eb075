"""Local fake of Slack's Socket Mode: a WebSocket server on 127.0.0.1 that the real app connects
to, plus ``apps.connections.open`` answered by the fake Web API (`FakeSlack`).

Needs the ``test`` extra (``websockets``, imported here at module import time). Nothing the
installed ``delete-org-bot`` runs (the app, ``demo``, ``console``) imports this module: the
demo and console drive the app over HTTP.

What it does, as Slack does it (facts from slack_sdk 3.48.0's client, which is what the app
runs; slack-notes §1 says the slash command fields arrive "as a JSON object
inside the WebSocket envelope" and §3 that ``retry_attempt``/``retry_reason`` are Events API
fields):

- ``apps.connections.open`` (called with the app-level ``xapp-`` token; others get
  ``invalid_auth``) returns ``{"ok": true, "url": "ws://127.0.0.1:<port>/link/?ticket=…"}``;
  here each URL admits one connection. slack_sdk's built-in client speaks plain ``ws`` to any port
  other than 443 (``socket_mode/builtin/internals.py`` ``_establish_new_socket_connection``).
- On connect: ``{"type": "hello", "num_connections": N, "connection_info": {"app_id": …},
  "debug_info": {…}}``. The SDK does not read it (the field names follow Slack's Socket Mode
  page, ``docs.slack.dev/apis/events-api/using-socket-mode``, linked from the SDK's
  ``socket_mode/builtin/client.py``; not verified against live Slack).
- Envelopes: ``{"envelope_id", "type", "payload", "accepts_response_payload"}`` with ``type``
  ``slash_commands`` (payload: the command's fields), ``interactive`` (payload: the
  block_actions or view_submission object) or ``events_api`` (payload: the ``event_callback``;
  also ``retry_attempt``/``retry_reason``). A redelivery has the same ``envelope_id`` and
  ``retry_attempt`` one higher. ``accepts_response_payload`` is true here for slash commands
  and view submissions, false otherwise (Slack's page; not verified). The SDK needs ``type``,
  ``envelope_id`` and ``payload`` (``socket_mode/request.py`` ``SocketModeRequest.from_dict``).
- Acks from the app: ``{"envelope_id", "payload"?}`` (``socket_mode/response.py``), recorded as
  `Ack`.
- ``{"type": "disconnect", "reason": "refresh_requested" | "warning" | …}`` (reasons from
  Slack's page, not verified): the SDK opens a
  new connection through ``apps.connections.open`` at once (``socket_mode/client.py``
  ``process_message``), whatever the reason.
- `FakeSocketMode.reset` ends a connection abruptly (TCP RST, no close frame);
  `FakeSocketMode.silence` drops it silently (nothing reaches the app any more, no pong).

`FakeSocketMode.attach` makes the fake Slack client (`FakeSlack.send_command`, ``click``,
``submit_view``, ``open_home``, ``click_home``) deliver its requests as envelopes instead of
HTTP posts, and turns each ack
into the `AppResponse` those methods apply.
"""

from __future__ import annotations

import copy
import json
import secrets
import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

try:
    from websockets.exceptions import ConnectionClosed
    from websockets.http11 import Request, Response
    from websockets.sync.server import Server, ServerConnection, serve
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "bot.emulator.socket_mode needs the websockets package: pip install -e '.[test]'"
    ) from error

from bot.emulator.slack import API_APP_ID, AppResponse, FakeSlack

__all__ = ["APP_TOKEN", "Ack", "FakeSocketMode"]

APP_TOKEN = "xapp-test-not-a-real-token"  # noqa: S105 - a fake default, not a secret
"""The app-level token the fake accepts by default."""

_PATH = "/link/"


@dataclass(frozen=True)
class Ack:
    """An ack the app sent: ``payload`` is its payload object (None when absent);
    ``connection`` the number (1, 2, …, in order of opening) of the connection that carried it;
    ``elapsed`` seconds from the (re)delivery to the ack."""

    envelope_id: str
    payload: dict[str, Any] | None
    connection: int
    elapsed: float


@dataclass
class _Connection:
    number: int
    ws: ServerConnection
    alive: bool = True


class FakeSocketMode:
    """Fake Socket Mode endpoint for ``slack`` (a started `FakeSlack`); a context manager.

    ``app_token`` is the token ``apps.connections.open`` accepts. ``ack_timeout`` is how long,
    in seconds, `deliver` waits for a live connection and then for the ack (Slack itself gives
    up after 3 s; tests on a loaded machine need more).
    """

    def __init__(
        self,
        slack: FakeSlack,
        *,
        app_token: str = APP_TOKEN,
        host: str = "127.0.0.1",
        ack_timeout: float = 10.0,
    ) -> None:
        """Configure the fake. Nothing listens until `start`."""
        self.slack = slack
        self.app_token = app_token
        self.ack_timeout = ack_timeout
        self._host = host
        self._cond = threading.Condition()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._tickets: set[str] = set()
        self._opens = 0
        self._connections: list[_Connection] = []
        self._envelopes: dict[str, dict[str, Any]] = {}
        self._sent: list[dict[str, Any]] = []
        self._acks: list[Ack] = []
        self._sent_at: dict[str, float] = {}

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeSocketMode:
        """Listen on a free port, serve from a daemon thread and answer
        ``apps.connections.open`` on the fake Web API. Returns self."""
        if self._server is not None:
            raise RuntimeError("FakeSocketMode already started")
        self._server = serve(
            self._serve,
            self._host,
            0,
            compression=None,
            process_request=self._check_ticket,
            ping_interval=None,
            server_header=None,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-socket-mode", daemon=True
        )
        self._thread.start()
        self.slack.add_api_method("apps.connections.open", self._open, token=self.app_token)
        return self

    def stop(self) -> None:
        """Close every connection and stop listening (idempotent)."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        if self.slack.app_transport == self._transport:
            self.slack.app_transport = None
        server.shutdown()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSocketMode:
        """Start the server."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server."""
        self.stop()

    def attach(self) -> FakeSocketMode:
        """Route `FakeSlack`'s client requests (commands, clicks, view submissions) through
        this fake as envelopes. Returns self."""
        self.slack.app_transport = self._transport
        return self

    @property
    def port(self) -> int:
        """The TCP port the WebSocket server listens on."""
        if self._server is None:
            raise RuntimeError("FakeSocketMode is not started")
        return int(self._server.socket.getsockname()[1])

    # ---------------------------------------------------------------- queries

    @property
    def opens(self) -> int:
        """How many times ``apps.connections.open`` was answered."""
        with self._cond:
            return self._opens

    def connections(self, *, live_only: bool = True) -> list[int]:
        """Numbers of the (live) connections, in order of opening."""
        with self._cond:
            return [c.number for c in self._connections if c.alive or not live_only]

    def acks(self, envelope_id: str | None = None) -> list[Ack]:
        """Acks received (of one envelope), in order."""
        with self._cond:
            return [a for a in self._acks if envelope_id in (None, a.envelope_id)]

    def sent(self) -> list[dict[str, Any]]:
        """Every envelope and ``disconnect`` frame sent, redeliveries included (copies)."""
        with self._cond:
            return copy.deepcopy(self._sent)

    def envelopes(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The envelopes delivered (first deliveries), of one ``type`` if given (copies)."""
        with self._cond:
            return [copy.deepcopy(e) for e in self._envelopes.values() if kind in (None, e["type"])]

    def wait_for_connection(self, number: int = 1, timeout: float | None = None) -> None:
        """Wait until connection ``number`` (1 = the first ever) is open and live.

        Raises:
            TimeoutError: not within ``timeout`` seconds (default ``ack_timeout``).
        """
        with self._cond:
            if not self._cond.wait_for(
                lambda: any(c.number == number and c.alive for c in self._connections),
                timeout if timeout is not None else self.ack_timeout,
            ):
                raise TimeoutError(f"Socket Mode connection {number} did not open")

    # ---------------------------------------------------------------- delivering

    def deliver(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        wait: bool = True,
        connection: int | None = None,
    ) -> str | Ack:
        """Send a new envelope of type ``kind`` on connection number ``connection``, or on the
        newest live one (waiting for one up to ``ack_timeout``). Returns its ``envelope_id``,
        or with ``wait`` its `Ack`.

        Raises:
            TimeoutError: no live connection, or no ack, within ``ack_timeout`` seconds.
        """
        envelope: dict[str, Any] = {
            "envelope_id": secrets.token_hex(16),
            "type": kind,
            "payload": copy.deepcopy(payload),
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        with self._cond:
            self._envelopes[envelope["envelope_id"]] = envelope
        return self._send_envelope(envelope, wait=wait, connection=connection)

    def redeliver(
        self,
        envelope_id: str,
        *,
        reason: str = "timeout",
        wait: bool = True,
        connection: int | None = None,
    ) -> str | Ack:
        """Deliver envelope ``envelope_id`` again (on ``connection``, default the newest live
        one): same ID and payload, ``retry_attempt`` one higher, ``retry_reason`` ``reason``.
        Returns as `deliver` does (``wait``: the ack of this delivery).

        Raises:
            KeyError: no such envelope was delivered.
            TimeoutError: as for `deliver`.
        """
        with self._cond:
            envelope = self._envelopes[envelope_id]
            envelope["retry_attempt"] = int(envelope.get("retry_attempt") or 0) + 1
            envelope["retry_reason"] = reason
            again = copy.deepcopy(envelope)
        return self._send_envelope(again, wait=wait, connection=connection)

    def deliver_event(self, event: dict[str, Any], *, wait: bool = False) -> str | Ack:
        """Deliver an Events API ``event`` (wrapped in an ``event_callback``); see
        `deliver`. An app without a listener for it gives no ack."""
        callback = {
            "type": "event_callback",
            "team_id": self.slack.team_id,
            "api_app_id": API_APP_ID,
            "event": event,
            "event_id": "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(time.time()),
        }
        return self.deliver("events_api", callback, wait=wait)

    def wait_for_ack(self, envelope_id: str, count: int = 1, timeout: float | None = None) -> Ack:
        """The ``count``-th ack of ``envelope_id``, waiting up to ``timeout`` seconds.

        Raises:
            TimeoutError: it did not come.
        """
        with self._cond:
            if not self._cond.wait_for(
                lambda: len([a for a in self._acks if a.envelope_id == envelope_id]) >= count,
                timeout if timeout is not None else self.ack_timeout,
            ):
                raise TimeoutError(f"no ack {count} for envelope {envelope_id}")
            return [a for a in self._acks if a.envelope_id == envelope_id][count - 1]

    # ---------------------------------------------------------------- faults

    def disconnect(self, reason: str = "refresh_requested") -> int:
        """Send ``{"type": "disconnect", "reason": reason}`` on the newest live connection and
        return its number. The connection stays open: the client replaces and closes it.

        Raises:
            TimeoutError: no live connection within ``ack_timeout`` seconds.
        """
        conn = self._newest_live()
        frame = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}}
        with self._cond:
            self._sent.append(frame)
        conn.ws.send(json.dumps(frame))
        return conn.number

    def reset(self) -> int:
        """End the newest live connection abruptly: TCP RST, no close frame (a crashed proxy
        or load balancer). Returns its number.

        Raises:
            TimeoutError: no live connection within ``ack_timeout`` seconds.
        """
        conn = self._newest_live()
        with self._cond:
            conn.alive = False
            self._cond.notify_all()
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN. Close the socket
        # before waking the library (close_socket), or its reader could shut the socket down
        # first and send a FIN (the reader waits in epoll, which holds no reference to it).
        sock = conn.ws.socket
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        conn.ws.close_socket()
        return conn.number

    def silence(self) -> int:
        """Make the newest live connection a black hole, as in a silent drop (a NAT or proxy
        that forgot it, with no reset reaching either end): from now on nothing sent on it
        reaches the app, pongs and envelopes included, while the TCP connection stays open.
        Like Slack, the fake still delivers on it (those envelopes are lost) until the app
        closes it. Returns its number.

        Raises:
            TimeoutError: no live connection within ``ack_timeout`` seconds.
        """
        conn = self._newest_live()
        ws = conn.ws

        def black_hole() -> None:  # replaces ServerConnection.send_data: drop, never send
            for _ in ws.protocol.data_to_send():
                pass

        with ws.protocol_mutex:
            ws.send_data = black_hole  # type: ignore[method-assign]
        return conn.number

    # ---------------------------------------------------------------- internals

    def _open(self, params: dict[str, Any]) -> dict[str, Any]:
        ticket = secrets.token_hex(16)
        with self._cond:
            self._opens += 1
            self._tickets.add(ticket)
        return {"url": f"ws://{self._host}:{self.port}{_PATH}?ticket={ticket}"}

    def _check_ticket(self, ws: ServerConnection, request: Request) -> Response | None:
        parts = urllib.parse.urlsplit(request.path)
        ticket = urllib.parse.parse_qs(parts.query).get("ticket", [""])[0]
        with self._cond:
            if parts.path != _PATH or ticket not in self._tickets:
                return ws.respond(401, "unknown or used ticket: call apps.connections.open\n")
            self._tickets.discard(ticket)  # one connection per URL
        return None

    def _serve(self, ws: ServerConnection) -> None:
        with self._cond:
            conn = _Connection(len(self._connections) + 1, ws)
            self._connections.append(conn)
            live = sum(1 for c in self._connections if c.alive)
        hello = {
            "type": "hello",
            "num_connections": live,
            "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 3600},
            "connection_info": {"app_id": API_APP_ID},
        }
        try:
            ws.send(json.dumps(hello))
            with self._cond:
                self._cond.notify_all()
            for raw in ws:
                self._record_ack(conn, raw)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                conn.alive = False
                self._cond.notify_all()

    def _record_ack(self, conn: _Connection, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict) or not isinstance(message.get("envelope_id"), str):
            return
        payload = message.get("payload")
        envelope_id = message["envelope_id"]
        with self._cond:
            started = self._sent_at.get(envelope_id, time.monotonic())
            ack = Ack(
                envelope_id,
                payload if isinstance(payload, dict) else None,
                conn.number,
                time.monotonic() - started,
            )
            self._acks.append(ack)
            self._cond.notify_all()

    def _newest_live(self, number: int | None = None) -> _Connection:
        def live() -> list[_Connection]:
            return [c for c in self._connections if c.alive and number in (None, c.number)]

        with self._cond:
            if not self._cond.wait_for(live, self.ack_timeout):
                raise TimeoutError(f"no live Socket Mode connection {number or ''}".rstrip())
            return live()[-1]

    def _send_envelope(
        self, envelope: dict[str, Any], *, wait: bool, connection: int | None
    ) -> str | Ack:
        envelope_id = str(envelope["envelope_id"])
        conn = self._newest_live(connection)
        with self._cond:
            count = len([a for a in self._acks if a.envelope_id == envelope_id])
            self._sent.append(copy.deepcopy(envelope))
            self._sent_at[envelope_id] = time.monotonic()
        conn.ws.send(json.dumps(envelope))
        if not wait:
            return envelope_id
        return self.wait_for_ack(envelope_id, count + 1)

    def _transport(self, body: bytes, content_type: str, kind: str) -> AppResponse:
        """`FakeSlack.app_transport`: a form body as an envelope, its ack as the answer."""
        form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
        if kind == "command":
            payload = {name: values[-1] for name, values in form.items()}
            envelope_kind, accepts = "slash_commands", True
        elif kind in ("block_actions", "view_submission"):
            payload = json.loads(form["payload"][-1])
            envelope_kind, accepts = "interactive", kind == "view_submission"
        elif kind == "event":
            payload = json.loads(body)
            envelope_kind, accepts = "events_api", False
        else:
            raise ValueError(f"a {kind!r} request has no Socket Mode equivalent")
        ack = self.deliver(envelope_kind, payload, accepts_response_payload=accepts)
        assert isinstance(ack, Ack)
        return AppResponse(
            status=200,
            body=json.dumps(ack.payload) if ack.payload else "",
            headers={"content-type": "application/json"},
            elapsed=ack.elapsed,
            kind=kind,
        )
