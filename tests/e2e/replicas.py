"""Real ``delete-org-bot`` processes (HTTP mode) against the fake Slack and fake Coveo over
loopback HTTP: one at a time (crash and restart tests), or two replicas with their own instance
ids on one shared database behind one address, as behind a load balancer.

The address is :class:`bot.emulator.proxy.RoundRobinProxy`, a tiny HTTP proxy on 127.0.0.1
that sends each request to the next replica in turn, or to the one a test names; Slack's
requests reach the replicas only through it. The database every replica shares comes from
:func:`replica_database`, once per entry of :data:`BACKENDS`.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from conftest import CHANNEL, SIGNING_SECRET, launch_app_process, process_env

from bot.emulator.coveo import FakeCoveo
from bot.emulator.proxy import RoundRobinProxy
from bot.emulator.slack import FakeSlack

BACKENDS = ("sqlite", "postgresql")
"""The shared stores the replica tests run on, one test run each: a SQLite file (replicas on
one host) and a PostgreSQL database (``DELETE_ORG_DATABASE_URL``: replicas as on several
hosts, where only heartbeats tell an owner's liveness)."""

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
