"""Deletion requests: creating them (at most one live per organization), where
their card went, and queries."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from bot.clock import from_iso, to_iso
from storage.base import StoreBase
from storage.model import (
    EXPIRED,
    PENDING,
    DeletionRequest,
    LiveRequestExists,
    StorageError,
)
from storage.response_urls import url_hash


class RequestStore(StoreBase):
    """Store operations that create and find deletion requests."""

    def live_request_for_org(self, org_id: str, region: str) -> DeletionRequest | None:
        """Return the pending or deleting request for this organization, if any."""
        found = self._requests_where(
            "org_id = ? AND region = ? AND state IN ('pending', 'awaiting_approval', 'deleting')",
            [org_id, region],
        )
        return found[0] if found else None

    def create_request(
        self,
        *,
        workspace: str,
        team_id: str | None,
        requester_id: str,
        channel_id: str,
        org_id: str,
        org_name: str | None,
        org_type: str | None,
        region: str,
        response_url: str | None,
        now: datetime,
        expires_at: datetime,
        org_product_type: str | None = None,
    ) -> DeletionRequest:
        """Record a new pending request (audit: ``requested``) and return it.

        A pending request of the same organization whose deadline has passed is expired first.
        At most one live request per organization and region: the partial unique index
        ``idx_requests_one_live_per_org`` refuses a second one (``INSERT … ON CONFLICT DO
        NOTHING``; on PostgreSQL a racing insert waits for the first to commit or roll back).

        Raises:
            LiveRequestExists: the organization already has a live request.
        """
        request_id = secrets.token_urlsafe(16)
        with self._write() as db:
            stale = db.execute(
                "UPDATE deletion_requests SET state = 'expired', updated_at = ?"
                " WHERE org_id = ? AND region = ? AND state = 'pending' AND expires_at <= ?"
                " RETURNING id, workspace",
                [to_iso(now), org_id, region, to_iso(now)],
            ).fetchall()
            for stale_id, stale_workspace in stale:
                self._audit(
                    db,
                    now,
                    "expired",
                    workspace=stale_workspace,
                    request_id=stale_id,
                    org_id=org_id,
                    region=region,
                    from_state=PENDING,
                    to_state=EXPIRED,
                    actor_id="system",
                )
            inserted = db.execute(
                "INSERT INTO deletion_requests (id, workspace, team_id, requester_id,"
                " channel_id, org_id, org_name, org_type, region, state, created_at,"
                " expires_at, updated_at, delivery, response_url_encrypted,"
                " org_product_type) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, 'channel', ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING id",
                [
                    request_id,
                    workspace,
                    team_id,
                    requester_id,
                    channel_id,
                    org_id,
                    org_name,
                    org_type,
                    region,
                    to_iso(now),
                    to_iso(expires_at),
                    to_iso(now),
                    self._cipher.encrypt(response_url) if response_url else None,
                    org_product_type,
                ],
            ).fetchall()
            if not inserted:
                cursor = db.execute(
                    "SELECT * FROM deletion_requests WHERE org_id = ? AND region = ?"
                    " AND state IN ('pending', 'awaiting_approval', 'deleting')",
                    [org_id, region],
                )
                row = cursor.fetchone()
                if row is None:  # pragma: no cover - a 128-bit random id collided
                    raise StorageError(f"request id collision for {org_id}; try again")
                names = [d[0] for d in cursor.description]
                raise LiveRequestExists(self._row_to_request(row, names))
            self._audit(
                db,
                now,
                "requested",
                workspace=workspace,
                actor_id=requester_id,
                request_id=request_id,
                org_id=org_id,
                region=region,
                to_state=PENDING,
            )
        created = self.get_request(request_id)
        assert created is not None
        return created

    def attach_card(
        self, request_id: str, *, delivery: str, card_ts: str | None
    ) -> DeletionRequest | None:
        """Remember where the card went: ``delivery`` ``channel`` or ``response_url``, and its
        ``ts`` once known. Never overwrites a known ``ts`` with None."""
        with self._write() as db:
            db.execute(
                "UPDATE deletion_requests SET delivery = ?, card_ts = COALESCE(?, card_ts)"
                " WHERE id = ?",
                [delivery, card_ts, request_id],
            )
        return self.get_request(request_id)

    def shorten_expiry(
        self, request_id: str, expires_at: datetime, now: datetime, *, detail: str
    ) -> DeletionRequest | None:
        """Bring a pending request's deadline forward to ``expires_at`` (never later), with an
        audit row ``expiry_shortened`` saying why (``detail``), in one write; returns the
        request as it now stands, or None when it is no longer pending."""
        with self._write() as db:
            row = db.execute(
                "UPDATE deletion_requests SET expires_at = ?, updated_at = ?"
                " WHERE id = ? AND state = 'pending' AND expires_at > ?"
                " RETURNING workspace, requester_id, org_id, region",
                [to_iso(expires_at), to_iso(now), request_id, to_iso(expires_at)],
            ).fetchone()
            if row is not None:
                self._audit(
                    db,
                    now,
                    "expiry_shortened",
                    workspace=row[0],
                    actor_id=row[1],
                    request_id=request_id,
                    org_id=row[2],
                    region=row[3],
                    detail=detail,
                )
        request = self.get_request(request_id)
        return request if request is not None and request.state == PENDING else None

    def note_click(
        self,
        request_id: str,
        *,
        response_url: str | None,
        card_ts: str | None,
        now: datetime | None = None,
    ) -> DeletionRequest | None:
        """In one write: keep the click's response_url (the freshest usable one) and the card's
        ts when it was not known yet; returns the request as it now stands. With ``now``, the
        URL's budget starts then (``storage/response_urls.py``) unless it was already noted."""
        if response_url or card_ts:
            with self._write() as db:
                if response_url and now is not None:
                    db.execute(
                        "INSERT INTO response_url_uses (url_hash, received_at, uses)"
                        " VALUES (?, ?, 0) ON CONFLICT (url_hash) DO NOTHING",
                        [url_hash(response_url), to_iso(now)],
                    )
                db.execute(
                    "UPDATE deletion_requests SET"
                    " response_url_encrypted = COALESCE(?, response_url_encrypted),"
                    " card_ts = COALESCE(card_ts, ?) WHERE id = ?",
                    [
                        self._cipher.encrypt(response_url) if response_url else None,
                        card_ts,
                        request_id,
                    ],
                )
        return self.get_request(request_id)

    def due_for_expiry(self, now: datetime, limit: int = 100) -> list[DeletionRequest]:
        """Pending requests past their deadline, then requests awaiting approval past the
        approval deadline; oldest deadline first within each."""
        pending = self._requests_where(
            "state = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?",
            [to_iso(now), limit],
        )
        awaiting = self._requests_where(
            "state = 'awaiting_approval' AND approval_expires_at <= ?"
            " ORDER BY approval_expires_at LIMIT ?",
            [to_iso(now), limit],
        )
        return pending + awaiting

    def attempts_since(self, since: datetime, user_id: str | None = None) -> list[datetime]:
        """When deletions were attempted (a ``DELETE`` was, or may have been, sent) at or after
        ``since``, oldest first; one user's (as requester) or everyone's. For rate caps."""
        sql = "SELECT attempted_at FROM deletion_requests WHERE attempted_at >= ?"
        params: list[Any] = [to_iso(since)]
        if user_id is not None:
            sql += " AND requester_id = ?"
            params.append(user_id)
        rows = self._db().execute(sql + " ORDER BY attempted_at", params).fetchall()
        return [from_iso(row[0]) for row in rows]

    def recent_requests_for_user(self, user_id: str, limit: int = 10) -> list[DeletionRequest]:
        """The ``limit`` most recent requests ``user_id`` made (as requester), newest first
        (by ``created_at``, UTC), in every state; for the App Home. ``limit`` is clamped to
        1..100 (a Home view holds at most 100 blocks)."""
        limit = max(1, min(int(limit), 100))
        return self._requests_where(
            "requester_id = ? ORDER BY created_at DESC, id DESC LIMIT ?", [user_id, limit]
        )
