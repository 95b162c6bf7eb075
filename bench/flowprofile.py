"""Where a Confirm click spends CPU: cProfile with a per-thread CPU clock, one thread at a time.

``python -m bench.flowprofile [--clicks N]`` builds the real app in this process (HTTP mode on
127.0.0.1, FakeSlack and FakeCoveo at 0 latency), posts ``2 × N`` preview cards, then profiles

1. the **ack path**: ``app.dispatch`` of N signed Confirm clicks on this thread (signature
   check, Bolt middleware, the ack function, the copy of the request for the lazy listener);
   the lazy work itself runs on the listener pool and is not counted;
2. the **post-ack work**: ``DeletionFlow.confirm`` for N other cards called on this thread
   (store reads and writes, token decryption, the "Deleting…" card update, the DELETE, the
   outcome, the card update and the thread reply).

``time.thread_time`` is the profiler's clock, so the fakes' threads are not counted, and the
time spent waiting for Slack or Coveo answers is not CPU. Prints CPU ms per click and the
functions with the most cumulative and own CPU time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import tempfile
import threading
import time
from pathlib import Path

from bench.load import command_body, signed_headers, wait_until
from bench.procs import BOT_TOKEN, CHANNEL, SECRET, World, free_port
from bench.serve import build_baseline_app
from bot.app import create_app
from bot.config import load_config
from bot.server import make_http_server
from handlers.deps import Actor
from handlers.ids import ACTION_CONFIRM


def _stats(profile: cProfile.Profile, clicks: int, sort: str, limit: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(limit)
    total = stats.total_tt  # type: ignore[attr-defined]
    lines = out.getvalue().splitlines()
    body = [line for line in lines if line.strip()][3:]
    return f"  CPU per click: {total * 1000 / clicks:.2f} ms\n" + "\n".join(
        "    " + line for line in body
    )


def main(argv: list[str] | None = None) -> int:
    """Profile ``--clicks`` clicks; print the two profiles."""
    parser = argparse.ArgumentParser(prog="python -m bench.flowprofile")
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--limit", type=int, default=18, help="functions shown per table")
    args = parser.parse_args(argv)
    n = args.clicks
    workdir = Path(tempfile.mkdtemp(prefix="delete-org-flowprofile-"))
    world = World(users=2 * n)
    try:
        db = workdir / "app.db"
        world.link_all(db)
        port = free_port()
        runtime = create_app(load_config(world.app_env(db, port)))
        server = make_http_server(runtime.app, "127.0.0.1", port)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            store = world.open_store(db)
            orgs = world.new_orgs(2 * n)
            from bench.load import post

            for i, org in enumerate(orgs):
                body = command_body(world.slack, world.users[i].id, CHANNEL, org)
                post(port, SECRET, body)
            cards: dict[str, str] = {}

            def posted() -> bool:
                for org in orgs:
                    request = store.live_request_for_org(org, "us")
                    if request is not None and request.card_ts:
                        cards[org] = request.card_ts
                return len(cards) == len(orgs)

            if not wait_until(posted, 60):
                raise RuntimeError("cards were not posted")
            from slack_bolt.request import BoltRequest
            from slack_bolt.util.utils import create_copy

            ack_profile = cProfile.Profile(time.thread_time)
            plain_dispatch = plain_copy = 0.0
            body_sizes = []
            clicks = [
                world.slack.build_click(
                    world.users[i].id,
                    channel_id=CHANNEL,
                    message_ts=cards[org],
                    action_id=ACTION_CONFIRM,
                )
                for i, org in enumerate(orgs[:n])
            ]
            for i, body in enumerate(clicks):
                text = body.decode()
                headers = {k.lower(): [v] for k, v in signed_headers(SECRET, body).items()}
                body_sizes.append(len(body))
                if i % 2:
                    ack_profile.enable()
                    response = runtime.app.dispatch(BoltRequest(body=text, headers=headers))
                    ack_profile.disable()
                else:  # unprofiled: the whole ack path, and the lazy-request copy alone
                    started = time.thread_time()
                    response = runtime.app.dispatch(BoltRequest(body=text, headers=headers))
                    plain_dispatch += time.thread_time() - started
                    parsed = BoltRequest(body=text, headers=headers)
                    started = time.thread_time()
                    create_copy(parsed.to_copyable())
                    plain_copy += time.thread_time() - started
                assert response.status == 200, response.body
            work_profile = cProfile.Profile(time.thread_time)
            plain_work = 0.0
            for j, org in enumerate(orgs[n:]):
                request = store.live_request_for_org(org, "us")
                assert request is not None
                actor = Actor(
                    world.slack.team_id, world.slack.team_id, world.users[n + j].id, CHANNEL, None
                )
                if j % 2:
                    work_profile.enable()
                    runtime.flow.confirm(actor, request.id, cards[org])
                    work_profile.disable()
                else:
                    started = time.thread_time()
                    runtime.flow.confirm(actor, request.id, cards[org])
                    plain_work += time.thread_time() - started
            wait_until(lambda: len(world.coveo.deletes()) >= 2 * n, 30)
            store.close()
            print(f"Confirm click CPU profile ({n} clicks each; per-thread CPU clock)")
            # The baseline's ack runs on its own listener pool thread (Bolt's default mode),
            # so its CPU is read for the whole process, fakes idle meanwhile.
            baseline = build_baseline_app(BOT_TOKEN, SECRET, world.slack.api_url)
            base_cpu = 0.0
            for body in clicks:
                headers = {k.lower(): [v] for k, v in signed_headers(SECRET, body).items()}
                started = time.process_time()
                baseline.dispatch(BoltRequest(body=body.decode(), headers=headers))
                base_cpu += time.process_time() - started
            half = max(1, n // 2)
            print(
                f"\n1. ack path on the request thread (app.dispatch); click bodies of"
                f" {min(body_sizes)}-{max(body_sizes)} bytes. Without the profiler:"
                f" {plain_dispatch * 1000 / half:.2f} ms CPU per click, of which Bolt's copy of"
                f" the request for the lazy listener (deepcopy + re-parse):"
                f" {plain_copy * 1000 / half:.2f} ms. The baseline (ack-only Bolt app, same"
                f" click): {base_cpu * 1000 / n:.2f} ms CPU per click."
                " The app, profiled, by cumulative CPU:"
            )
            print(_stats(ack_profile, n - half, "cumulative", args.limit))
            print(
                "\n2. post-ack work (DeletionFlow.confirm). Without the profiler:"
                f" {plain_work * 1000 / half:.2f} ms CPU per click. Profiled, by cumulative CPU:"
            )
            print(_stats(work_profile, n - half, "cumulative", args.limit))
            print("\n   the same, by own CPU:")
            print(_stats(work_profile, n - half, "tottime", args.limit))
        finally:
            server.close()
            thread.join(5)
            runtime.close()
    finally:
        world.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
