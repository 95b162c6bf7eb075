"""Real ``delete-org-bot`` processes (HTTP mode) against the fake Slack and fake Coveo over
loopback HTTP: one at a time (crash and restart tests), or two replicas with their own instance
ids on one shared database behind one address, as behind a load balancer.

The address is :class:`RoundRobinProxy`, a tiny HTTP proxy on 127.0.0.1 that sends each
request to the next replica in turn, or to the one a test names; Slack's requests reach the
replicas only through it. The database every replica shares comes from
:func:`replica_database`, once per entry of :data:`BACKENDS`.
"""

from __future__ import annotations

import http.client
import itertools
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conftest import CHANNEL, SIGNING_SECRET, launch_app_process, process_env

from bot.emulator.coveo import FakeCoveo
from bot.emulator.slack import FakeSlack

BACKENDS = ("sqlite", "postgresql")
"""The shared stores the replica tests run on, one test run each: one SQLite file (replicas on
one host), and one PostgreSQL database of the suite's throwaway cluster (``tests/pg.py``)."""

REPLICAS = ("A", "B")


def replica_database(backend: str, tmp_path: Path, *, pg_url: str | None = None) -> dict[str, str]:
    """Environment variables that point every replica at one shared database of ``backend``.

    ``"sqlite"``: one file under ``tmp_path`` (replicas on one host only: SQLite is one file
    with file locks). ``"postgresql"``: ``pg_url``, the ``pg_url`` fixture of ``tests/pg.py``
    (a fresh database on the suite's throwaway cluster).

    Raises:
        ValueError: an unknown backend, or ``"postgresql"`` without ``pg_url``.
    """
    if backend == "sqlite":
        return {"DELETE_ORG_DB": str(tmp_path / "shared.db")}
    if backend == "postgresql" and pg_url:
        # DELETE_ORG_DB empty (= unset): no SQLite file beside it, whatever process_env chose.
        return {"DELETE_ORG_DATABASE_URL": pg_url, "DELETE_ORG_DB": ""}
    raise ValueError(f"no shared database for backend {backend!r} (pg_url={pg_url!r})")


@dataclass
class World:
    """The fakes (demo data seeded, one channel) and the environment of an app against them."""

    slack: FakeSlack
    coveo: FakeCoveo
    tokens: dict[str, str]
    env: dict[str, str]

    def start(self, *, log: Path | None = None) -> tuple[subprocess.Popen[str], str]:
        """Start one app process (up at ``/healthz``); returns it and its base URL."""
        proc, port = launch_app_process(self.env, log=log)
        return proc, f"http://127.0.0.1:{port}"

    def launch(self) -> subprocess.Popen[str]:
        """Start one app process and point the fake Slack at it."""
        proc, url = self.start()
        self.slack.app_url = url
        return proc


@contextmanager
def process_world(tmp_path: Path, **env: str) -> Iterator[World]:
    """The fakes, started and stopped around the block; ``env`` adds to the app's
    environment (after :func:`conftest.process_env`; the sweeper runs every second)."""
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack, FakeCoveo() as coveo:
        tokens = coveo.seed_demo()
        slack.add_channel(CHANNEL, "general")
        policy = tmp_path / "policy.toml"  # these tests are about processes, not guardrails
        policy.write_text("[typed_confirmation]\ntypes = []\nproduct_types = []\n")
        app_env = process_env(
            slack,
            coveo,
            tmp_path,
            DELETE_ORG_SWEEP_INTERVAL="1",
            DELETE_ORG_POLICY=str(policy),
            **env,
        )
        yield World(slack, coveo, tokens, app_env)


_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host"})


class RoundRobinProxy:
    """One address (127.0.0.1, a free port) in front of several replicas.

    Each request goes to the next replica in turn, unless :meth:`send_next_to` named the one
    for the next request. A replica that refuses the connection (killed) is skipped, as a load
    balancer's health check would: the request was never sent to it, so trying the next one
    is safe. ``routed`` lists the replica names in the order requests were forwarded.
    ``delays`` maps path prefixes to seconds a matching request is held before it is forwarded
    (a slow upstream: with one "replica", the fake Slack Web API, it slows chosen methods).
    """

    def __init__(
        self, replicas: Mapping[str, str], *, delays: Mapping[str, float] | None = None
    ) -> None:
        self.replicas = dict(replicas)
        self.delays = dict(delays or {})
        self.routed: list[str] = []
        self._turns = itertools.cycle(list(self.replicas))
        self._forced: list[str] = []
        self._lock = threading.Lock()
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The one base URL of all replicas."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RoundRobinProxy:
        """Serve on a background thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def send_next_to(self, *names: str) -> None:
        """Send the next requests to these replicas, in this order, then resume the turns."""
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
        replica accepts the connection)."""
        time.sleep(max((s for p, s in self.delays.items() if path.startswith(p)), default=0.0))
        first = self._choose()
        for name in [first, *(other for other in self.replicas if other != first)]:
            target = urlsplit(self.replicas[name])
            conn = http.client.HTTPConnection(target.netloc, timeout=10)
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
    request_queue_size = 64  # the tests send 20 requests at once (the default backlog is 5)


class _ProxyHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._relay()

    def do_POST(self) -> None:
        self._relay()

    def _relay(self) -> None:
        proxy: RoundRobinProxy = self.server.proxy  # type: ignore[attr-defined]
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
        """Quiet: the tests assert on ``RoundRobinProxy.routed``."""


@dataclass
class Replicas:
    """Two app processes on one database, reached by the fake Slack through ``proxy``."""

    world: World
    proxy: RoundRobinProxy
    procs: dict[str, subprocess.Popen[str]]
    logs: dict[str, Path]
    returncodes: dict[str, int] = field(default_factory=dict)

    @property
    def slack(self) -> FakeSlack:
        return self.world.slack

    @property
    def coveo(self) -> FakeCoveo:
        return self.world.coveo

    def log(self, name: str) -> str:
        """Everything replica ``name`` wrote to stdout and stderr so far."""
        return self.logs[name].read_text()

    def kill(self, name: str) -> None:
        """SIGKILL replica ``name`` and reap it (a zombie's PID would still look alive)."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        self.returncodes[name] = proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM every replica still running and wait for each (up to 30 s)."""
        running = {name: proc for name, proc in self.procs.items() if name not in self.returncodes}
        for proc in running.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in running.items():
            try:
                self.returncodes[name] = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                self.returncodes[name] = proc.wait()


@contextmanager
def replicas(
    tmp_path: Path,
    database: dict[str, str],
    *,
    slow_slack: Mapping[str, float] | None = None,
    **env: str,
) -> Iterator[Replicas]:
    """Start the fakes, replicas A and B on ``database`` (from :func:`replica_database`) with
    ``env``, and the proxy in front of them; stop them all afterwards (SIGTERM).

    ``slow_slack`` maps Web API paths (``"/api/chat.update"``) to seconds each such call of the
    replicas is held, through a proxy in front of the fake Slack's Web API."""
    with process_world(tmp_path, **database, **env) as fakes, ExitStack() as stack:
        if slow_slack:
            slack_api = RoundRobinProxy({"slack": fakes.slack.url}, delays=slow_slack).start()
            stack.callback(slack_api.stop)
            fakes.env["SLACK_API_URL"] = slack_api.url + "/api/"
        procs: dict[str, subprocess.Popen[str]] = {}
        logs = {name: tmp_path / f"replica-{name}.log" for name in REPLICAS}
        urls: dict[str, str] = {}
        pair: Replicas | None = None
        try:
            for name in REPLICAS:
                procs[name], urls[name] = fakes.start(log=logs[name])
            proxy = RoundRobinProxy(urls).start()
            fakes.slack.app_url = proxy.url
            pair = Replicas(fakes, proxy, procs, logs)
            try:
                yield pair
            finally:
                proxy.stop()
        finally:
            if pair is not None:
                pair.stop()
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
