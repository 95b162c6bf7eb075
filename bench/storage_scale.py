"""Part 5: the app's lookups through the Store API on a large SQLite file or PostgreSQL database.

Builds a database with the app's own schema (``Store`` runs the migrations), bulk-inserts
``audit_rows`` audit events, ``request_rows`` deletion requests (mostly finished, some pending
or deleting, some pending past their deadline) and ``link_rows`` links (SQLite: executemany in
one transaction; PostgreSQL: ``COPY``, then ``ANALYZE`` as autovacuum would do after such a
load), then times ``live_request_for_org``, ``get_link`` and ``due_for_expiry`` on a fresh
Store, and captures the SQL each one really ran (SQLite: the ``sqlite3`` trace callback;
PostgreSQL: the statements and parameters the backend sent) to print its plan
(``EXPLAIN QUERY PLAN`` / ``EXPLAIN``).
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

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


REQUEST_COLUMNS = (
    "id, workspace, team_id, requester_id, channel_id, org_id, org_name, org_type, region,"
    " state, created_at, expires_at, updated_at, card_ts, delivery, response_url_encrypted"
)
AUDIT_COLUMNS = (
    "at, event, workspace, actor_id, request_id, org_id, region, from_state, to_state,"
    " http_status, coveo_request_id, detail"
)
LINK_COLUMNS = (
    "workspace, user_id, token_encrypted, region, coveo_username, coveo_email, linked_at,"
    " expires_at, status"
)
Rows = Iterator[tuple[object, ...]]


def generate(
    cipher: TokenCipher, audit_rows: int, request_rows: int, link_rows: int
) -> dict[str, tuple[str, Rows]]:
    """Table name → (its column list, the rows to insert), the same for both backends."""
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

    return {
        "deletion_requests": (REQUEST_COLUMNS, requests()),
        "audit_events": (AUDIT_COLUMNS, audits()),
        "links": (LINK_COLUMNS, links()),
    }


def build(
    path: Path, cipher: TokenCipher, audit_rows: int, request_rows: int, link_rows: int
) -> float:
    """Create the SQLite file and fill it; returns the seconds it took."""
    started = time.monotonic()
    Store(path, cipher).close()  # schema through the app's own migrations
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA synchronous = OFF")
    with conn:
        for table, (columns, rows) in generate(cipher, audit_rows, request_rows, link_rows).items():
            marks = ", ".join("?" for _ in columns.split(","))
            conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608
    conn.close()
    return time.monotonic() - started


def build_pg(
    url: str, cipher: TokenCipher, audit_rows: int, request_rows: int, link_rows: int
) -> float:
    """Fill an empty PostgreSQL database (schema by the app's migrations, rows by ``COPY``,
    then ``ANALYZE``); returns the seconds it took."""
    import psycopg

    started = time.monotonic()
    Store(url, cipher).close()
    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            for table, (columns, rows) in generate(
                cipher, audit_rows, request_rows, link_rows
            ).items():
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
    return time.monotonic() - started


def pg_size(url: str) -> int:
    """Bytes the PostgreSQL database at ``url`` takes (``pg_database_size``)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


class Recorder:
    """The SQL statements (with their parameters) the Store ran while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.statements: list[tuple[str, Sequence[Any]]] = []

    def add(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        """Record one statement (when on)."""
        if self.on:
            self.statements.append((sql, tuple(parameters)))


@contextmanager
def _sqlite_capture(store: Store, recorder: Recorder) -> Iterator[None]:
    conn = store._db().conn  # the store's own connection in this thread
    conn.set_trace_callback(recorder.add)
    try:
        yield
    finally:
        conn.set_trace_callback(None)


@contextmanager
def _pg_capture(recorder: Recorder) -> Iterator[None]:
    from storage import pg_backend

    original = pg_backend._run

    def recording(conn: Any, sql: str, parameters: Sequence[Any]) -> Any:
        recorder.add(sql, parameters)
        return original(conn, sql, parameters)

    pg_backend._run = recording
    try:
        yield
    finally:
        pg_backend._run = original


def measure(
    location: Path | str,
    cipher: TokenCipher,
    request_rows: int,
    link_rows: int,
    repeats: int,
) -> list[Lookup]:
    """Time each lookup ``repeats`` times on a fresh Store (after a short warm-up) on the SQLite
    file or PostgreSQL URL ``location``."""
    store = Store(location, cipher)
    live = max(1, request_rows // 100)
    orgs = max(live, request_rows // 4)
    rng = random.Random(5)
    recorder = Recorder()

    def plan(sql: str, parameters: Sequence[Any]) -> list[str]:
        if isinstance(location, str):
            return _pg_plan(location, sql, parameters)
        return _plan(location, sql)

    capture: AbstractContextManager[None] = (
        _pg_capture(recorder) if isinstance(location, str) else _sqlite_capture(store, recorder)
    )
    try:
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
        with capture:
            for name, call in cases:
                for i in range(10):
                    call(i)
                recorder.on = True
                recorder.statements.clear()
                call(0)
                recorder.on = False
                ran = [
                    (sql, params)
                    for sql, params in recorder.statements
                    if sql.lstrip().upper().startswith("SELECT")
                ]
                plans = [(sql, plan(sql, params)) for sql, params in ran]
                seconds = []
                for i in range(repeats):
                    started = time.perf_counter()
                    call(i)
                    seconds.append(time.perf_counter() - started)
                results.append(Lookup(name, seconds, plans))
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


def _pg_plan(url: str, sql: str, parameters: Sequence[Any]) -> list[str]:
    import psycopg

    from storage.dialect import to_pyformat

    with psycopg.connect(url, autocommit=True) as conn:
        if parameters:
            rows = conn.execute("EXPLAIN " + to_pyformat(sql), list(parameters)).fetchall()
        else:
            rows = conn.execute("EXPLAIN " + sql).fetchall()
    return [str(row[0]) for row in rows]
