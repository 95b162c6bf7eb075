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
    "UPDATE deletion_requests SET response_url_encrypted = NULL"  # noqa: S608 - constant states
    " WHERE response_url_encrypted IS NOT NULL AND id IN"
    " (SELECT id FROM deletion_requests WHERE response_url_encrypted IS NOT NULL"
    f" AND state IN ({_FINAL}) AND updated_at < ? LIMIT ?{{skip_locked}})"
)
"""One batch. The batch's rows are picked with the dialect's ``skip_locked`` (PostgreSQL
``FOR UPDATE SKIP LOCKED``: a replica clearing at the same time skips the rows another one is
clearing, so both keep full batches until the backlog is gone), and the outer ``IS NOT NULL``
is re-checked against each row's latest committed version (PostgreSQL READ COMMITTED), so a
row cleared meanwhile is not counted twice. SQLite: the write lock of the whole file."""


class RetentionStore(StoreBase):
    """Store operations that clear data past its retention."""

    def forget_response_urls(self, finished_before: datetime) -> int:
        """Clear the encrypted response URL of every request in a final state (deleted, failed,
        unknown, cancelled, expired, rejected) last updated before ``finished_before`` (aware
        UTC); never one that is pending, awaiting approval or deleting (the state is read in
        the same statement, under the write lock on SQLite; a final state never changes).
        Writes no audit row and changes no other column. Returns how many this call cleared:
        replicas clearing at once each count only the rows they cleared (see ``_FORGET``).

        Raises:
            StoreUnavailable: the database cannot be reached (PostgreSQL).
        """
        forget = _FORGET.format(skip_locked=self._dialect.skip_locked)
        cleared = 0
        while True:
            with self._write() as db:
                count = db.execute(forget, [to_iso(finished_before), RETENTION_BATCH]).rowcount
            cleared += count
            if count < RETENTION_BATCH:
                return cleared
