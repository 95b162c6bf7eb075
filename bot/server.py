"""Serving the app in HTTP mode on waitress, a multi-threaded production WSGI server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

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


def make_wsgi_app(app: App) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """WSGI callable: Slack requests at ``POST /slack/events`` (signature checked by Bolt),
    ``GET /healthz`` answers ``ok`` for load balancers, anything else 404."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH)

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") == "GET":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        try:
            return slack(environ, start_response)
        except (ValueError, UnicodeDecodeError, TypeError, AttributeError) as error:
            # Bolt parses the body before checking its signature; a malformed body from anyone
            # must not cost a traceback per request. Nothing was dispatched.
            logger.warning("malformed request to %s refused: %s", EVENTS_PATH, type(error).__name__)
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"malformed request"]

    return wsgi


def make_http_server(app: App, host: str, port: int) -> MultiSocketServer | BaseWSGIServer:
    """Create (not start) the waitress server; ``port`` 0 picks a free port
    (read it back from ``server.effective_port``)."""
    return create_server(
        make_wsgi_app(app),
        host=host,
        port=port,
        threads=HTTP_THREADS,
        ident="delete-org-bot",
        clear_untrusted_proxy_headers=True,
        max_request_body_size=MAX_BODY_BYTES,
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
