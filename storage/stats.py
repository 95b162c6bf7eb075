"""Counts for operators: the outbox backlog and the live deletion requests (App Home, metrics)."""

from __future__ import annotations

from datetime import datetime

from bot.clock import from_iso
from storage.base import StoreBase
from storage.model import LIVE_STATES


class StatsStore(StoreBase):
    """Read-only counts over the store (cheap: one indexed or small query each)."""

    def outbox_pending(self) -> tuple[int, datetime | None]:
        """``(count, oldest)``: how many Slack deliveries wait in the outbox (status
        ``pending``), and when the oldest of them was queued (aware UTC; None when none wait)."""
        count, oldest = (
            self._db()
            .execute("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'pending'")
            .fetchone()
        )
        return int(count), (from_iso(oldest) if oldest else None)

    def live_request_count(self) -> int:
        """How many deletion requests are live now (pending, awaiting approval or deleting),
        i.e. how many cards still have buttons or a deletion running."""
        marks = ", ".join("?" for _ in LIVE_STATES)
        row = (
            self._db()
            .execute(
                f"SELECT COUNT(*) FROM deletion_requests WHERE state IN ({marks})",  # noqa: S608
                list(LIVE_STATES),
            )
            .fetchone()
        )
        return int(row[0])
