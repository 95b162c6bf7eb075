"""A round-robin HTTP front on 127.0.0.1: one address before several app replicas.

Used by the replica tests (``tests/e2e/replicas.py``) and the benchmark's two-replica runs
(``bench/``) as a load balancer stand-in: no sticky sessions, each request to the next replica.
A test and development tool, not a production proxy (one thread per connection, bodies read
whole, ``Connection: close`` on every answer).
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host"})
UPSTREAM_TIMEOUT_SECONDS = 10.0
"""How long the front waits for a replica's answer before the request fails."""


class RoundRobinProxy:
    """One address (127.0.0.1, ``port`` or a free one) in front of several replicas.

    ``replicas`` maps names to base URLs (``http://127.0.0.1:8001``). Each request goes to the
    next replica in turn, unless :meth:`send_next_to` named the one for the next request. A
    replica that refuses the connection (killed) is skipped, as a load balancer's health check
    would: the request was never sent to it, so trying the next one is safe. ``routed`` lists
    the replica names in the order requests were forwarded. ``delays`` maps path prefixes to
    seconds a matching request is held before it is forwarded (a slow upstream: with one
    "replica", the fake Slack Web API, it slows chosen methods). ``backlog`` is the listen
    queue (bursts larger than it make the kernel retry connections after about 1 s).
    """

    def __init__(
        self,
        replicas: Mapping[str, str],
        *,
        delays: Mapping[str, float] | None = None,
        port: int = 0,
        backlog: int = 64,
    ) -> None:
        self.replicas = dict(replicas)
        self.delays = dict(delays or {})
        self.routed: list[str] = []
        self._turns = itertools.cycle(list(self.replicas))
        self._forced: list[str] = []
        self._lock = threading.Lock()
        self._server = _ProxyServer(self, port, backlog)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="round-robin-proxy", daemon=True
        )

    @property
    def url(self) -> str:
        """The one base URL of all replicas."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RoundRobinProxy:
        """Serve on a background thread; returns self."""
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until :meth:`stop` (from another thread)."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving (from another thread than the serving one) and close the socket."""
        self._server.shutdown()
        self.close()

    def close(self) -> None:
        """Close the listening socket (once :meth:`serve_forever` has returned)."""
        self._server.server_close()

    def send_next_to(self, *names: str) -> None:
        """Send the next requests to these replicas, in this order, then resume the turns.

        Raises:
            KeyError: a name is not one of the replicas.
        """
        unknown = [name for name in names if name not in self.replicas]
        if unknown:
            raise KeyError(f"no replica {unknown}")
        with self._lock:
            self._forced.extend(names)

    def count(self, name: str) -> int:
        """How many requests went to replica ``name``."""
        with self._lock:
            return self.routed.count(name)

    def _choose(self) -> str:
        with self._lock:
            return self._forced.pop(0) if self._forced else next(self._turns)

    def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request to a replica; returns its status, headers and body (502 when no
        replica accepts the connection).

        Raises:
            OSError: the chosen replica accepted the connection but failed or timed out
                (``UPSTREAM_TIMEOUT_SECONDS``) before answering.
        """
        time.sleep(max((s for p, s in self.delays.items() if path.startswith(p)), default=0.0))
        first = self._choose()
        for name in [first, *(other for other in self.replicas if other != first)]:
            target = urlsplit(self.replicas[name])
            conn = http.client.HTTPConnection(target.netloc, timeout=UPSTREAM_TIMEOUT_SECONDS)
            try:
                conn.request(method, path, body=body, headers=dict(headers))
            except ConnectionRefusedError:
                conn.close()
                continue
            try:
                response = conn.getresponse()
                answer = response.read()
                kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            finally:
                conn.close()
            with self._lock:
                self.routed.append(name)
            return response.status, kept, answer
        return 502, [("Content-Type", "text/plain")], b"no replica accepted the connection"


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: RoundRobinProxy, port: int, backlog: int) -> None:
        self.proxy = proxy
        self.request_queue_size = backlog  # read by server_activate() inside __init__
        super().__init__(("127.0.0.1", port), _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._relay()

    def do_POST(self) -> None:
        self._relay()

    def _relay(self) -> None:
        assert isinstance(self.server, _ProxyServer)
        proxy = self.server.proxy
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
        status, reply_headers, answer = proxy.forward(self.command, self.path, headers, body)
        self.send_response(status)
        for key, value in reply_headers:
            if key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: callers assert on ``RoundRobinProxy.routed``."""
