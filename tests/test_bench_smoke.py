"""Smoke test of the benchmark (bench/): it runs end to end at load 5 and prints every row.

Timing targets are not asserted here (a loaded CI machine must not fail the suite); only that
the command works and the table has the rows of all five parts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

EXPECTED_ROWS = (
    "ack /delete-org <org-id>",
    "baseline (ack-only)",
    "ack Confirm click",
    "click -> DELETE at Coveo",
    "then click -> card updated",
    "confirm -> reply in thread",
    "wall time, first click -> last reply (ms)",
    "DELETEs received by Coveo",
    "ack of mixed requests",
    "start-up -> /healthz answers",
    "RSS after start (MiB)",
    "RSS growth",
    "live_request_for_org (live org)",
    "get_link",
    "due_for_expiry (sweeper)",
)


def _run_bench(*args: str, timeout: float) -> tuple[int, str, str]:
    """Run ``python -m bench`` in its own process group, and kill the whole group (the bench
    and the servers it started) if it overruns or the test is interrupted."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, out, err


def test_quick_benchmark_prints_every_row() -> None:
    returncode, out, err = _run_bench("--quick", "--load", "5", timeout=100)
    assert returncode == 0, err[-3000:]
    header = [line for line in out.splitlines() if line.startswith("part |")]
    assert header and "p99" in header[0] and "base p99" in header[0] and "ratio" in header[0]
    for row in EXPECTED_ROWS:
        assert row in out, f"missing row {row!r} in:\n{out}"
    rows = [line for line in out.splitlines() if line[:1] in "12345" and " | " in line]
    assert {line[0] for line in rows} == set("12345")
    # both loads of part 1 were measured against the baseline, with a ratio
    part1 = [line for line in rows if "ack /delete-org" in line]
    assert len(part1) == 2 and all(line.count("x |") == 1 for line in part1)
    assert "cores:" in out and "Python" in out
    assert "EXPLAIN QUERY PLAN" in out
    assert "targets:" in out
