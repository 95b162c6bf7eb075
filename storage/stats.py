"""Cheap counts for monitoring (metrics scrapes, App Home): one aggregate query each. The
outbox and live-request counts read only the rows of a partial index (pending items, live
requests); the link count scans ``links`` (one row per linked user: 10,000 rows took about
10 ms on a loaded 2-core machine)."""

from __future__ import annotations

from datetime import datetime

from bot.clock import from_iso
from storage.base import StoreBase
from storage.model import LIVE_STATES

_LIVE = "state IN ({})".format(", ".join(f"'{state}'" for state in LIVE_STATES))
"""Spelled out as literals, as in the partial index ``idx_requests_one_live_per_org``: SQLite
uses a partial index only when the query's terms match its ``WHERE`` (bound parameters do not)."""


class StatsStore(StoreBase):
    """Store queries that count, for monitoring."""

    def outbox_pending(self) -> tuple[int, datetime | None]:
        """``(pending, oldest)``: how many Slack deliveries wait in the outbox (not yet sent,
        superseded or given up), and when the oldest of them was queued (aware UTC; None when
        none waits)."""
        count, oldest = (
            self._db()
            .execute("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'pending'")
            .fetchone()
        )
        return int(count), from_iso(oldest) if oldest else None

    def live_request_count(self) -> int:
        """How many requests are live (pending, awaiting approval or deleting): the cards that
        can still change."""
        row = self._db().execute(f"SELECT COUNT(*) FROM deletion_requests WHERE {_LIVE}").fetchone()  # noqa: S608
        return int(row[0])

    def link_counts(self) -> dict[str, int]:
        """Linked Coveo accounts by status (``active``, ``invalid``); a status no link has is
        absent."""
        rows = self._db().execute("SELECT status, COUNT(*) FROM links GROUP BY status").fetchall()
        return {str(status): int(count) for status, count in rows}
