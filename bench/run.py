"""Benchmark of delete-org-bot in HTTP mode against an ack-only Bolt baseline, in one run.

Run from the project root::

    .venv/bin/python -m bench            # full run, a few minutes
    .venv/bin/python -m bench --quick --load 5   # smoke run, seconds

Everything goes over real HTTP on 127.0.0.1. The local fakes (``bot.emulator``) run in this
process: FakeSlack is the Slack Web API the app calls, FakeCoveo the Coveo Platform API (with
injected latency). The servers under test run as child processes so that the load generator
does not share their GIL: the real app (``bot.cli.main``, as the ``delete-org-bot`` console
script) and the baseline (a minimal Bolt ``App`` whose command and button listeners only
``ack()``), both served by ``bot.server.make_http_server`` (waitress, same thread count).

Parts (see bench/README.md): 1 ack latency of ``/delete-org <org-id>``; 2 click latency (ack,
and click → DELETE at the fake Coveo); 3 throughput of confirmations; 4 RSS and start-up of the
``delete-org-bot`` process; 5 Store lookups on a large SQLite file; 6 ``audit export`` wall time
and peak RSS on 1,000,000 audit rows. The table goes to stdout, progress to stderr.

``--backend postgresql`` (or ``both``, beside SQLite) runs parts 1-3 and 5 again on a throwaway
PostgreSQL cluster started for the run (``bot.emulator.pgcluster``): parts 1-3 with one app
process, then with two replicas on one database behind a round-robin front (``bench.procs.Front``;
the baseline then runs as two processes behind the same kind of front).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench import audit_export, storage_scale
from bench.load import Sent, burst, command_body, post, wait_until
from bench.procs import (
    CHANNEL,
    SECRET,
    Front,
    Server,
    ServerProcess,
    User,
    World,
    bench_server,
    console_script_app,
    free_port,
)
from bench.report import (
    MET,
    MISSED,
    Row,
    latency_row,
    machine,
    render,
    value_row,
    verdict,
    where,
)
from bot.crypto import TokenCipher
from bot.emulator.pgcluster import MISSING, PgCluster, start_cluster, stop_cluster
from handlers.ids import ACTION_CONFIRM
from storage import Store

ACK_LEVELS = (1, 10, 50, 200)
CLICK_LEVELS = (1, 50, 200)
ROUNDS = {1: 10, 10: 4, 50: 2, 200: 2}
"""Bursts per concurrency level (each burst is drained before the next one)."""
SLACK_ACK_LIMIT = 3.0
ACK_P99_LIMIT_MS = 300.0
ACK_RATIO_LIMIT = 1.5
DELETE_P99_LIMIT_MS = 100.0
DELETE_TARGET_LOAD = 50
GROWTH_LIMIT_PCT = 5.0
STARTUP_LIMIT_MS = 1500.0
LOOKUP_LIMIT_MS = 5.0
BACKENDS = ("sqlite", "postgresql", "both")
PG_PARTS = {1, 2, 3, 5}
"""The parts that also run on PostgreSQL (4 and 6, process RSS and the export, stay SQLite)."""


@dataclass(frozen=True)
class StoreTarget:
    """One store configuration of parts 1-3: ``label`` in the table, the database location
    (SQLite file or PostgreSQL URL) and how many app processes share it."""

    label: str
    location: Path | str
    replicas: int = 1


@dataclass
class Settings:
    """What to run and at which sizes."""

    parts: set[int]
    ack_levels: list[int]
    click_levels: list[int]
    confirmations: int
    quick: bool
    coveo_latency: float
    delete_latency: float
    mixed: int
    startups: int
    audit_rows: int
    request_rows: int
    link_rows: int
    lookups: int
    export_rows: int
    timeout: float
    profile: bool
    keep: bool
    overrides: dict[str, str]
    backend: str = "sqlite"
    replicas: tuple[int, ...] = (1, 2)
    """App processes sharing the PostgreSQL database in parts 1-3, one run per count."""
    max_rounds: int | None = None
    drain_base: float = 30.0
    """Seconds allowed for the app's background work after a burst, before load terms."""

    def rounds(self, level: int) -> int:
        """Bursts at ``level``."""
        rounds = 1 if self.quick else ROUNDS.get(level, 2)
        return min(rounds, self.max_rounds) if self.max_rounds else rounds


def parse_args(argv: Sequence[str] | None) -> Settings:
    """Command-line options → Settings."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark delete-org-bot (HTTP mode) against an ack-only Bolt baseline.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 burst per level, short latencies, tiny scale",
    )
    parser.add_argument(
        "--load",
        type=int,
        default=None,
        help="cap every concurrency level (and part 3's count) at N",
    )
    parser.add_argument("--parts", default="1,2,3,4,5,6", help="comma-separated parts to run")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="sqlite",
        help="store of parts 1-3 and 5: sqlite (default), postgresql (one app process, then"
        " two replicas behind a round-robin front, on a throwaway cluster), or both",
    )
    parser.add_argument(
        "--replicas",
        default="1,2",
        help="PostgreSQL parts 1-3: app processes on the one database, one run per count (1,2)",
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="at most N bursts per concurrency level"
    )
    parser.add_argument("--coveo-latency", type=float, default=None, help="s, parts 1-2 (2.0)")
    parser.add_argument("--delete-latency", type=float, default=None, help="s, part 3 (1.0)")
    parser.add_argument("--mixed", type=int, default=None, help="part 4 requests (10000)")
    parser.add_argument("--audit-rows", type=int, default=None, help="part 5 (1,000,000)")
    parser.add_argument("--request-rows", type=int, default=None, help="part 5 (100,000)")
    parser.add_argument(
        "--export-rows", type=int, default=None, help="part 6, large size (1,000,000)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="sample the app's stacks and queues in parts 1-3"
    )
    experiment = parser.add_argument_group(
        "experiments (parts 1-3 only; patch the app's sizing in its process, code untouched)"
    )
    experiment.add_argument("--listener-workers", type=int, help="bot.app.LISTENER_WORKERS")
    experiment.add_argument(
        "--coveo-connections", type=int, help="max_connections of the app's httpx client"
    )
    experiment.add_argument("--http-threads", type=int, help="bot.server.HTTP_THREADS")
    experiment.add_argument(
        "--pg-pool", type=int, help="storage.pg_backend.POOL_MAX_CONNECTIONS (PostgreSQL runs)"
    )
    experiment.add_argument("--switch-interval", type=float, help="sys.setswitchinterval (s)")
    experiment.add_argument(
        "--write-lock",
        action="store_true",
        help="serialize the Store's write transactions with an in-process lock",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (server logs, databases)"
    )
    args = parser.parse_args(argv)
    cap = args.load if args.load is not None else 10**9
    if cap < 1:
        parser.error("--load must be at least 1")
    quick = args.quick
    parts = {int(p) for p in args.parts.split(",") if p.strip()}
    if not parts <= {1, 2, 3, 4, 5, 6}:
        parser.error("--parts takes numbers from 1 to 6")
    try:
        replicas = tuple(sorted({int(n) for n in args.replicas.split(",") if n.strip()}))
    except ValueError:
        replicas = ()
    if not replicas or min(replicas) < 1 or max(replicas) > 8:
        parser.error("--replicas takes counts from 1 to 8, comma-separated (e.g. 1,2)")
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")

    def pick(value: float | int | None, full: float | int, small: float | int) -> float | int:
        return value if value is not None else (small if quick else full)

    return Settings(
        parts=parts,
        ack_levels=sorted({min(level, cap) for level in ACK_LEVELS}),
        click_levels=sorted({min(level, cap) for level in CLICK_LEVELS}),
        confirmations=min(200, cap),
        quick=quick,
        coveo_latency=float(pick(args.coveo_latency, 2.0, 0.2)),
        delete_latency=float(pick(args.delete_latency, 1.0, 0.2)),
        mixed=int(pick(args.mixed, 10_000, 200)),
        startups=1 if quick else 3,
        audit_rows=int(pick(args.audit_rows, 1_000_000, 20_000)),
        request_rows=int(pick(args.request_rows, 100_000, 2_000)),
        link_rows=500 if quick else 10_000,
        lookups=50 if quick else 500,
        export_rows=int(pick(args.export_rows, 1_000_000, 20_000)),
        timeout=10.0,
        profile=args.profile,
        keep=args.keep,
        backend=args.backend,
        replicas=replicas,
        max_rounds=args.rounds,
        drain_base=8.0 if quick else 30.0,
        overrides={
            name: str(value)
            for name, value in (
                ("BENCH_LISTENER_WORKERS", args.listener_workers),
                ("BENCH_COVEO_CONNECTIONS", args.coveo_connections),
                ("BENCH_HTTP_THREADS", args.http_threads),
                ("BENCH_PG_POOL", args.pg_pool),
                ("BENCH_SWITCH_INTERVAL", args.switch_interval),
                ("BENCH_WRITE_LOCK", "1" if args.write_lock else None),
            )
            if value is not None
        },
    )


def progress(message: str) -> None:
    """A progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class CpuMeter:
    """CPU seconds a server process used inside ack windows (burst start → last answer)."""

    seconds: float = 0.0
    requests: int = 0

    def burst(self, server: Server, bodies: Sequence[tuple[str, bytes]], s: Settings) -> list[Sent]:
        """``load.burst`` to ``server``, accounting the server's CPU while it ran."""
        before = server.cpu_seconds()
        sent = burst(server.port, SECRET, bodies, timeout=s.timeout)
        self.seconds += server.cpu_seconds() - before
        self.requests += len(bodies)
        return sent

    def per_request_ms(self) -> float:
        """Average CPU milliseconds per request inside the ack windows."""
        return self.seconds * 1000 / max(1, self.requests)


def _cpu_notes(app: CpuMeter, base: CpuMeter) -> list[str]:
    if app.requests < 40:  # /proc CPU times tick every 10 ms: too coarse for a few requests
        return []
    return [
        (
            f"server CPU inside the ack windows: app {app.per_request_ms():.2f} ms/request,"
            f" baseline {base.per_request_ms():.2f} ms/request"
        )
    ]


def drain(server: Server, predicate: Callable[[], object], bound: float, what: str) -> bool:
    """Wait (at most ``bound`` s) for the app's background work; fail fast if it died."""

    def done() -> object:
        if server.exited():
            raise RuntimeError(f"{server.name} exited; see {server.log_path}")
        return predicate()

    if wait_until(done, bound, interval=0.05):
        return True
    problems = "; ".join(server.log_problems(3)) or "no warnings in its log"
    progress(f"WARNING: {what} not done after {bound:.0f} s ({problems})")
    return False


def _errors(sent: Sequence[Sent]) -> tuple[int, list[str]]:
    bad = Counter(str(s.status or s.error) for s in sent if not s.ok)
    notes = [f"non-200 answers: {dict(bad)}"] if bad else []
    return sum(bad.values()), notes


def _ack_rows(
    part: str, metric: str, level: int, app: Sequence[Sent], base: Sequence[Sent]
) -> list[Row]:
    app_errors, app_notes = _errors(app)
    base_errors, base_notes = _errors(base)
    row = latency_row(part, metric, str(level), [s.latency for s in app], app_errors)
    base_row = latency_row(
        part, "  baseline (ack-only)", str(level), [s.latency for s in base], base_errors
    )
    row.base_p99 = base_row.p99
    late = sum(1 for s in app if s.latency > SLACK_ACK_LIMIT)
    if late:
        app_notes.append(f"{late} of {len(app)} acks later than Slack's {SLACK_ACK_LIMIT:g} s")
    row.notes += app_notes
    base_row.notes += base_notes
    row.target = f"p99<={ACK_RATIO_LIMIT}x base & <{ACK_P99_LIMIT_MS:g}; max<=3s; 0 err"
    ok = (
        row.p99 is not None
        and base_row.p99 is not None
        and row.max is not None
        and row.p99 <= ACK_RATIO_LIMIT * base_row.p99
        and row.p99 < ACK_P99_LIMIT_MS
        and row.max <= SLACK_ACK_LIMIT * 1000
        and app_errors == 0
    )
    row.result = verdict(ok)
    return [row, base_row]


# -- part 1 ------------------------------------------------------------------------------------
def part_ack(world: World, app: Server, base: Server, s: Settings) -> list[Row]:
    """Ack latency of ``/delete-org <org-id>`` while the fake Coveo answers in ``coveo_latency``."""
    rows: list[Row] = []
    for level in s.ack_levels:
        progress(f"part 1: {level} concurrent /delete-org, Coveo latency {s.coveo_latency:g} s")
        users = world.users[:level]
        app_sent: list[Sent] = []
        notes: list[str] = []
        app_cpu, base_cpu = CpuMeter(), CpuMeter()
        world.coveo.set_latency(0)
        world.coveo.set_latency(s.coveo_latency)
        for _ in range(s.rounds(level)):
            orgs = world.new_orgs(level)
            bodies = [
                (org, command_body(world.slack, user.id, CHANNEL, org))
                for user, org in zip(users, orgs, strict=True)
            ]
            before = world.card_posts()
            app_sent += app_cpu.burst(app, bodies, s)
            bound = s.drain_base + level * s.coveo_latency / 4
            if not drain(
                app, lambda b=before, n=level: world.card_posts() >= b + n, bound, "cards"
            ):
                notes.append(f"cards still missing {bound:.0f} s after a burst")
                break
        world.coveo.set_latency(0)
        base_sent: list[Sent] = []
        for r in range(s.rounds(level)):
            bodies = [
                (f"b{r}-{i}", command_body(world.slack, user.id, CHANNEL, f"baselineorg{r}x{i}"))
                for i, user in enumerate(users)
            ]
            base_sent += base_cpu.burst(base, bodies, s)
        pair = _ack_rows("1", "ack /delete-org <org-id>", level, app_sent, base_sent)
        pair[0].notes += [*notes, *_cpu_notes(app_cpu, base_cpu)]
        rows += pair
    return rows


# -- cards for parts 2 and 3 ------------------------------------------------------------------
@dataclass(frozen=True)
class Card:
    """A live preview card: who asked, for which org, and the card's message ts."""

    user: User
    org: str
    ts: str


def make_cards(world: World, app: Server, store: Store, count: int, s: Settings) -> list[Card]:
    """Post ``count`` preview cards through the app (Coveo without latency meanwhile)."""
    world.coveo.set_latency(0)
    orgs = world.new_orgs(count)
    pairs = [(world.users[i % len(world.users)], org) for i, org in enumerate(orgs)]
    for start in range(0, len(pairs), 16):
        chunk = pairs[start : start + 16]
        bodies = [(org, command_body(world.slack, u.id, CHANNEL, org)) for u, org in chunk]
        sent = burst(app.port, SECRET, bodies, timeout=s.timeout)
        if any(not x.ok for x in sent):
            raise RuntimeError(f"card setup: non-200 answers {[x.status for x in sent]}")
    found: dict[str, str] = {}

    def all_posted() -> bool:
        for _, org in pairs:
            if org not in found:
                request = store.live_request_for_org(org, "us")
                if request is not None and request.card_ts:
                    found[org] = request.card_ts
        return len(found) == len(pairs)

    if not drain(app, all_posted, s.drain_base + count / 10, "card setup"):
        raise RuntimeError(f"card setup: only {len(found)} of {count} cards were posted")
    return [Card(user, org, found[org]) for user, org in pairs]


def click_bodies(world: World, cards: Sequence[Card]) -> list[tuple[str, bytes]]:
    """Confirm clicks on each card by its requester (keyed by org id)."""
    return [
        (
            card.org,
            world.slack.build_click(
                card.user.id, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM
            ),
        )
        for card in cards
    ]


# -- part 2 ------------------------------------------------------------------------------------
def part_clicks(world: World, app: Server, base: Server, store: Store, s: Settings) -> list[Row]:
    """Confirm-click ack latency, and click → DELETE arrival at the fake Coveo."""
    rows: list[Row] = []
    for level in s.click_levels:
        progress(f"part 2: {level} concurrent Confirm clicks, Coveo latency {s.coveo_latency:g} s")
        app_sent: list[Sent] = []
        delays: list[float] = []
        missing = duplicates = 0
        to_update: list[float] = []
        notes: list[str] = []
        rounds: list[list[tuple[str, bytes]]] = []
        app_cpu, base_cpu = CpuMeter(), CpuMeter()
        for _ in range(s.rounds(level)):
            cards = make_cards(world, app, store, level, s)
            bodies = click_bodies(world, cards)
            rounds.append(bodies)
            world.coveo.set_latency(s.coveo_latency)
            replies_before = len(world.thread_replies())
            sent = app_cpu.burst(app, bodies, s)
            app_sent += sent
            orgs = {card.org for card in cards}
            bound = s.drain_base + level * s.coveo_latency / 4
            wait_until(lambda o=orgs: o <= set(world.delete_arrivals()), bound)
            arrivals = world.delete_arrivals()
            updates = world.update_arrivals()
            ts_of = {card.org: card.ts for card in cards}
            for x in sent:
                times = arrivals.get(x.key, [])
                if times:
                    delays.append(min(times) - x.sent_mono)
                    duplicates += len(times) - 1
                else:
                    missing += 1
                marked = [t for t in updates.get(ts_of[x.key], []) if t >= x.sent_wall - 0.001]
                if marked:
                    to_update.append(min(marked) - x.sent_wall)
            if not drain(
                app,
                lambda b=replies_before, n=level: len(world.thread_replies()) >= b + n,
                bound,
                "thread replies",
            ):
                notes.append(f"thread replies still missing {bound:.0f} s after a burst")
                break
            world.coveo.set_latency(0)
        base_sent: list[Sent] = []
        for bodies in rounds:
            base_sent += base_cpu.burst(base, bodies, s)
        pair = _ack_rows("2", "ack Confirm click", level, app_sent, base_sent)
        pair[0].notes += [*notes, *_cpu_notes(app_cpu, base_cpu)]
        rows += pair
        row = latency_row("2", "click -> DELETE at Coveo", str(level), delays, missing)
        if missing:
            row.notes.append(f"{missing} clicks produced no DELETE")
        if duplicates:
            row.notes.append(f"{duplicates} duplicate DELETEs")
        if level == DELETE_TARGET_LOAD:
            row.target = f"p99<{DELETE_P99_LIMIT_MS:g} at {DELETE_TARGET_LOAD}"
            row.result = verdict(
                row.p99 is not None and row.p99 < DELETE_P99_LIMIT_MS and not missing
            )
        rows.append(row)
        update_row = latency_row("2", "  then click -> card updated", str(level), to_update, 0)
        update_row.notes.append(
            "the card is updated once Coveo has answered the DELETE (nothing is sent to Slack"
            " between the click and the DELETE)"
        )
        rows.append(update_row)
    return rows


# -- part 3 ------------------------------------------------------------------------------------
def part_throughput(world: World, app: Server, store: Store, s: Settings) -> list[Row]:
    """N confirmations at once while each DELETE takes ``delete_latency``: all done in 3 s?"""
    n = s.confirmations
    progress(f"part 3: {n} confirmations, DELETE latency {s.delete_latency:g} s")
    cards = make_cards(world, app, store, n, s)
    bodies = click_bodies(world, cards)
    world.coveo.set_latency(0)
    world.coveo.set_latency(s.delete_latency, "DELETE")
    sent = burst(app.port, SECRET, bodies, timeout=s.timeout)
    by_org = {x.key: x for x in sent}
    card_ts = {card.org: card.ts for card in cards}
    drain(
        app,
        lambda: set(card_ts.values()) <= set(world.thread_replies()),
        s.drain_base + n * s.delete_latency,
        "part 3 thread replies",
    )
    time.sleep(max(1.0, s.delete_latency))  # any second DELETE would have arrived by now
    replies = world.thread_replies()
    arrivals = world.delete_arrivals()
    world.coveo.set_latency(0)
    start = min(x.sent_wall for x in sent)
    done = {org: replies[ts] for org, ts in card_ts.items() if ts in replies}
    completions = [done[org] - by_org[org].sent_wall for org in done]
    wall = (max(done.values()) - start) if done else math.inf
    deletes = sum(len(arrivals.get(org, [])) for org in card_ts)
    within = sum(1 for t in done.values() if t - start <= SLACK_ACK_LIMIT)
    errors, notes = _errors(sent)
    row = latency_row("3", "confirm -> reply in thread", str(n), completions, errors)
    row.notes += notes
    row.notes.append(
        f"wall time {wall:.2f} s; replies {len(done)}/{n}; finished within 3 s: {within}/{n};"
        f" DELETEs {deletes} (expected exactly {n})"
    )
    ack_ms = sorted(x.latency * 1000 for x in sent)
    ack_p99 = ack_ms[math.ceil(0.99 * n) - 1]
    row.notes.append(f"ack of these clicks: p99 {ack_p99:.0f} ms, max {ack_ms[-1]:.0f} ms")
    row.target = f"all {n} within 3 s; {n} DELETEs"
    row.result = verdict(len(done) == n and wall <= SLACK_ACK_LIMIT and deletes == n)
    wall_row = value_row("3", "wall time, first click -> last reply (ms)", wall * 1000, str(n))
    wall_row.target = "<=3000"
    wall_row.result = verdict(wall <= SLACK_ACK_LIMIT)
    delete_row = value_row("3", "DELETEs received by Coveo", float(deletes), str(n))
    delete_row.target = f"=={n}"
    delete_row.result = verdict(deletes == n)
    return [row, wall_row, delete_row]


def _tag(target: StoreTarget) -> str:
    """``""`` for SQLite, ``-pg`` or ``-pgx2``: what the target's server names end with."""
    return "" if target.label == "sqlite" else "-" + target.label.replace(" ", "")


def _servers(
    world: World, workdir: Path, s: Settings, target: StoreTarget
) -> tuple[Server, Server]:
    """The app (one process, or ``target.replicas`` behind a front) and a baseline shaped
    the same way (the baseline's store is never used: an unused SQLite file)."""
    tag = _tag(target)
    apps: list[ServerProcess] = []
    bases: list[ServerProcess] = []
    for i in range(target.replicas):
        suffix = tag + (f"-{chr(ord('a') + i)}" if target.replicas > 1 else "")
        app_env = world.app_env(target.location, free_port())
        if s.profile and target.replicas == 1:
            app_env["BENCH_SAMPLE_FILE"] = str(workdir / f"app{suffix}-profile.json")
        app_env.update(s.overrides)
        apps.append(bench_server("app", app_env, workdir, name=f"app{suffix}"))
        base_env = world.app_env(workdir / "unused.db", free_port())
        bases.append(bench_server("baseline", base_env, workdir, name=f"baseline{suffix}"))
    if target.replicas == 1:
        return apps[0], bases[0]
    return (
        Front(f"app{tag}", apps, free_port(), workdir),
        Front(f"baseline{tag}", bases, free_port(), workdir),
    )


def run_http_parts(
    world: World, workdir: Path, s: Settings, sections: list[str], target: StoreTarget
) -> list[Row]:
    """Parts 1-3 with the app and the baseline running side by side, on ``target``'s store."""
    world.link_all(target.location)
    app, base = _servers(world, workdir, s, target)
    rows: list[Row] = []
    store = world.open_store(target.location)
    try:
        app.spawn()
        base.spawn()
        app.ready()
        base.ready()
        progress(
            f"[{target.label}] app pid {app.pid} on :{app.port},"
            f" baseline pid {base.pid} on :{base.port}"
        )
        if 1 in s.parts:
            rows += part_ack(world, app, base, s)
        if 2 in s.parts:
            rows += part_clicks(world, app, base, store, s)
        if 3 in s.parts:
            rows += part_throughput(world, app, store, s)
        status = app.status()
        processes = "app process" if target.replicas == 1 else f"{target.replicas} app processes"
        sections.append(
            f"[{target.label}] {processes} after parts 1-3: VmRSS {status['VmRSS'] / 1024:.1f}"
            f" MiB, peak (VmHWM) {status['VmHWM'] / 1024:.1f} MiB, {status['Threads']} threads"
        )
    finally:
        store.close()
        app.terminate()
        base.terminate()
        app.stop()
        base.stop()
    problems = app.log_problems()
    if problems:
        sections.append(f"[{target.label}] app log, parts 1-3 (most frequent warnings/errors):")
        sections += [f"  {line}" for line in problems]
    if s.profile and target.replicas == 1:
        sections += profile_section(workdir / f"app{_tag(target)}-profile.json")
    if s.backend != "sqlite":
        for row in rows:
            row.store = target.label
    return rows


def profile_section(path: Path) -> list[str]:
    """The sampler's summary (bench/serve.py) as printable lines."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return [f"profile: no data in {path}"]
    lines = [f"profile of the app process, parts 1-3 ({data['samples']} samples):"]
    totals = data.get("pg_pool_totals") or {}
    if totals.get("requests_num"):
        lines.append(
            f"  pg pool totals: {totals['requests_num']} connection requests,"
            f" {totals.get('requests_queued', 0)} queued,"
            f" {totals.get('requests_wait_ms', 0) / totals['requests_num']:.1f} ms mean wait,"
            f" {totals.get('usage_ms', 0) / totals['requests_num']:.1f} ms mean use,"
            f" max size {totals.get('pool_max')}"
        )
    for name, stats in sorted(data["probes"].items()):
        lines.append(
            f"  {name}: max {stats['max']}, mean {stats['mean']:.1f},"
            f" non-zero in {stats['nonzero_share']:.0%} of samples"
        )
    for group, stacks in data["stacks"].items():
        if group in ("MainThread", "bench-sampler"):
            continue
        idle = sum(count for key, count in stacks if key == "(idle)")
        busy = [(key, count) for key, count in stacks if key != "(idle)"]
        total = sum(count for _, count in busy)
        if not total:
            continue
        lines.append(
            f"  thread group {group!r}: {total} busy thread-samples ({idle} idle);"
            " top busy stacks, innermost frame first, share of busy samples:"
        )
        for key, count in busy[:6]:
            lines.append(f"    {count / total:5.1%}  {key}")
    return lines


# -- part 4 ------------------------------------------------------------------------------------
def part_memory(world: World, workdir: Path, s: Settings) -> list[Row]:
    """RSS of the ``delete-org-bot`` process over mixed requests; start-up to /healthz."""
    db = workdir / "memory.db"
    world.link_all(db)
    world.coveo.set_latency(0)
    startups: list[float] = []
    for _ in range(s.startups - 1):
        cold = console_script_app(world.app_env(db, free_port()), workdir)
        startups.append(cold.start())
        cold.stop()
    app = console_script_app(world.app_env(db, free_port()), workdir)
    store = world.open_store(db)
    rows: list[Row] = []
    try:
        startups.append(app.start())
        progress(f"part 4: delete-org-bot pid {app.pid}; {s.mixed} mixed requests")
        time.sleep(0.3)
        rss: dict[int, tuple[int, int]] = {0: app.rss_kib()}
        half = s.mixed // 2
        checkpoints = sorted({half, s.mixed})
        trend: list[str] = []
        sent_total = 0
        latencies: list[Sent] = []
        posts_expected = len(world.slack.calls("chat.postMessage"))
        previous: list[tuple[User, str]] = []
        batch_no = 0
        rng = random.Random(4)
        with ThreadPoolExecutor(8, thread_name_prefix="bench-mixed") as pool:
            while sent_total < s.mixed:
                size = min(100, s.mixed - sent_total)
                n_cmd = min(30, size)
                orgs = world.new_orgs(n_cmd)
                cmds = [
                    (world.users[(batch_no * 30 + j) % len(world.users)], org)
                    for j, org in enumerate(orgs)
                ]
                batch = [
                    (f"cmd:{org}", command_body(world.slack, u.id, CHANNEL, org)) for u, org in cmds
                ]
                clicks = previous[: max(0, size - n_cmd)]
                for user, org in clicks:
                    request = store.live_request_for_org(org, "us")
                    if request is None or not request.card_ts:
                        continue
                    body = world.slack.build_click(
                        user.id,
                        channel_id=CHANNEL,
                        message_ts=request.card_ts,
                        action_id=ACTION_CONFIRM,
                    )
                    batch.append((f"click:{org}", body))
                posts_expected += len(cmds) + (len(batch) - len(cmds))
                while len(batch) < size:
                    user = world.users[rng.randrange(len(world.users))]
                    batch.append(("help", command_body(world.slack, user.id, CHANNEL, "help")))
                rng.shuffle(batch)
                results = list(
                    pool.map(
                        lambda kb: post(app.port, SECRET, kb[1], key=kb[0], timeout=s.timeout),
                        batch,
                    )
                )
                latencies += results
                sent_total += len(batch)
                drain(
                    app,
                    lambda e=posts_expected: len(world.slack.calls("chat.postMessage")) >= e,
                    s.drain_base,
                    "part 4 messages",
                )
                drain(
                    app,
                    lambda c=cmds: all(
                        (r := store.live_request_for_org(org, "us")) is not None and r.card_ts
                        for _, org in c
                    ),
                    s.drain_base / 3,
                    "part 4 cards",
                )
                previous = cmds
                batch_no += 1
                if sent_total % 1000 == 0 or sent_total in checkpoints:
                    now_rss = app.rss_kib()
                    trend.append(f"{sent_total}: {now_rss[0] / 1024:.1f}")
                    if sent_total in checkpoints:
                        rss[sent_total] = now_rss
        errors, notes = _errors(latencies)
        row = latency_row(
            "4",
            "ack of mixed requests",
            f"{sent_total} req",
            [x.latency for x in latencies],
            errors,
        )
        row.notes += notes
        kinds = Counter(x.key.split(":")[0] for x in latencies)
        row.notes.append(f"mix: {dict(kinds)}; RSS trend (requests: MiB): {', '.join(trend)}")
        rows.append(row)
        start_ms = [t * 1000 for t in startups]
        start_row = latency_row(
            "4", "start-up -> /healthz answers", f"{len(startups)} starts", startups, 0
        )
        start_row.target = f"<{STARTUP_LIMIT_MS:g} ms"
        start_row.result = verdict(max(start_ms) < STARTUP_LIMIT_MS)
        rows.append(start_row)
        rows.append(value_row("4", "RSS after start (MiB)", rss[0][0] / 1024))
        for mark in checkpoints:
            rows.append(value_row("4", f"RSS after {mark:,} requests (MiB)", rss[mark][0] / 1024))
        growth = (rss[s.mixed][0] - rss[half][0]) / rss[half][0] * 100
        growth_row = value_row("4", f"RSS growth {half:,} -> {s.mixed:,} (%)", growth)
        growth_row.target = f"<{GROWTH_LIMIT_PCT:g}%"
        growth_row.result = verdict(growth < GROWTH_LIMIT_PCT)
        growth_row.notes.append(f"peak RSS (VmHWM) {rss[s.mixed][1] / 1024:.1f} MiB")
        rows.append(growth_row)
    finally:
        store.close()
        app.stop()
    for line in app.log_problems(5):
        rows[0].notes.append(f"app log: {line}")
    return rows


# -- part 5 ------------------------------------------------------------------------------------
def part_storage(
    workdir: Path, s: Settings, sections: list[str], pg_url: str | None = None
) -> list[Row]:
    """Store lookups on a database with ``audit_rows`` audit rows and ``request_rows`` requests:
    a SQLite file in ``workdir``, or the empty PostgreSQL database ``pg_url``."""
    from cryptography.fernet import Fernet

    cipher = TokenCipher([Fernet.generate_key().decode()])
    label = "pg" if pg_url else "sqlite"
    progress(
        f"part 5 [{label}]: building {s.audit_rows:,} audit rows, {s.request_rows:,} requests,"
        f" {s.link_rows:,} links"
    )
    location: Path | str
    if pg_url is None:
        location = workdir / "scale.db"
        seconds = storage_scale.build(location, cipher, s.audit_rows, s.request_rows, s.link_rows)
        size = location.stat().st_size / 2**20
        explain = "EXPLAIN QUERY PLAN"
    else:
        location = pg_url
        seconds = storage_scale.build_pg(pg_url, cipher, s.audit_rows, s.request_rows, s.link_rows)
        size = storage_scale.pg_size(pg_url) / 2**20
        explain = "EXPLAIN"
    lookups = storage_scale.measure(location, cipher, s.request_rows, s.link_rows, s.lookups)
    rows = []
    sections.append(
        f"part 5 database [{label}]: {s.audit_rows:,} audit rows, {s.request_rows:,} requests,"
        f" {s.link_rows:,} links, {size:.0f} MiB, built in {seconds:.1f} s; query plans:"
    )
    for lookup in lookups:
        row = latency_row("5", lookup.name, f"{s.audit_rows // 1000:,}k audit", lookup.seconds, 0)
        row.target = f"p99<{LOOKUP_LIMIT_MS:g}"
        row.result = verdict(row.p99 is not None and row.p99 < LOOKUP_LIMIT_MS)
        row.store = label if s.backend != "sqlite" else ""
        rows.append(row)
        sections.append(f"  {lookup.name}:")
        for sql, plan in lookup.plans:
            sections.append(f"    SQL: {sql}")
            sections += [f"      {explain}: {step}" for step in plan]
    return rows


# -- main --------------------------------------------------------------------------------------
PG_SKIPPED = "PostgreSQL parts skipped: {why}. SQLite parts (if any) ran as usual."


def start_pg(s: Settings) -> tuple[PgCluster | None, str]:
    """A throwaway PostgreSQL cluster for the run, or None and the reason it is skipped (the
    ``postgresql`` package absent, or the cluster would not start)."""
    progress("starting a throwaway PostgreSQL cluster")
    try:
        cluster = start_cluster()
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        why = f"the cluster did not start ({error}; {detail.decode(errors='replace')[-300:]})"
        progress(PG_SKIPPED.format(why=why))
        return None, PG_SKIPPED.format(why=why)
    if cluster is None:
        progress(PG_SKIPPED.format(why=MISSING))
        return None, PG_SKIPPED.format(why=MISSING)
    progress(f"PostgreSQL on 127.0.0.1:{cluster.port} ({cluster.bindir})")
    return cluster, ""


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected parts and print the table; returns 0 even when targets are missed."""
    s = parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the server processes.
        signal.signal(signal.SIGTERM, _terminate)
    began = time.monotonic()
    rows: list[Row] = []
    sections: list[str] = []
    users = max([*s.ack_levels, *s.click_levels, s.confirmations, 16])
    workdir = Path(tempfile.mkdtemp(prefix="delete-org-bench-"))
    cluster: PgCluster | None = None
    try:
        targets: list[StoreTarget] = []
        if s.backend in ("sqlite", "both"):
            targets.append(StoreTarget("sqlite", workdir / "app.db"))
        if s.backend in ("postgresql", "both") and s.parts & PG_PARTS:
            cluster, skipped = start_pg(s)
            if cluster is None:
                sections.append(skipped)
            elif s.parts & {1, 2, 3}:
                for count in s.replicas:
                    label = "pg" if count == 1 else f"pg x{count}"
                    url = cluster.create_database(f"bench_app{count}")
                    targets.append(StoreTarget(label, url, count))
        if s.parts & {1, 2, 3, 4}:
            world = World(users=users)
            try:
                if s.parts & {1, 2, 3}:
                    for target in targets:
                        rows += run_http_parts(world, workdir, s, sections, target)
                if 4 in s.parts:
                    rows += part_memory(world, workdir, s)
            finally:
                world.close()
        if 5 in s.parts:
            if s.backend in ("sqlite", "both"):
                rows += part_storage(workdir, s, sections)
            if cluster is not None:
                rows += part_storage(workdir, s, sections, cluster.create_database("bench_scale"))
        if 6 in s.parts:
            export_rows, export_notes = audit_export.part_export(workdir, s.export_rows, progress)
            rows += export_rows
            sections += export_notes
        if s.backend != "sqlite" and s.parts & {4, 6}:
            sections.append("parts 4 and 6 ran on SQLite only (process RSS and start-up; export)")
    except BaseException:
        progress(f"benchmark failed; server logs and databases kept in {workdir}")
        raise
    finally:
        if cluster is not None:
            stop_cluster(cluster)
    if s.keep:
        progress(f"server logs and databases kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    command = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    print(f"delete-org-bot benchmark: {command}")
    for line in machine():
        print(f"  {line}")
    bursts = {level: s.rounds(level) for level in sorted({*s.ack_levels, *s.click_levels})}
    print(
        f"  settings: Coveo latency parts 1-2 {s.coveo_latency:g} s, DELETE latency part 3"
        f" {s.delete_latency:g} s; bursts per concurrency level {bursts};"
        f" times in ms; run took {time.monotonic() - began:.0f} s"
    )
    if s.overrides:
        print(f"  EXPERIMENT (parts 1-3 app process only): {s.overrides}")
    print()
    print(render(rows))
    if sections:
        print()
        print("\n".join(sections))
    met = sum(1 for r in rows if r.result == MET)
    missed = [r for r in rows if r.result == MISSED]
    print()
    print(f"targets: {met} met, {len(missed)} missed")
    for r in missed:
        print(f"  MISSED [{where(r)}] {r.metric} @ {r.load}: {r.target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
