"""Server process for the benchmark: the real app or the ack-only baseline, on the same stack.

``python -m bench.serve app`` runs exactly what the ``delete-org-bot`` console script runs
(``bot.cli.main``, configured from the environment). ``python -m bench.serve baseline`` runs a
minimal Bolt ``App`` whose slash command and button listeners only call ``ack()``, served by the
same ``bot.server.make_http_server`` (waitress, same thread count), on ``HOST``/``PORT``.
``python -m bench.serve proxy`` is the front of a two-replica run: ``bot.emulator.proxy``'s
round-robin proxy on ``PORT`` before the base URLs in ``BENCH_UPSTREAMS`` (comma-separated),
in its own process so that it shares no interpreter lock with the load generator.

With ``BENCH_SAMPLE_FILE`` set, a daemon thread samples every thread's Python stack every few
milliseconds, and the depth of the app's queues (Bolt's listener executor, waitress's task
queue, httpcore's connection pool), and writes a JSON summary to that file when the process
stops. This is the profiling evidence the benchmark prints with ``--profile``; it is off by
default because the sampling costs some CPU.
"""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_PROJECT_DIRS = tuple(str(ROOT / name) + os.sep for name in ("bot", "handlers", "storage"))
_GROUP = re.compile(r"^(.*?)[-_]?\d+(?: \(.*\))?$")


def _group(name: str) -> str:
    """``waitress-3`` → ``waitress``, ``listener_12`` → ``listener``."""
    match = _GROUP.match(name)
    return match.group(1) if match and match.group(1) else name


def _where(frame: FrameType) -> str:
    code = frame.f_code
    return f"{Path(code.co_filename).name}:{frame.f_lineno}:{code.co_name}"


def _idle(group: str, inner: list[str]) -> bool:
    """A thread parked with nothing to do: an idle waitress or pool worker, the sweeper's
    sleep, the main thread's socket poll."""
    top = inner[0] if inner else ""
    return (
        group in ("MainThread", "expiry-sweeper", "bench-parent-watch")
        or (top.startswith("threading.py:") and any("sweeper.py" in f for f in inner))
        or (top.startswith("threading.py:") and any("handler_thread" in f for f in inner))
        or (top.startswith("thread.py:") and top.endswith(":_worker"))
    )


class Sampler(threading.Thread):
    """Samples stacks and queue depths until :meth:`finish`; writes a JSON summary."""

    def __init__(self, path: str, interval: float = 0.005) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.path = path
        self.interval = interval
        self._stop_event = threading.Event()
        self.stacks: dict[str, Counter[str]] = defaultdict(Counter)
        self.samples = 0
        self.probes: dict[str, list[int]] = defaultdict(list)
        self._targets: dict[str, Any] = {}
        self._next_search = 0.0
        self.pg_stats: dict[str, int] = {}

    def _find_targets(self) -> None:
        """Locate the objects whose queues are probed (once each; gc search is slow)."""
        from concurrent.futures import ThreadPoolExecutor

        wanted = {"executor", "waitress", "httpcore", "pg_pool"}
        if wanted <= set(self._targets):
            return
        now = time.monotonic()
        if now < self._next_search:
            return
        self._next_search = now + 1.0
        for obj in gc.get_objects():
            kind = type(obj).__name__
            if (
                isinstance(obj, ThreadPoolExecutor)
                and getattr(obj, "_thread_name_prefix", "") == "listener"
            ):
                self._targets["executor"] = obj
            elif kind == "ThreadedTaskDispatcher":
                self._targets["waitress"] = obj
            elif kind == "ConnectionPool" and type(obj).__module__.startswith("httpcore"):
                self._targets["httpcore"] = obj
            elif kind == "ConnectionPool" and type(obj).__module__.startswith("psycopg_pool"):
                self._targets["pg_pool"] = obj

    def _probe(self) -> None:
        executor = self._targets.get("executor")
        if executor is not None:
            self.probes["listener executor: queued work items"].append(executor._work_queue.qsize())
            self.probes["listener executor: threads"].append(len(executor._threads))
        dispatcher = self._targets.get("waitress")
        if dispatcher is not None:
            self.probes["waitress: queued requests"].append(len(dispatcher.queue))
            self.probes["waitress: busy threads"].append(dispatcher.active_count)
        pool = self._targets.get("httpcore")
        if pool is not None:
            requests = list(pool._requests)
            queued = sum(1 for request in requests if request.is_queued())
            self.probes["httpx pool: requests waiting for a connection"].append(queued)
            self.probes["httpx pool: open connections"].append(len(pool.connections))
        pg_pool = self._targets.get("pg_pool")
        if pg_pool is not None:
            stats = pg_pool.get_stats()
            self.probes["pg pool: requests waiting for a connection"].append(
                stats.get("requests_waiting", 0)
            )
            self.probes["pg pool: connections open"].append(stats.get("pool_size", 0))
            self.pg_stats = stats

    def run(self) -> None:
        """Sample until stopped."""
        me = threading.get_ident()
        while not self._stop_event.wait(self.interval):
            names = {thread.ident: thread.name for thread in threading.enumerate()}
            dispatcher = self._targets.get("waitress")
            acking = dispatcher is not None and (dispatcher.active_count > 0 or dispatcher.queue)
            frames = sys._current_frames()
            self.samples += 1
            for ident, frame in frames.items():
                if ident == me:
                    continue
                inner: list[str] = []
                project = ""
                current: FrameType | None = frame
                while current is not None:
                    if len(inner) < 3:
                        inner.append(_where(current))
                    if not project and current.f_code.co_filename.startswith(_PROJECT_DIRS):
                        project = _where(current)
                        break
                    current = current.f_back
                key = " < ".join(inner) + (f"  [in {project}]" if project else "")
                group = _group(names.get(ident, "?"))
                if _idle(group, [*inner, project]):
                    key = "(idle)"
                self.stacks[group][key] += 1
                if acking:
                    self.stacks[group + " [while requests in flight]"][key] += 1
            try:
                self._find_targets()
                self._probe()
            except Exception as error:  # noqa: BLE001 - probing must never break the server
                self.probes[f"probe error {type(error).__name__}"].append(1)

    def finish(self) -> None:
        """Stop sampling and write the summary."""
        self._stop_event.set()
        self.join(2)
        summary = {
            "samples": self.samples,
            "interval": self.interval,
            "stacks": {
                group: counter.most_common(16) for group, counter in sorted(self.stacks.items())
            },
            "pg_pool_totals": self.pg_stats,
            "probes": {
                name: {
                    "max": max(values),
                    "mean": sum(values) / len(values),
                    "nonzero_share": sum(1 for v in values if v) / len(values),
                }
                for name, values in self.probes.items()
                if values
            },
        }
        Path(self.path).write_text(json.dumps(summary, indent=1))


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def build_baseline_app(bot_token: str, signing_secret: str, slack_api_url: str) -> Any:
    """The baseline: a minimal Bolt ``App`` whose command and button listeners only ack."""
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from handlers.ids import ACTION_CANCEL, ACTION_CONFIRM, ACTION_OPEN_LINK, COMMAND

    # Same Slack wiring as the app: a WebClient on the fake Web API, whose auth.test Bolt calls
    # once at start-up; everything else is Bolt's defaults.
    client = WebClient(token=bot_token, base_url=slack_api_url)
    app = App(client=client, signing_secret=signing_secret)

    def ack_only(ack: Ack) -> None:
        ack()

    app.command(COMMAND)(ack_only)
    for action_id in (ACTION_CONFIRM, ACTION_CANCEL, ACTION_OPEN_LINK):
        app.action(action_id)(ack_only)
    return app


def run_baseline() -> int:
    """Serve the ack-only Bolt app on ``bot.server.make_http_server`` until SIGTERM."""
    from bot.server import make_http_server

    app = build_baseline_app(
        os.environ["SLACK_BOT_TOKEN"],
        os.environ["SLACK_SIGNING_SECRET"],
        os.environ["SLACK_API_URL"],
    )
    server = make_http_server(app, os.environ["HOST"], int(os.environ["PORT"]))
    signal.signal(signal.SIGTERM, _raise_system_exit)
    signal.signal(signal.SIGINT, _raise_system_exit)
    print(f"baseline ready on {os.environ['HOST']}:{os.environ['PORT']}", file=sys.stderr)
    try:
        server.run()
    except SystemExit:
        pass
    finally:
        server.close()
    return 0


PROXY_BACKLOG = 1024
"""Listen queue of the front: a burst of 200 connections must not overflow it (the kernel
would make clients retry after about 1 s, a delay of the front, not of the app)."""


def run_proxy() -> int:
    """Serve the round-robin front on ``PORT`` before ``BENCH_UPSTREAMS`` until SIGTERM."""
    from bot.emulator.proxy import RoundRobinProxy

    upstreams = [url for url in os.environ["BENCH_UPSTREAMS"].split(",") if url]
    proxy = RoundRobinProxy(
        {f"r{i}": url for i, url in enumerate(upstreams)},
        port=int(os.environ["PORT"]),
        backlog=PROXY_BACKLOG,
    )
    signal.signal(signal.SIGTERM, _raise_system_exit)
    signal.signal(signal.SIGINT, _raise_system_exit)
    print(f"proxy on :{os.environ['PORT']} before {upstreams}", file=sys.stderr, flush=True)
    try:
        proxy.serve_forever()
    except SystemExit:
        pass
    finally:
        proxy.close()
    return 0


def apply_overrides() -> list[str]:
    """Diagnostic experiments only (the benchmark's ``--listener-workers``,
    ``--coveo-connections``, ``--http-threads`` and ``--switch-interval``): patch the product's
    sizing constants in this process before the app is built. Returns what was changed."""
    changed = []
    workers = os.environ.get("BENCH_LISTENER_WORKERS")
    connections = os.environ.get("BENCH_COVEO_CONNECTIONS")
    threads = os.environ.get("BENCH_HTTP_THREADS")
    switch = os.environ.get("BENCH_SWITCH_INTERVAL")
    if workers:
        import bot.app

        bot.app.LISTENER_WORKERS = int(workers)
        changed.append(f"bot.app.LISTENER_WORKERS={workers}")
    if connections:
        import functools

        import bot.app

        bot.app.make_http_client = functools.partial(  # type: ignore[assignment]
            bot.app.make_http_client, max_connections=int(connections)
        )
        changed.append(f"make_http_client(max_connections={connections})")
    if threads:
        import bot.server

        bot.server.HTTP_THREADS = int(threads)
        changed.append(f"bot.server.HTTP_THREADS={threads}")
    if os.environ.get("BENCH_WRITE_LOCK"):
        from contextlib import contextmanager

        from storage.store import Store

        original = Store._write
        lock = threading.RLock()

        @contextmanager
        def serialized_write(self: Store) -> Any:
            # Writers of this process queue on a lock (woken at once when it is released)
            # instead of polling SQLite's write lock with the busy handler's growing sleeps.
            with lock, original(self) as db:
                yield db

        Store._write = serialized_write  # type: ignore[method-assign,assignment]
        changed.append("Store._write serialized by an in-process lock")
    pool = os.environ.get("BENCH_PG_POOL")
    if pool:
        from storage import pg_backend

        pg_backend.POOL_MAX_CONNECTIONS = int(pool)
        defaults = pg_backend.PostgresBackend.__init__.__kwdefaults__ or {}
        defaults["max_connections"] = int(pool)
        pg_backend.PostgresBackend.__init__.__kwdefaults__ = defaults
        changed.append(f"storage.pg_backend.POOL_MAX_CONNECTIONS={pool}")
    if switch:
        sys.setswitchinterval(float(switch))
        changed.append(f"sys.setswitchinterval({switch})")
    if changed:
        print("bench overrides: " + ", ".join(changed), file=sys.stderr, flush=True)
    return changed


def watch_parent(interval: float = 0.5) -> None:
    """Stop this server (SIGTERM to itself) when the benchmark that started it is gone, so a
    killed benchmark never leaves servers behind."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="bench-parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """``app``, ``baseline`` or ``proxy``; see the module docstring."""
    args = sys.argv[1:] if argv is None else argv
    if args not in (["app"], ["baseline"], ["proxy"]):
        print("usage: python -m bench.serve app|baseline|proxy", file=sys.stderr)
        return 2
    watch_parent()
    if args == ["proxy"]:
        return run_proxy()
    sample_file = os.environ.get("BENCH_SAMPLE_FILE")
    sampler = Sampler(sample_file) if sample_file else None
    if sampler is not None:
        sampler.start()
    try:
        if args == ["baseline"]:
            return run_baseline()
        apply_overrides()
        from bot.cli import main as cli_main

        return cli_main(["run"])
    finally:
        if sampler is not None:
            sampler.finish()


if __name__ == "__main__":
    raise SystemExit(main())
