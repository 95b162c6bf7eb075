"""Linked Coveo access tokens: one per Slack user and workspace, encrypted at rest."""

from __future__ import annotations

from datetime import datetime

from bot.clock import from_iso, to_iso
from bot.crypto import DecryptionError
from storage.base import StoreBase
from storage.dialect import upsert
from storage.model import (
    Link,
    LinkUnreadable,
    optional_time,
)
from storage.oauth import LINK_KEY, OAUTH_LINK_COLUMNS


class LinkStore(StoreBase):
    """Store operations on links."""

    def save_link(
        self,
        *,
        workspace: str,
        user_id: str,
        token: str,
        region: str,
        coveo_username: str,
        coveo_email: str | None,
        expires_at: datetime | None,
        now: datetime,
    ) -> Link:
        """Store (or replace, every column) the user's link; the token is encrypted before it
        is written. One upsert (``INSERT … ON CONFLICT DO UPDATE``): concurrent relinks of one
        user each leave a whole link, the last one written."""
        with self._write() as db:
            db.execute(
                upsert("links", LINK_KEY, OAUTH_LINK_COLUMNS),
                [
                    workspace,
                    user_id,
                    self._cipher.encrypt(token),
                    region,
                    coveo_username,
                    coveo_email,
                    to_iso(now),
                    to_iso(expires_at) if expires_at else None,
                    "active",
                    None,
                    None,  # a pasted token: no refresh token, no refresh lock, kind unset
                    None,
                    None,
                    None,
                ],
            )
            self._audit(
                db,
                now,
                "linked",
                workspace=workspace,
                actor_id=user_id,
                region=region,
                detail=f"Coveo identity {coveo_username}",
            )
        link = self.get_link(workspace, user_id)
        assert link is not None
        return link

    def get_link(self, workspace: str, user_id: str) -> Link | None:
        """Return the user's link with its token decrypted, or None if they never linked.

        Raises:
            LinkUnreadable: the stored token cannot be decrypted with the configured keys.
        """
        row = (
            self._db()
            .execute(
                "SELECT token_encrypted, region, coveo_username, coveo_email, linked_at,"
                " expires_at, status, auth_kind, refresh_token_encrypted IS NOT NULL"
                " FROM links WHERE workspace = ? AND user_id = ?",
                [workspace, user_id],
            )
            .fetchone()
        )
        if row is None:
            return None
        try:
            token = self._cipher.decrypt(row[0])
        except DecryptionError as error:
            raise LinkUnreadable("stored token cannot be decrypted") from error
        return Link(
            workspace=workspace,
            user_id=user_id,
            token=token,
            region=row[1],
            coveo_username=row[2],
            coveo_email=row[3],
            linked_at=from_iso(row[4]),
            expires_at=optional_time(row[5]),
            status=row[6],
            auth_kind=row[7] or "pasted",
            refreshable=bool(row[8]),
        )

    def delete_link(self, workspace: str, user_id: str, now: datetime) -> bool:
        """Remove the user's link; True if there was one."""
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM links WHERE workspace = ? AND user_id = ?", [workspace, user_id]
            )
            removed = cursor.rowcount == 1
            if removed:
                self._audit(db, now, "unlinked", workspace=workspace, actor_id=user_id)
        return removed

    def mark_link_invalid(self, workspace: str, user_id: str, now: datetime, reason: str) -> None:
        """Flag the link as refused by Coveo (e.g. 401), so the user is asked to relink."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE links SET status = 'invalid', invalid_since = ?"
                " WHERE workspace = ? AND user_id = ? AND status = 'active'",
                [to_iso(now), workspace, user_id],
            )
            if cursor.rowcount == 1:
                self._audit(
                    db,
                    now,
                    "link_invalidated",
                    workspace=workspace,
                    actor_id=user_id,
                    detail=reason,
                )
