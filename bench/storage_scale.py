"""Part 5: the app's lookups through the Store API on a large SQLite file.

Builds a database with the app's own schema (``Store`` runs the migrations), bulk-inserts
``audit_rows`` audit events, ``request_rows`` deletion requests (mostly finished, some pending
or deleting, some pending past their deadline) and ``link_rows`` links with executemany, then
times ``live_request_for_org``, ``get_link`` and ``due_for_expiry`` on a fresh Store, and
captures the SQL each one really ran (``sqlite3`` trace callback) to print its
``EXPLAIN QUERY PLAN``.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.clock import to_iso, utcnow
from bot.crypto import TokenCipher
from storage import Store

WORKSPACE = "T0SCALE0001"
FINAL = ("deleted", "failed", "cancelled", "expired", "unknown")
EVENTS = ("requested", "confirmed", "deleted", "cancelled", "expired", "refused", "linked")


@dataclass
class Lookup:
    """Timings (seconds) of one Store operation and the query plans of the SQL it ran."""

    name: str
    seconds: list[float]
    plans: list[tuple[str, list[str]]]


def _orgs(i: int, orgs: int) -> str:
    return f"scaleorg{i % orgs:07d}"


def build(
    path: Path, cipher: TokenCipher, audit_rows: int, request_rows: int, link_rows: int
) -> float:
    """Create the file and fill it; returns the seconds it took."""
    started = time.monotonic()
    Store(path, cipher).close()  # schema through the app's own migrations
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA synchronous = OFF")
    now = utcnow()
    live = max(1, request_rows // 100)  # 1 % live: pending or deleting, distinct orgs
    orgs = max(live, request_rows // 4)
    rng = random.Random(6)
    token = cipher.encrypt("scale-token-not-real")
    url = cipher.encrypt("https://hooks.slack.invalid/commands/T0SCALE0001/1/x")

    def requests() -> Iterator[tuple[object, ...]]:
        for i in range(request_rows):
            created = now - timedelta(seconds=(request_rows - i) * 30)
            if i < live:
                state = "deleting" if i % 5 == 0 else "pending"
                # half the pending ones are past their deadline (what the sweeper looks for)
                expires = now + timedelta(seconds=120 if i % 2 else -60 - i)
            else:
                state = FINAL[i % len(FINAL)]
                expires = created + timedelta(seconds=120)
            yield (
                f"scalereq{i:012d}",
                WORKSPACE,
                WORKSPACE,
                f"U0SCALE{i % max(1, link_rows):06d}",
                "C0SCALE0001",
                _orgs(i, orgs),
                f"Scale org {i % orgs}",
                "Production",
                "us",
                state,
                to_iso(created),
                to_iso(expires),
                to_iso(created),
                f"1700000000.{i:06d}",
                "channel",
                url,
            )

    def audits() -> Iterator[tuple[object, ...]]:
        for i in range(audit_rows):
            req = rng.randrange(max(1, request_rows))
            yield (
                to_iso(now - timedelta(seconds=audit_rows - i)),
                EVENTS[i % len(EVENTS)],
                WORKSPACE,
                f"U0SCALE{req % max(1, link_rows):06d}",
                f"scalereq{req:012d}",
                _orgs(req, orgs),
                "us",
                "pending",
                "deleting",
                204,
                f"req-{i}",
                None,
            )

    def links() -> Iterator[tuple[object, ...]]:
        for i in range(link_rows):
            yield (
                WORKSPACE,
                f"U0SCALE{i:06d}",
                token,
                "us",
                f"scale{i}@example.com",
                f"scale{i}@example.com",
                to_iso(now),
                None,
                "active",
            )

    with conn:
        conn.executemany(
            "INSERT INTO deletion_requests (id, workspace, team_id, requester_id, channel_id,"
            " org_id, org_name, org_type, region, state, created_at, expires_at, updated_at,"
            " card_ts, delivery, response_url_encrypted)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            requests(),
        )
        conn.executemany(
            "INSERT INTO audit_events (at, event, workspace, actor_id, request_id, org_id,"
            " region, from_state, to_state, http_status, coveo_request_id, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            audits(),
        )
        conn.executemany(
            "INSERT INTO links (workspace, user_id, token_encrypted, region, coveo_username,"
            " coveo_email, linked_at, expires_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            links(),
        )
    conn.close()
    return time.monotonic() - started


def measure(
    path: Path,
    cipher: TokenCipher,
    request_rows: int,
    link_rows: int,
    repeats: int,
) -> list[Lookup]:
    """Time each lookup ``repeats`` times on a fresh Store (after a short warm-up)."""
    store = Store(path, cipher)
    live = max(1, request_rows // 100)
    orgs = max(live, request_rows // 4)
    rng = random.Random(5)
    try:
        conn = store._db().conn  # the store's own connection in this thread
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        cases: list[tuple[str, Callable[[int], object]]] = [
            (
                "live_request_for_org (live org)",
                lambda i: store.live_request_for_org(_orgs(rng.randrange(live), orgs), "us"),
            ),
            (
                "live_request_for_org (no live request)",
                lambda i: store.live_request_for_org(
                    _orgs(live + rng.randrange(max(1, orgs - live)), orgs), "us"
                ),
            ),
            (
                "get_link",
                lambda i: store.get_link(WORKSPACE, f"U0SCALE{rng.randrange(link_rows):06d}"),
            ),
            ("due_for_expiry (sweeper)", lambda i: store.due_for_expiry(utcnow())),
        ]
        results = []
        for name, call in cases:
            for i in range(10):
                call(i)
            statements.clear()
            call(0)
            ran = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
            plans = [(sql, _plan(path, sql)) for sql in ran]
            conn.set_trace_callback(None)
            seconds = []
            for i in range(repeats):
                started = time.perf_counter()
                call(i)
                seconds.append(time.perf_counter() - started)
            conn.set_trace_callback(statements.append)
            results.append(Lookup(name, seconds, plans))
        conn.set_trace_callback(None)
        return results
    finally:
        store.close()


def _plan(path: Path, sql: str) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
    finally:
        conn.close()
    return [str(row[-1]) for row in rows]
