"""Who owns work in progress (process instances and heartbeats), requests left in
``deleting`` by a crash, and the freeze of all deletions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.clock import from_iso, to_iso
from storage.base import StoreBase
from storage.dialect import upsert
from storage.model import (
    DeletionRequest,
    optional_time,
)

FREEZE = '"freeze"'
"""The freeze table, quoted: ``FREEZE`` is a reserved word of PostgreSQL (not of SQLite)."""


class InstanceStore(StoreBase):
    """Store operations on process instances, crash reconciliation and the freeze."""

    def set_freeze(self, *, frozen: bool, by_user: str, reason: str | None, now: datetime) -> bool:
        """Freeze or unfreeze all deletions (audited). Returns False when already in that state.

        One conditional upsert of the one ``freeze`` row (``… DO UPDATE … WHERE frozen
        differs``): of two replicas freezing at once, one changes the row and audits, the
        other (on PostgreSQL it waits for the row lock, then re-checks) finds it frozen."""
        with self._write() as db:
            changed = db.execute(
                upsert(
                    FREEZE,
                    ("id",),
                    ("id", "frozen", "reason", "by_user", "since"),
                    only_if=f"{FREEZE}.frozen != excluded.frozen",
                )
                + " RETURNING id",
                [1, int(frozen), reason, by_user, to_iso(now)],
            ).fetchall()
            if not changed:
                return False
            self._audit(
                db, now, "frozen" if frozen else "unfrozen", actor_id=by_user, detail=reason
            )
        return True

    def freeze_state(self) -> tuple[str, str | None, datetime] | None:
        """``(by_user, reason, since)`` while deletions are frozen, else None."""
        row = (
            self._db()
            .execute(f"SELECT frozen, by_user, reason, since FROM {FREEZE} WHERE id = 1")  # noqa: S608
            .fetchone()
        )
        if row is None or not row[0]:
            return None
        return row[1], row[2], from_iso(row[3])

    def stuck_deleting(self) -> list[DeletionRequest]:
        """Requests left in ``deleting`` (e.g. by a crash), oldest first."""
        return self._requests_where("state = 'deleting' ORDER BY attempted_at", [])

    def register_instance(self, instance_id: str, hostname: str, pid: int, now: datetime) -> None:
        """Record this app process as alive; earlier instances with the same host and PID are
        marked stopped (the PID now belongs to this process, so they are gone)."""
        with self._write() as db:
            db.execute(
                "UPDATE instances SET stopped_at = ? WHERE hostname = ? AND pid = ?"
                " AND id != ? AND stopped_at IS NULL",
                [to_iso(now), hostname, pid, instance_id],
            )
            db.execute(
                upsert(
                    "instances",
                    ("id",),
                    ("id", "hostname", "pid", "started_at", "heartbeat_at", "stopped_at"),
                ),
                [instance_id, hostname, pid, to_iso(now), to_iso(now), None],
            )

    def heartbeat(self, instance_id: str, now: datetime) -> None:
        """Refresh this process's liveness stamp."""
        with self._write() as db:
            db.execute(
                "UPDATE instances SET heartbeat_at = ? WHERE id = ?", [to_iso(now), instance_id]
            )

    def stop_instance(self, instance_id: str, now: datetime) -> None:
        """Mark this process as stopped (its leftover work may be reconciled by others)."""
        with self._write() as db:
            db.execute(
                "UPDATE instances SET stopped_at = ? WHERE id = ?", [to_iso(now), instance_id]
            )

    def deleting_with_owners(self) -> list[tuple[DeletionRequest, dict[str, Any] | None]]:
        """Every request in ``deleting`` with its owner's instance row (hostname, pid,
        heartbeat_at as aware UTC, stopped_at), or None when the owner is unknown. Whether a
        PID may be checked is :attr:`shared_across_hosts` (``bot.sweeper.owner_checker``)."""
        result: list[tuple[DeletionRequest, dict[str, Any] | None]] = []
        for request in self.stuck_deleting():
            row = (
                self._db()
                .execute(
                    "SELECT hostname, pid, heartbeat_at, stopped_at FROM instances WHERE id = ?",
                    [request.owner],
                )
                .fetchone()
            )
            owner = None
            if row is not None:
                owner = {
                    "hostname": row[0],
                    "pid": row[1],
                    "heartbeat_at": from_iso(row[2]),
                    "stopped_at": optional_time(row[3]),
                }
            result.append((request, owner))
        return result

    def claim_orphan(
        self, request_id: str, old_owner: str | None, new_owner: str
    ) -> DeletionRequest | None:
        """Compare-and-set the owner of a ``deleting`` request, so one process reconciles it:
        one ``UPDATE … WHERE state = 'deleting' AND owner = <the owner seen>``; of several
        replicas claiming at once exactly one changes the row (PostgreSQL re-checks the
        ``WHERE`` on the committed row after waiting for the row lock)."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE deletion_requests SET owner = ? WHERE id = ? AND state = 'deleting'"  # noqa: S608
                f" AND owner {self._dialect.null_safe_equal} ?",
                [new_owner, request_id, old_owner],
            )
            changed = cursor.rowcount == 1
        return self.get_request(request_id) if changed else None
