"""Background upkeep: heartbeat, crash recovery, card expiry and outbox retries."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.config import DEFAULT_HEARTBEAT_TIMEOUT
from bot.logfields import log_fields
from handlers.deletion import DeletionFlow

logger = logging.getLogger(__name__)

STALE_AFTER_SECONDS = DEFAULT_HEARTBEAT_TIMEOUT
"""Default seconds after which a process whose heartbeat is older is presumed dead
(``DELETE_ORG_HEARTBEAT_TIMEOUT``)."""
RESPONSE_URL_BUDGET_KEPT = timedelta(days=7)
"""How long the budget of a response_url is kept (the URL itself dies after 30 minutes)."""
RETENTION_EVERY_SECONDS = 60
"""Seconds between two retention passes (clearing old response URLs): a table scan, not
worth repeating every few seconds for a setting counted in hours."""


def owner_checker(
    clock: Callable[[], datetime],
    hostname: str | None = None,
    *,
    heartbeat_only: bool = False,
    stale_after: float = STALE_AFTER_SECONDS,
) -> Callable[[dict[str, Any] | None], bool]:
    """Build the "is that process still alive?" test used by crash recovery.

    A process that stopped cleanly, or an unknown owner, is not alive; nor is one whose
    heartbeat is older than ``stale_after`` seconds (``DELETE_ORG_HEARTBEAT_TIMEOUT``). On this
    host, the owner's PID must also still exist (``os.kill(pid, 0)``), and an owner with *this*
    process's PID is an earlier incarnation (PIDs are reused, e.g. PID 1 in a restarted
    container): not alive.

    ``heartbeat_only`` (a store shared across hosts: PostgreSQL) skips the PID tests: replicas
    in containers may share a hostname and a PID namespace number while being different
    processes on different machines, so only the heartbeat's age counts.
    """
    here = hostname or socket.gethostname()
    me = os.getpid()

    def alive(owner: dict[str, Any] | None) -> bool:
        if owner is None or owner.get("stopped_at") is not None:
            return False
        heartbeat = owner.get("heartbeat_at")
        fresh = isinstance(heartbeat, datetime) and clock() - heartbeat < timedelta(
            seconds=stale_after
        )
        if heartbeat_only or owner.get("hostname") != here:
            return fresh
        pid = int(owner.get("pid") or 0)
        if pid <= 0 or pid == me:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # exists, owned by another user
        return fresh

    return alive


class Sweeper:
    """Runs one upkeep pass every ``interval`` seconds on a daemon thread:

    1. heartbeat of this process (``instances`` table);
    2. crash recovery of requests left in ``deleting`` by a dead process;
    3. expiry of cards past their deadline ("Expired — nothing was deleted" within 30 s);
    4. outbox items whose retry time has come;
    5. at most every :data:`RETENTION_EVERY_SECONDS`: clearing the response URLs of requests
       finished longer ago than ``DELETE_ORG_RESPONSE_URL_RETENTION``, and forgetting
       response_url budgets older than :data:`RESPONSE_URL_BUDGET_KEPT`.

    Expiry is enforced at click time from the stored deadline anyway; the sweeper makes the card
    and thread say so without anyone clicking. ``stale_after``: seconds after its last
    heartbeat that another process is presumed dead (see :func:`owner_checker`).
    """

    def __init__(
        self, flow: DeletionFlow, interval: float, *, stale_after: float = STALE_AFTER_SECONDS
    ) -> None:
        self.flow = flow
        self.interval = interval
        self._alive = owner_checker(
            flow.deps.clock,
            heartbeat_only=flow.deps.store.shared_across_hosts,
            stale_after=stale_after,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retention_due: datetime | None = None

    def run_once(self) -> int:
        """One pass; returns how many requests it expired."""
        deps = self.flow.deps
        deps.store.heartbeat(deps.instance_id, deps.clock())
        self.flow.reconcile_orphans(self._alive)
        expired = self.flow.expire_due()
        self.flow.outbox.deliver_due()
        now = deps.clock()
        if self._retention_due is None or now >= self._retention_due:
            self._retention_due = now + timedelta(seconds=RETENTION_EVERY_SECONDS)
            self.flow.forget_old_response_urls()
            deps.store.prune_response_urls(now - RESPONSE_URL_BUDGET_KEPT)
        return expired

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a background loop must survive; traceback logged
                logger.exception(
                    "upkeep pass failed; retrying in %s s",
                    self.interval,
                    extra=log_fields("upkeep_error"),
                )
            self._stop.wait(self.interval)

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="upkeep", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
