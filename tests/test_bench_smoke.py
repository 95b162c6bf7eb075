"""Smoke test of the benchmark (bench/): it runs end to end at load 5 and prints every row.

Timing targets are not asserted here (a loaded CI machine must not fail the suite); only that
the command works and the table has the rows of all six parts; and that part 6's audit trail,
made with direct SQL, is chained exactly as the app chains it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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
    "audit export csv: wall time",
    "audit export jsonl: peak RSS (MiB)",
    "audit export csv: peak RSS growth (%)",
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
    rows = [line for line in out.splitlines() if line[:1] in "123456" and " | " in line]
    assert {line[0] for line in rows} == set("123456")
    # both loads of part 1 were measured against the baseline, with a ratio
    part1 = [line for line in rows if "ack /delete-org" in line]
    assert len(part1) == 2 and all(line.count("x |") == 1 for line in part1)
    assert "cores:" in out and "Python" in out
    assert "EXPLAIN QUERY PLAN" in out
    assert "targets:" in out


def test_bench_audit_trail_verifies_and_exports_like_the_apps(tmp_path: Path) -> None:
    """Rows appended by bench.audit_export continue the app's chain (``audit verify`` passes,
    also after the app writes again), and the measured export writes every one of them."""
    from cryptography.fernet import Fernet

    from bench.audit_export import append_chained, run_export
    from bot.cli import main
    from bot.clock import utcnow
    from bot.crypto import TokenCipher
    from storage import Store

    path = tmp_path / "trail.db"
    store = Store(path, TokenCipher([Fernet.generate_key().decode()]))
    try:
        store.record_event(utcnow(), "linked", workspace="T0EXPORT001", actor_id="U0EXP000001")
        append_chained(path, 300, utcnow())
        store.record_event(utcnow(), "frozen", actor_id="U0EXP000002", detail="after the bench")
    finally:
        store.close()
    assert main(["audit", "verify", "--db", str(path)], environ={}) == 0
    run = run_export(path, "csv", tmp_path / "out.csv")
    assert run.rows == 302 and run.peak_rss_kib > 0 and run.output_bytes > 0
    lines = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 303 and '"rule ""prod"", protected — ok"' in "\n".join(lines)


def test_quick_benchmark_on_postgresql_with_two_replicas() -> None:
    """The PostgreSQL path at a tiny load: two app replicas on one database behind the
    round-robin front (parts 1 and 3), and the lookups with their EXPLAIN plans (part 5)."""
    from bot.emulator.pgcluster import pg_bindir

    returncode, out, err = _run_bench(
        "--quick",
        "--load",
        "2",
        "--backend",
        "postgresql",
        "--replicas",
        "2",
        "--parts",
        "1,3,5",
        timeout=100,
    )
    assert returncode == 0, err[-3000:]
    if pg_bindir() is None:
        assert "PostgreSQL parts skipped" in out and "apt-get install postgresql" in out
        return
    header = next(line for line in out.splitlines() if line.startswith("part |"))
    assert header.split(" | ")[1].strip() == "store"
    rows = [line for line in out.splitlines() if line[:1] in "135" and " | " in line]
    stores = {(line[0], line.split(" | ")[1].strip()) for line in rows}
    assert stores == {("1", "pg x2"), ("3", "pg x2"), ("5", "pg")}
    assert "ack /delete-org <org-id>" in out and "DELETEs received by Coveo" in out
    deletes = next(line for line in rows if "DELETEs received by Coveo" in line)
    assert " 2.0 | " in deletes  # exactly one DELETE per confirmation across both replicas
    assert "2 app processes after parts 1-3" in out
    assert "EXPLAIN: " in out and "live_request_for_org" in out


def test_postgresql_parts_are_skipped_with_a_clear_message_when_it_is_absent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.run

    monkeypatch.setattr(bench.run, "start_cluster", lambda: None)
    assert bench.run.main(["--backend", "postgresql", "--parts", "5"]) == 0
    out = capsys.readouterr().out
    assert "PostgreSQL parts skipped" in out and "apt-get install postgresql" in out
    assert not [line for line in out.splitlines() if line[:1] == "5" and " | " in line]
