"""Serving the app over HTTP on waitress, a multi-threaded production WSGI server.

In HTTP mode the server answers Slack at ``POST /slack/events``; in Socket Mode Slack's traffic
comes over the WebSocket and the same server runs without that route, for ``GET /healthz``,
``GET /readyz`` (:mod:`bot.readiness`) and the other :class:`Route` entries the app factory
adds (``Runtime.routes``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from waitress.server import create_server

from bot.logfields import log_fields
from bot.slack_request import SlackWsgiHandler

if TYPE_CHECKING:  # pragma: no cover
    from waitress.server import BaseWSGIServer, MultiSocketServer

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
HTTP_THREADS = 16
"""waitress worker threads; each holds a request until its ack (at most Slack's 3 s)."""

MAX_BODY_BYTES = 1_048_576
"""Largest request accepted (bytes); Slack's biggest payload, a view submission, carries a
view of at most 250 kB."""

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Route:
    """One extra HTTP endpoint: ``handler`` (a WSGI callable) answers ``method`` ``path``
    (exact match on ``PATH_INFO``; the query string is the handler's to read)."""

    method: str
    path: str
    handler: WsgiApp


def _health(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def _not_found(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain;charset=utf-8")])
    return [b"Not Found"]


def make_wsgi_app(app: App | None, routes: Sequence[Route] = ()) -> WsgiApp:
    """WSGI callable: ``GET /healthz`` answers ``ok`` for load balancers, each of ``routes`` its
    own method and path, Slack requests at ``POST /slack/events`` when ``app`` is given (HTTP
    mode; signature checked by Bolt on the raw bytes), anything else 404."""
    table: dict[tuple[str, str], WsgiApp] = {("GET", HEALTH_PATH): _health}
    table.update({(route.method.upper(), route.path): route.handler for route in routes})
    slack = SlackWsgiHandler(app, path=EVENTS_PATH) if app is not None else None

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        key = (str(environ.get("REQUEST_METHOD", "")), str(environ.get("PATH_INFO", "")))
        route = table.get(key)
        if route is not None:
            return route(environ, start_response)
        if slack is None:
            return _not_found(environ, start_response)
        try:
            return slack(environ, start_response)
        except (ValueError, UnicodeDecodeError, TypeError, AttributeError) as error:
            # Bolt parses the body before checking its signature; a malformed body from anyone
            # must not cost a traceback per request. Nothing was dispatched.
            logger.warning(
                "malformed request to %s refused: %s",
                EVENTS_PATH,
                type(error).__name__,
                extra=log_fields("malformed_request"),
            )
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"malformed request"]

    return wsgi


def make_http_server(
    app: App | None, host: str, port: int, routes: Sequence[Route] = ()
) -> MultiSocketServer | BaseWSGIServer:
    """Create (not start) the waitress server for :func:`make_wsgi_app` (``app`` None in Socket
    Mode); ``port`` 0 picks a free port (read it back from ``server.effective_port``).

    Raises:
        OSError: the address cannot be bound (port taken, no permission).
    """
    return create_server(
        make_wsgi_app(app, routes),
        host=host,
        port=port,
        threads=HTTP_THREADS,
        ident="delete-org-bot",
        clear_untrusted_proxy_headers=True,
        max_request_body_size=MAX_BODY_BYTES,
        # poll(), not waitress's default select(): select() fails on any descriptor above
        # 1023, which a busy process reaches (sockets, Coveo and database connections).
        asyncore_use_poll=True,
    )


class ServerThread:
    """Runs a waitress server on a background thread and stops it from another thread.

    waitress expects to be stopped from its own thread (SIGTERM in the main thread); closing
    its sockets from elsewhere can make its poll loop fail with EBADF, which is expected then.
    Used by the local emulator stack, the tests and the benchmark.
    """

    def __init__(self, server: MultiSocketServer | BaseWSGIServer, name: str = "http") -> None:
        self.server = server
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.server.effective_port)  # type: ignore[union-attr]

    def start(self) -> ServerThread:
        """Start serving; returns self."""
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):
            if not self._stopping.is_set():
                raise

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listening socket and wait up to ``timeout`` seconds for the thread."""
        self._stopping.set()
        self.server.close()
        self._thread.join(timeout)
