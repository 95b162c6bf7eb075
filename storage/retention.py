"""Retention: forgetting what finished requests no longer need (their encrypted response URLs).

The audit table is never touched here: its rows are kept for good and its chain stays whole.
"""

from __future__ import annotations

from datetime import datetime

from bot.clock import to_iso
from storage.base import StoreBase
from storage.model import FINAL_STATES

RETENTION_BATCH = 500
"""Rows cleared per write transaction, so the write lock is held briefly even on a backlog."""

_FINAL = ", ".join(f"'{state}'" for state in FINAL_STATES)
_FORGET = (
    "UPDATE deletion_requests SET response_url_encrypted = NULL WHERE id IN"  # noqa: S608 - constant states
    " (SELECT id FROM deletion_requests WHERE response_url_encrypted IS NOT NULL"
    f" AND state IN ({_FINAL}) AND updated_at < ? LIMIT ?)"
)


class RetentionStore(StoreBase):
    """Store operations that clear data past its retention."""

    def forget_response_urls(self, finished_before: datetime) -> int:
        """Clear the encrypted response URL of every request in a final state (deleted, failed,
        unknown, cancelled, expired, rejected) last updated before ``finished_before`` (aware
        UTC); never one that is pending, awaiting approval or deleting (the state is read in
        the same statement, under the write lock). Writes no audit row and changes no other
        column. Returns how many were cleared."""
        cleared = 0
        while True:
            with self._write() as db:
                count = db.execute(_FORGET, [to_iso(finished_before), RETENTION_BATCH]).rowcount
            cleared += count
            if count < RETENTION_BATCH:
                return cleared
