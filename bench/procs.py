"""The benchmark's world: the local fakes (in this process) and the server processes under test.

`World` starts FakeSlack and FakeCoveo on 127.0.0.1, creates bench users (one Coveo token each,
linked directly through the Store API) and fresh fake organizations on demand. `ServerProcess`
runs a server (the real app or the baseline) as a child process on a free loopback port,
measures its start-up to ``GET /healthz``, reads its RSS from ``/proc`` and stops it with
SIGTERM. `Front` is several such servers behind one round-robin proxy process (two replicas
on one PostgreSQL database), used by the bench exactly like one `ServerProcess`.

A database *location* is a SQLite file (a ``Path``) or a PostgreSQL URL (a ``str``), as
``storage.open_store`` takes it.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from bot.clock import utcnow
from bot.crypto import TokenCipher
from bot.emulator.coveo import FakeCoveo, FakeOrganization, FakeToken
from bot.emulator.slack import FakeSlack
from storage import Store

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret-not-real"
BOT_TOKEN = "xoxb-test-bench"
CHANNEL = "C0BENCH0001"
LISTEN_BACKLOG = 1024
"""The fakes are stdlib ThreadingHTTPServers listening with a backlog of 5: a burst of 32+
connections then overflows the accept queue and the kernel makes clients retry after ~1 s,
a delay of the fake, not of the app. The harness re-listens their sockets with this backlog."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _widen_backlog(server: Any) -> None:
    if server is not None:
        server.socket.listen(LISTEN_BACKLOG)


@dataclass(frozen=True)
class User:
    """A bench Slack user with a linked Coveo token."""

    id: str
    token: str


class World:
    """FakeSlack + FakeCoveo and the bench's users and organizations."""

    def __init__(self, users: int) -> None:
        self.key = Fernet.generate_key().decode()
        self.cipher = TokenCipher([self.key])
        self.slack = FakeSlack(signing_secret=SECRET, bot_token=BOT_TOKEN).start()
        self.coveo = FakeCoveo().start()
        _widen_backlog(self.slack._server)
        _widen_backlog(self.coveo._server)
        self.slack.add_channel(CHANNEL, "bench")
        self.users: list[User] = []
        for i in range(users):
            user = User(f"U0BENCH{i:04d}", f"bench-coveo-token-{i:04d}-not-real")
            self.slack.add_user(user.id, f"bench{i}")
            self.coveo.add_token(
                FakeToken(user.token, f"bench{i}@example.com", f"bench{i}@example.com", "us")
            )
            self.users.append(user)
        self._orgs = 0

    def close(self) -> None:
        """Stop the fakes."""
        self.coveo.stop()
        self.slack.stop()

    def new_orgs(self, count: int) -> list[str]:
        """Add ``count`` fresh US sandbox organizations to the fake Coveo; return their ids."""
        ids = []
        for _ in range(count):
            self._orgs += 1
            org_id = f"benchorg{self._orgs:06d}"
            # A sandbox: the default deletion policy asks for a typed confirmation (a modal)
            # only for production organizations, so Confirm deletes these directly.
            self.coveo.add_organization(
                FakeOrganization(
                    org_id, f"Bench org {self._orgs}", type="Sandbox", product_type="SANDBOX"
                )
            )
            ids.append(org_id)
        return ids

    def open_store(self, location: Path | str) -> Store:
        """The Store API on the app's database (same encryption key as the app)."""
        return Store(location, self.cipher)

    def link_all(self, location: Path | str) -> None:
        """Link every bench user's token directly through ``Store.save_link``."""
        store = self.open_store(location)
        try:
            now = utcnow()
            for i, user in enumerate(self.users):
                store.save_link(
                    workspace=self.slack.team_id,
                    user_id=user.id,
                    token=user.token,
                    region="us",
                    coveo_username=f"bench{i}@example.com",
                    coveo_email=f"bench{i}@example.com",
                    expires_at=None,
                    now=now,
                )
        finally:
            store.close()

    def app_env(self, location: Path | str, port: int) -> dict[str, str]:
        """Environment of the real app pointed at the fakes and at the database ``location``,
        serving on 127.0.0.1:``port``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DELETE_ORG_"))}
        env.update(
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": self.slack.api_url,
                "COVEO_PLATFORM_URL": self.coveo.url,
                **(
                    {"DELETE_ORG_DATABASE_URL": location, "DELETE_ORG_DB": ""}
                    if isinstance(location, str)
                    else {"DELETE_ORG_DB": str(location)}
                ),
                "DELETE_ORG_ENCRYPTION_KEY": self.key,
                "DELETE_ORG_CONFIRM_TIMEOUT": "1800",
                "DELETE_ORG_SWEEP_INTERVAL": "5",
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "LOG_LEVEL": "INFO",
                "PYTHONPATH": str(ROOT),
            }
        )
        return {k: v for k, v in env.items() if not k.startswith("BENCH_")}

    # -- what the fakes saw ------------------------------------------------------------------
    def card_posts(self) -> int:
        """chat.postMessage calls that were not thread replies (preview cards)."""
        return sum(1 for c in self.slack.calls("chat.postMessage") if not c.params.get("thread_ts"))

    def thread_replies(self) -> dict[str, float]:
        """card ts → FakeSlack arrival time (``time.time()``) of the first reply in its thread."""
        replies: dict[str, float] = {}
        for call in self.slack.calls("chat.postMessage"):
            ts = call.params.get("thread_ts")
            if ts and str(ts) not in replies:
                replies[str(ts)] = call.at
        return replies

    def update_arrivals(self) -> dict[str, list[float]]:
        """card ts → FakeSlack arrival times (``time.time()``) of chat.update calls on it."""
        found: dict[str, list[float]] = {}
        for call in self.slack.calls("chat.update"):
            found.setdefault(str(call.params.get("ts")), []).append(call.at)
        return found

    def delete_arrivals(self) -> dict[str, list[float]]:
        """org id → FakeCoveo arrival times (``time.monotonic()``) of every DELETE for it."""
        found: dict[str, list[float]] = {}
        for request in self.coveo.deletes():
            org_id = request.path.rsplit("/", 1)[-1]
            found.setdefault(org_id, []).append(request.at)
        return found


class ServerProcess:
    """A server under test in a child process; ``argv`` is run with ``env`` from ``cwd``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.port = int(env["PORT"])
        self.log_path = workdir / f"{name}.log"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup: float | None = None
        self._spawned = 0.0

    @property
    def pid(self) -> int:
        """The child's pid (the Python process itself)."""
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> float:
        """Start the process; return seconds from spawn until ``/healthz`` answered 200."""
        self.spawn()
        return self.ready(timeout)

    def spawn(self) -> None:
        """Start the process without waiting for it (see :meth:`ready`)."""
        log = self.log_path.open("ab")
        self._spawned = time.monotonic()
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - argv is built by the bench itself
                self.argv, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            log.close()

    def ready(self, timeout: float = 30.0) -> float:
        """Wait until the spawned process answers ``/healthz`` with 200; seconds since spawn."""
        assert self.proc is not None, "spawn() first"
        deadline = self._spawned + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
            if self._healthy():
                self.startup = time.monotonic() - self._spawned
                return self.startup
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer /healthz within {timeout} s")

    def exited(self) -> bool:
        """True once the started process has exited."""
        return self.proc is not None and self.proc.poll() is not None

    def _healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM (KiB) and Threads of the child, from ``/proc/<pid>/status``."""
        values = {}
        text = Path(f"/proc/{self.pid}/status").read_text()
        for line in text.splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM", "Threads"):
                values[name] = int(rest.split()[0])
        return values

    def rss_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the child in KiB."""
        values = self.status()
        return values["VmRSS"], values["VmHWM"]

    def cpu_seconds(self) -> float:
        """User + system CPU time the child has used so far (``/proc/<pid>/stat``)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def terminate(self) -> None:
        """Send SIGTERM (if running) without waiting; :meth:`stop` then waits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` s (the app finishes in-flight work), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def log_problems(self, limit: int = 8) -> list[str]:
        """The most frequent WARNING/ERROR log lines (digits and ids blurred), with counts."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        counter: Counter[str] = Counter()
        for line in text.splitlines():
            if " WARNING " in line or " ERROR " in line or "Traceback" in line:
                message = line.split(" ", 2)[-1]
                message = re.sub(r"[0-9a-f]{8,}|\d+", "#", message)
                counter[message[:160]] += 1
        return [f"{count} x {message}" for message, count in counter.most_common(limit)]


def bench_server(
    kind: str, env: dict[str, str], workdir: Path, *, name: str | None = None
) -> ServerProcess:
    """``python -m bench.serve app|baseline`` as a ServerProcess named ``name`` (its log is
    ``<workdir>/<name>.log``; default: ``kind``)."""
    return ServerProcess(name or kind, [sys.executable, "-m", "bench.serve", kind], env, workdir)


def console_script_app(env: dict[str, str], workdir: Path) -> ServerProcess:
    """The installed ``delete-org-bot`` console script (HTTP mode) as a ServerProcess."""
    script = Path(sys.executable).parent / "delete-org-bot"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    return ServerProcess("delete-org-bot", argv, env, workdir)


class Front:
    """``members`` (servers of one kind, e.g. two app replicas on one PostgreSQL database)
    behind one round-robin proxy process (``python -m bench.serve proxy``) on ``port``.

    Used like one ServerProcess: requests go to ``port``; CPU seconds and ``/proc`` status
    figures are the members' sums (not the proxy's); it has exited when any member has.
    """

    def __init__(self, name: str, members: list[ServerProcess], port: int, workdir: Path) -> None:
        self.name = name
        self.members = members
        env = dict(members[0].env)
        env["PORT"] = str(port)
        env["BENCH_UPSTREAMS"] = ",".join(f"http://127.0.0.1:{m.port}" for m in members)
        self.proxy = ServerProcess(
            f"{name}-proxy", [sys.executable, "-m", "bench.serve", "proxy"], env, workdir
        )
        self.port = port
        self.log_path = members[0].log_path

    @property
    def pid(self) -> str:
        """The members' pids, comma-separated."""
        return ",".join(str(m.pid) for m in self.members)

    def start(self, timeout: float = 30.0) -> float:
        """Start every member (at once), then the proxy; seconds until all answered
        ``/healthz``."""
        started = time.monotonic()
        self.spawn()
        self.ready(timeout)
        return time.monotonic() - started

    def spawn(self) -> None:
        """Start every member without waiting (the proxy starts in :meth:`ready`)."""
        for member in self.members:
            member.spawn()

    def ready(self, timeout: float = 30.0) -> float:
        """Wait for every member, then start the proxy and wait for it."""
        started = time.monotonic()
        for member in self.members:
            member.ready(timeout)
        self.proxy.start(timeout)
        return time.monotonic() - started

    def terminate(self) -> None:
        """SIGTERM to the proxy and every member, without waiting."""
        self.proxy.terminate()
        for member in self.members:
            member.terminate()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the proxy, then every member (SIGTERM to all at once, then each waited for,
        SIGKILL after ``timeout`` s)."""
        self.proxy.stop(timeout)
        for member in self.members:
            member.terminate()
        for member in self.members:
            member.stop(timeout)

    def exited(self) -> bool:
        """True once any member (or the proxy) has exited."""
        return self.proxy.exited() or any(m.exited() for m in self.members)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the members so far."""
        return sum(m.cpu_seconds() for m in self.members)

    def status(self) -> dict[str, int]:
        """VmRSS, VmHWM (KiB) and Threads summed over the members."""
        total: Counter[str] = Counter()
        for member in self.members:
            total.update(member.status())
        return dict(total)

    def log_problems(self, limit: int = 8) -> list[str]:
        """The most frequent WARNING/ERROR lines of each member's log, named by member."""
        return [
            f"{member.name}: {line}"
            for member in self.members
            for line in member.log_problems(limit)
        ]


Server = ServerProcess | Front
"""What the bench sends its load to."""
