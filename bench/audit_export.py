"""Part 6: ``delete-org-bot audit export`` on a large audit trail, in constant memory.

The trail is made with direct SQL in one transaction (executemany), but chained exactly as the
app's one audit writer chains it (``storage.audit_chain.canonical`` and ``chain_hash``, plain
SHA-256 as without ``DELETE_ORG_AUDIT_KEY``), continuing from the chain's head and moving the
head, so ``audit verify`` passes on the result. The export runs as its own process (the
installed console script); its wall time and its peak RSS (``ru_maxrss`` from ``os.wait4``)
are measured at two sizes: the first rows, then the same file grown tenfold. Peak RSS that
does not grow with the rows shows the export streams.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bench.report import Row, value_row, verdict
from bot.clock import to_iso
from storage.audit_chain import AUDIT_FIELDS, canonical, chain_hash

EVENTS = ("requested", "confirmed", "deleted", "cancelled", "expired", "refused", "linked")
FORMATS = ("csv", "jsonl")


@dataclass(frozen=True)
class ExportRun:
    """One export: ``fmt``, rows written, wall time (s), peak RSS (KiB), output size (bytes)."""

    fmt: str
    rows: int
    seconds: float
    peak_rss_kib: int
    output_bytes: int


def append_chained(path: Path, rows: int, start: datetime) -> float:
    """Append ``rows`` audit events to the app database at ``path`` (already migrated),
    chained from its head, one event a millisecond from ``start`` (aware UTC); returns the
    seconds it took."""
    began = time.monotonic()
    conn = sqlite3.connect(str(path))
    try:
        conn.execute("PRAGMA synchronous = OFF")
        head_id, head_hash = conn.execute(
            "SELECT head_id, head_hash FROM audit_chain WHERE id = 1"
        ).fetchone()
        last_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM audit_events").fetchone()[0]
        first = max(int(head_id), int(last_id)) + 1
        tail = [str(head_hash)]

        def events() -> Iterator[tuple[object, ...]]:
            for n in range(rows):
                row_id = first + n
                req = row_id // 4
                fields: dict[str, object] = {
                    "at": to_iso(start + timedelta(milliseconds=n)),
                    "event": EVENTS[row_id % len(EVENTS)],
                    "workspace": "T0EXPORT001",
                    "actor_id": f"U0EXP{req % 5000:06d}",
                    "request_id": f"exportreq{req:012d}",
                    "org_id": f"exportorg{req % 20000:07d}",
                    "region": "us",
                    "from_state": "pending",
                    "to_state": "deleting",
                    "http_status": 204 if row_id % 7 == 2 else None,
                    "coveo_request_id": f"req-{row_id}" if row_id % 7 == 2 else None,
                    # commas, quotes and non-ASCII, so CSV quoting and JSON escaping do work
                    "detail": 'rule "prod", protected — ok' if row_id % 11 == 0 else None,
                }
                digest = chain_hash(tail[0], canonical(row_id, fields), None)
                yield (row_id, *(fields[name] for name in AUDIT_FIELDS), tail[0], digest)
                tail[0] = digest

        columns = ", ".join(AUDIT_FIELDS)
        marks = ", ".join("?" for _ in range(len(AUDIT_FIELDS) + 3))
        with conn:
            conn.executemany(
                f"INSERT INTO audit_events (id, {columns}, prev_hash, hash) VALUES ({marks})",
                events(),
            )
            conn.execute(
                "UPDATE audit_chain SET head_id = ?, head_hash = ? WHERE id = 1",
                (first + rows - 1 if rows else head_id, tail[0]),
            )
    finally:
        conn.close()
    return time.monotonic() - began


def console_script() -> list[str]:
    """The installed ``delete-org-bot`` console script (or ``python -m bot``)."""
    script = Path(sys.executable).parent / "delete-org-bot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def run_export(path: Path, fmt: str, out: Path) -> ExportRun:
    """Run ``delete-org-bot audit export --format fmt -o out`` on ``path`` as a child process
    and measure it.

    Raises:
        RuntimeError: the export exited non-zero (its stderr is in the message).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DELETE_ORG_", "SLACK_"))}
    errors = out.with_suffix(".stderr")
    argv = [*console_script(), "audit", "export", "--db", str(path), "--format", fmt]
    with errors.open("w") as err:
        began = time.monotonic()
        proc = subprocess.Popen([*argv, "-o", str(out)], env=env, stdout=err, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - began
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4 already
    message = errors.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"audit export --format {fmt} exited {proc.returncode}: {message}")
    written = int(message.split()[1]) if message.startswith("wrote ") else -1
    # ru_maxrss is in KiB on Linux
    return ExportRun(fmt, written, seconds, int(usage.ru_maxrss), out.stat().st_size)


RSS_GROWTH_LIMIT_PCT = 10.0
"""Largest growth of the export's peak RSS from the small to the large trail (tenfold rows)."""


def part_export(
    workdir: Path, rows: int, say: Callable[[str], None]
) -> tuple[list[Row], list[str]]:
    """Build a trail of ``rows // 10`` rows, export it in each format, grow it to ``rows`` and
    export again; returns the table rows and the notes printed under the table."""
    from cryptography.fernet import Fernet

    from bot.clock import utcnow
    from bot.crypto import TokenCipher
    from storage import Store

    path = workdir / "audit-export.db"
    Store(path, TokenCipher([Fernet.generate_key().decode()])).close()  # the app's schema
    small = max(1, rows // 10)
    start = utcnow() - timedelta(days=30)
    table: list[Row] = []
    notes: list[str] = []
    runs: dict[tuple[str, int], ExportRun] = {}
    built = 0
    for size in (small, rows):
        say(f"part 6: audit trail of {size:,} rows (direct SQL, chained)")
        seconds = append_chained(path, size - built, start + timedelta(milliseconds=built))
        notes.append(f"part 6: {size - built:,} audit rows appended in {seconds:.1f} s")
        built = size
        for fmt in FORMATS:
            say(f"part 6: audit export --format {fmt} of {size:,} rows")
            run = run_export(path, fmt, workdir / f"export-{size}.{fmt}")
            runs[fmt, size] = run
            load = f"{size // 1000:,}k rows" if size >= 1000 else f"{size} rows"
            table.append(value_row("6", f"audit export {fmt}: wall time", run.seconds * 1000, load))
            table.append(
                value_row("6", f"audit export {fmt}: peak RSS (MiB)", run.peak_rss_kib / 1024, load)
            )
            notes.append(
                f"  {fmt} {size:,} rows: {run.rows:,} written, {run.output_bytes / 2**20:.1f} MiB,"
                f" {run.rows / max(run.seconds, 1e-9):,.0f} rows/s, peak RSS"
                f" {run.peak_rss_kib / 1024:.1f} MiB"
            )
            (workdir / f"export-{size}.{fmt}").unlink()
    for fmt in FORMATS:
        low, high = runs[fmt, small].peak_rss_kib, runs[fmt, rows].peak_rss_kib
        growth = (high - low) / low * 100
        row = value_row(
            "6", f"audit export {fmt}: peak RSS growth (%)", growth, f"{small:,} -> {rows:,}"
        )
        row.target = f"<{RSS_GROWTH_LIMIT_PCT:g} %"
        row.result = verdict(growth < RSS_GROWTH_LIMIT_PCT)
        table.append(row)
    return table, notes
