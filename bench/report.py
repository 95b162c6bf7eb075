"""Rows of the benchmark table, their verdicts against the targets, and the printed table."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import percentile

MET = "MET"
MISSED = "MISSED"
INFO = "-"


@dataclass
class Row:
    """One line of the table. Times are in milliseconds unless the metric names another unit.

    A row with a single figure (``value``) prints it in the ``max/value`` column.
    """

    part: str
    metric: str
    load: str = ""
    store: str = ""
    """Which store the app ran on (``sqlite``, ``pg``, ``pg x2``), when the run compares them."""
    n: int | None = None
    errors: int | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    base_p99: float | None = None
    target: str = ""
    result: str = INFO
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """p99 / baseline p99 at the same load, when there is a baseline."""
        if self.base_p99 is None or self.p99 is None or self.base_p99 <= 0:
            return None
        return self.p99 / self.base_p99


def latency_row(part: str, metric: str, load: str, seconds: Sequence[float], errors: int) -> Row:
    """A row of p50/p95/p99/max (in ms) over ``seconds``."""
    ms = [s * 1000 for s in seconds]
    if not ms:
        return Row(part, metric, load, n=0, errors=errors, notes=["no samples"])
    return Row(
        part,
        metric,
        load,
        n=len(ms),
        errors=errors,
        p50=percentile(ms, 50),
        p95=percentile(ms, 95),
        p99=percentile(ms, 99),
        max=max(ms),
    )


def value_row(part: str, metric: str, value: float, load: str = "") -> Row:
    """A row with one figure (printed in the max/value column)."""
    return Row(part, metric, load, max=value)


def verdict(ok: bool) -> str:
    """MET or MISSED."""
    return MET if ok else MISSED


def machine() -> list[str]:
    """Cores, CPU, Python, platform and the versions of the packages on the measured path."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = []
    for name in ("slack-bolt", "slack-sdk", "waitress", "httpx", "sqlite-utils"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} ?")
    import sqlite3

    return [
        code_version(),
        f"cores: {os.cpu_count()} (usable by this process: {usable}); CPU: {cpu}",
        f"Python {platform.python_version()} ({sys.implementation.name}); {platform.platform()}",
        f"SQLite {sqlite3.sqlite_version}; " + ", ".join(versions),
    ]


def code_version() -> str:
    """Which code was measured: the git commit of the project root and whether product files
    differ from it, or the snapshot's recorded commit (``BENCH_SOURCE`` file)."""
    root = Path(__file__).resolve().parent.parent
    recorded = root / "BENCH_SOURCE"
    if recorded.exists():
        return "code: " + recorded.read_text().strip()
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "bot", "handlers", "storage"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return f"code: {root} (not a git checkout)"
    state = f"{len(dirty)} product files modified or new" if dirty else "clean"
    return f"code: {root} at commit {head} ({state})"


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


HEADERS = (
    "part",
    "metric",
    "load",
    "n",
    "err",
    "p50",
    "p95",
    "p99",
    "max/value",
    "base p99",
    "ratio",
    "target",
    "result",
)


def where(row: Row) -> str:
    """``part`` or ``part store``: how notes and the missed list name a row."""
    return f"{row.part} {row.store}" if row.store else row.part


def render(rows: Sequence[Row]) -> str:
    """The table as aligned text (numbers right-aligned), notes listed under it; a ``store``
    column after ``part`` when some row names its store."""
    stores = any(row.store for row in rows)
    cells = [
        [
            row.part,
            *([row.store] if stores else []),
            row.metric,
            row.load,
            "" if row.n is None else str(row.n),
            "" if row.errors is None else str(row.errors),
            _fmt(row.p50),
            _fmt(row.p95),
            _fmt(row.p99),
            _fmt(row.max),
            _fmt(row.base_p99),
            "" if row.ratio is None else f"{row.ratio:.2f}x",
            row.target,
            row.result,
        ]
        for row in rows
    ]
    headers = [HEADERS[0], *(["store"] if stores else []), *HEADERS[1:]]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
    left = {0, 1, 11, 12} if not stores else {0, 1, 2, 12, 13}

    def line(values: Sequence[str]) -> str:
        parts = [
            v.ljust(widths[i]) if i in left else v.rjust(widths[i]) for i, v in enumerate(values)
        ]
        return " | ".join(parts).rstrip()

    out = [line(headers), "-+-".join("-" * w for w in widths)]
    out.extend(line(c) for c in cells)
    notes = [f"  [{where(row)}] {row.metric} @ {row.load}: {n}" for row in rows for n in row.notes]
    if notes:
        out.append("")
        out.append("notes:")
        out.extend(notes)
    return "\n".join(out)
