"""Crash recovery's "is the owner alive?" test: PID and heartbeat on one host (SQLite), heartbeat
only when the store is shared across hosts (PostgreSQL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.sweeper import STALE_AFTER_SECONDS, owner_checker

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
FRESH = NOW - timedelta(seconds=5)
STALE = NOW - timedelta(seconds=STALE_AFTER_SECONDS + 1)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _owner(pid: int, heartbeat: datetime, host: str | None = None) -> dict[str, Any]:
    return {
        "hostname": host or socket.gethostname(),
        "pid": pid,
        "heartbeat_at": heartbeat,
        "stopped_at": None,
    }


@pytest.mark.parametrize(
    ("owner", "on_one_host", "shared"),
    [
        (lambda: _owner(os.getppid(), FRESH), True, True),  # live PID, fresh heartbeat
        (lambda: _owner(os.getppid(), STALE), False, False),  # heartbeat too old
        # Same hostname and a PID that is gone here: on one host the process is dead; with
        # replicas on several hosts (containers often share hostnames) only the heartbeat
        # counts, and it is fresh.
        (lambda: _owner(_dead_pid(), FRESH), False, True),
        (lambda: _owner(os.getpid(), FRESH), False, True),  # our PID: an earlier incarnation here
        (lambda: _owner(12345, FRESH, host="elsewhere"), True, True),
        (lambda: _owner(12345, STALE, host="elsewhere"), False, False),
    ],
    ids=["live", "stale", "dead-pid-fresh", "own-pid-fresh", "other-host", "other-host-stale"],
)
def test_liveness_by_pid_on_one_host_by_heartbeat_when_shared(
    owner: Any, on_one_host: bool, shared: bool
) -> None:
    row = owner()
    assert owner_checker(lambda: NOW)(row) is on_one_host
    assert owner_checker(lambda: NOW, heartbeat_only=True)(row) is shared


def test_a_shorter_heartbeat_timeout_presumes_a_silent_owner_dead_sooner() -> None:
    row = {"hostname": "elsewhere", "pid": 1, "stopped_at": None}
    row["heartbeat_at"] = NOW - timedelta(seconds=4)
    assert owner_checker(lambda: NOW, heartbeat_only=True)(row) is True  # the default: 120 s
    assert owner_checker(lambda: NOW, heartbeat_only=True, stale_after=3)(row) is False
    row["heartbeat_at"] = NOW - timedelta(seconds=2)
    assert owner_checker(lambda: NOW, heartbeat_only=True, stale_after=3)(row) is True


def test_stopped_or_unknown_owner_is_never_alive() -> None:
    for heartbeat_only in (False, True):
        alive = owner_checker(lambda: NOW, heartbeat_only=heartbeat_only)
        assert alive(None) is False
        assert alive({**_owner(os.getppid(), FRESH), "stopped_at": FRESH}) is False
