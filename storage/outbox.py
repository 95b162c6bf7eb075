"""The persisted outbox of Slack deliveries (card updates, thread replies), claimed
under a lease so one sender at a time has each item."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.clock import from_iso, to_iso
from storage.base import StoreBase
from storage.model import (
    OutboxItem,
)


class OutboxStore(StoreBase):
    """Store operations on the outbox."""

    @staticmethod
    def _outbox_item(row: Sequence[Any]) -> OutboxItem:
        return OutboxItem(
            id=row[0],
            request_id=row[1],
            kind=row[2],
            text=row[3],
            blocks=json.loads(row[4]) if row[4] else None,
            status=row[5],
            attempts=row[6],
            next_attempt_at=from_iso(row[7]),
            last_error=row[8],
        )

    def enqueue(
        self,
        request_id: str,
        items: Sequence[tuple[str, str, list[dict[str, Any]] | None]],
        now: datetime,
    ) -> list[int]:
        """Queue ``(kind, text, blocks)`` deliveries for a request, due now; returns their ids."""
        ids: list[int] = []
        with self._write() as db:
            for kind, text, block_list in items:
                cursor = db.execute(
                    "INSERT INTO outbox (request_id, kind, text, blocks_json, status, attempts,"
                    " next_attempt_at, created_at, updated_at) VALUES"
                    " (?, ?, ?, ?, 'pending', 0, ?, ?, ?) RETURNING id",
                    [
                        request_id,
                        kind,
                        text,
                        json.dumps(block_list) if block_list is not None else None,
                        to_iso(now),
                        to_iso(now),
                        to_iso(now),
                    ],
                )
                ids.append(int(cursor.fetchone()[0]))
        return ids

    def claim_outbox(
        self,
        owner: str,
        now: datetime,
        lease_seconds: float,
        *,
        ids: Sequence[int] | None = None,
        limit: int = 50,
    ) -> list[OutboxItem]:
        """Atomically take due pending items (all due ones, or only ``ids``) for ``lease_seconds``
        so no other thread or process sends them meanwhile; oldest first.

        One ``UPDATE … WHERE id IN (SELECT … unclaimed …)``: on SQLite inside the file's write
        lock; on PostgreSQL the ``SELECT`` takes ``FOR UPDATE SKIP LOCKED``, so a replica skips
        the items another is claiming, and re-checks the lease of a row claimed meanwhile."""
        where = (
            "status = 'pending' AND next_attempt_at <= ?"
            " AND (claimed_until IS NULL OR claimed_until <= ?)"
        )
        params: list[Any] = [to_iso(now), to_iso(now)]
        if ids is not None:
            if not ids:
                return []
            where += f" AND id IN ({', '.join('?' for _ in ids)})"
            params.extend(ids)
        until = to_iso(now + timedelta(seconds=lease_seconds))
        with self._write() as db:
            # ``where`` is built above from constants and placeholders only.
            sql = (
                "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id IN"  # noqa: S608
                f" (SELECT id FROM outbox WHERE {where} ORDER BY id LIMIT ?"
                f"{self._dialect.skip_locked})"
                " RETURNING id, request_id, kind, text, blocks_json, status, attempts,"
                " next_attempt_at, last_error"
            )
            rows = db.execute(sql, [owner, until, *params, limit]).fetchall()
        return sorted((self._outbox_item(row) for row in rows), key=lambda item: item.id)

    def outbox_done(
        self, item_id: int, now: datetime, *, status: str, error: str | None = None
    ) -> None:
        """Close an item: ``sent``, ``superseded`` (a newer card update replaced it), or
        ``dead`` (gave up; ``error`` says why)."""
        with self._write() as db:
            db.execute(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, updated_at = ?,"
                " last_error = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                [status, to_iso(now), error, item_id],
            )

    def newer_card_queued(self, item: OutboxItem) -> bool:
        """True when a later card update of the same request exists (sent or pending): an
        older one must then not be sent, or it would bring back a stale card."""
        row = (
            self._db()
            .execute(
                "SELECT 1 FROM outbox WHERE request_id = ? AND kind = 'card' AND id > ?"
                " AND status IN ('pending', 'sent') LIMIT 1",
                [item.request_id, item.id],
            )
            .fetchone()
        )
        return row is not None

    def outbox_retry_at(self, item_id: int, now: datetime, when: datetime, error: str) -> None:
        """Count a failed try and schedule the next one at ``when``."""
        with self._write() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ?,"
                " last_error = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                [to_iso(when), to_iso(now), error, item_id],
            )

    def outbox_items(self, request_id: str | None = None) -> list[OutboxItem]:
        """All outbox items (of one request), oldest first, for status views and tests."""
        sql = (
            "SELECT id, request_id, kind, text, blocks_json, status, attempts, next_attempt_at,"
            " last_error FROM outbox"
        )
        params: list[Any] = []
        if request_id is not None:
            sql += " WHERE request_id = ?"
            params.append(request_id)
        rows = self._db().execute(sql + " ORDER BY id", params).fetchall()
        return [self._outbox_item(row) for row in rows]
