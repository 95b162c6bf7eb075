"""The budget of each Slack response_url (when it was received, posts made through it), keyed
by the URL's SHA-256 so the URL itself (a secret) is never stored here."""

from __future__ import annotations

import hashlib
from datetime import datetime

from bot.clock import from_iso, to_iso
from storage.base import StoreBase


def url_hash(url: str) -> str:
    """The key of ``url`` in the budget table: its SHA-256, hex."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


class ResponseUrlStore(StoreBase):
    """Store operations on response_url budgets (``handlers.response_url`` decides with them)."""

    def note_response_url(self, url: str, received_at: datetime) -> None:
        """Remember that the app received ``url`` from Slack at ``received_at`` (aware UTC);
        a URL already known keeps its first time and its uses."""
        with self._write() as db:
            db.execute(
                "INSERT INTO response_url_uses (url_hash, received_at, uses) VALUES (?, ?, 0)"
                " ON CONFLICT (url_hash) DO NOTHING",
                [url_hash(url), to_iso(received_at)],
            )

    def response_url_budget(self, url: str) -> tuple[datetime, int] | None:
        """``(received_at, uses)`` of ``url``, or None when the app never noted it."""
        row = (
            self._db()
            .execute(
                "SELECT received_at, uses FROM response_url_uses WHERE url_hash = ?",
                [url_hash(url)],
            )
            .fetchone()
        )
        return (from_iso(row[0]), int(row[1])) if row else None

    def spend_response_url(self, url: str, now: datetime, limit: int) -> int | None:
        """Count one post through ``url`` (noting it as received ``now`` if it was unknown)
        unless it has had ``limit`` posts already; returns the uses so far, this one included,
        or None when nothing was counted (the post must not be sent). Check and count are one
        statement (``ON CONFLICT … DO UPDATE … WHERE``), so concurrent posts cannot both take
        the last allowed use."""
        with self._write() as db:
            row = db.execute(
                "INSERT INTO response_url_uses (url_hash, received_at, uses) VALUES (?, ?, 1)"
                " ON CONFLICT (url_hash) DO UPDATE SET uses = response_url_uses.uses + 1"
                " WHERE response_url_uses.uses < ? RETURNING uses",
                [url_hash(url), to_iso(now), limit],
            ).fetchone()
        return None if row is None else int(row[0])

    def retire_response_url(self, url: str, uses: int) -> None:
        """Count ``url`` as having had at least ``uses`` posts (Slack answered that it is
        expired or used up), so no other post is planned on it."""
        with self._write() as db:
            db.execute(
                f"UPDATE response_url_uses SET uses = {self._dialect.greatest}(uses, ?)"  # noqa: S608 - a dialect constant
                " WHERE url_hash = ?",
                [uses, url_hash(url)],
            )

    def prune_response_urls(self, before: datetime) -> int:
        """Forget the budgets of URLs received before ``before`` (long dead); returns how many."""
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM response_url_uses WHERE received_at < ?", [to_iso(before)]
            )
        return int(cursor.rowcount or 0)
