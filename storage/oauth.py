"""Storage of Sign in with Coveo: pending sign-ins (``oauth_states``), OAuth links, and the
refresh lock. Reached as ``Store.oauth``; the only SQL about these, next to ``store.py``.

A sign-in's ``state`` is stored as its SHA-256 digest: the database never holds a usable
state, and a lookup by digest tells an attacker nothing about a valid one (the state has at
least 128 random bits, so no salt or slow hash is needed). Consuming a state is one
compare-and-set ``UPDATE … WHERE used_at IS NULL``, so two callbacks with the same state cannot
both succeed.

The refresh lock is a lease on the ``links`` row (``refresh_lock_owner``,
``refresh_lock_until``) taken with a compare-and-set that also checks the expiry the caller
saw: it holds across threads and across processes sharing the file, and a lease left by a
crashed process ends by itself. On PostgreSQL the compare-and-set holds across replicas too:
a concurrent ``UPDATE`` waits for the row lock, then re-checks its ``WHERE`` on the committed row.
"""

from __future__ import annotations

import hashlib
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.clock import from_iso, to_iso
from bot.crypto import DecryptionError, TokenCipher
from storage.dialect import Dialect, Executor, upsert

STATE_TTL_SECONDS = 600
"""A sign-in link (its ``state``) is valid for 10 minutes."""
STATE_BYTES = 32
"""Random bytes in a ``state`` (256 bits; the issue asks for at least 128)."""
STATE_KEEP = timedelta(days=1)
"""Used and expired states are kept this long (to tell "already used" from "unknown"), then
purged when new ones are made."""

LINK_KEY = ("workspace", "user_id")
OAUTH_LINK_COLUMNS = (
    "workspace",
    "user_id",
    "token_encrypted",
    "region",
    "coveo_username",
    "coveo_email",
    "linked_at",
    "expires_at",
    "status",
    "invalid_since",
    "refresh_token_encrypted",
    "auth_kind",
    "refresh_lock_owner",
    "refresh_lock_until",
)
"""Every column of ``links``: a new link replaces all of them (nothing of the old one stays)."""


class StateRefused(Exception):
    """The callback's ``state`` cannot be used. ``reason``: ``unknown`` (forged, or purged),
    ``used`` (a replay: single use) or ``expired`` (older than 10 minutes)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"sign-in state refused: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class SignIn:
    """A consumed sign-in: who started it, from where, for which region (times aware UTC)."""

    workspace: str
    team_id: str | None
    user_id: str
    region: str
    channel_id: str
    response_url: str | None = field(repr=False)
    created_at: datetime


class _Backend(Protocol):
    """What :class:`OAuthRecords` uses of :class:`storage.store.Store`."""

    _cipher: TokenCipher
    _dialect: Dialect

    def _db(self) -> Executor: ...

    def _write(self) -> AbstractContextManager[Executor]: ...

    def _audit(self, db: Executor, now: datetime, event: str, **fields: Any) -> None: ...


def state_digest(state: str) -> str:
    """SHA-256 hex digest of a state (what is stored and looked up)."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def new_state() -> str:
    """A fresh random state: 256 bits, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(STATE_BYTES)


class OAuthRecords:
    """Intention-named operations of the sign-in flow over the store's database."""

    def __init__(self, backend: _Backend) -> None:
        self._store = backend

    # -- sign-in states ----------------------------------------------------------------------
    def create_state(
        self,
        *,
        workspace: str,
        team_id: str | None,
        user_id: str,
        region: str,
        channel_id: str,
        response_url: str | None,
        now: datetime,
    ) -> tuple[str, datetime]:
        """Start a sign-in for (workspace, user, region): returns ``(state, expires_at)``.

        Only the digest is stored; the response URL is encrypted. States older than a day are
        purged in the same write.
        """
        state = new_state()
        expires_at = now + timedelta(seconds=STATE_TTL_SECONDS)
        cipher = self._store._cipher
        with self._store._write() as db:
            db.execute("DELETE FROM oauth_states WHERE created_at < ?", [to_iso(now - STATE_KEEP)])
            db.execute(
                "INSERT INTO oauth_states (state_hash, workspace, team_id, user_id, region,"
                " channel_id, response_url_encrypted, created_at, expires_at, used_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [
                    state_digest(state),
                    workspace,
                    team_id,
                    user_id,
                    region,
                    channel_id,
                    cipher.encrypt(response_url) if response_url else None,
                    to_iso(now),
                    to_iso(expires_at),
                ],
            )
            self._store._audit(
                db,
                now,
                "sign_in_started",
                workspace=workspace,
                actor_id=user_id,
                region=region,
            )
        return state, expires_at

    def consume_state(self, state: str, now: datetime) -> SignIn:
        """Use a state once: marks it used and returns who started the sign-in.

        Raises:
            StateRefused: unknown, already used, or expired (nothing is changed then).
        """
        digest = state_digest(state)
        with self._store._write() as db:
            row = db.execute(
                "SELECT workspace, team_id, user_id, region, channel_id, response_url_encrypted,"
                " created_at, expires_at, used_at FROM oauth_states WHERE state_hash = ?",
                [digest],
            ).fetchone()
            if row is None:
                raise StateRefused("unknown")
            if row[8] is not None:
                raise StateRefused("used")
            if from_iso(row[7]) <= now:
                raise StateRefused("expired")
            cursor = db.execute(
                "UPDATE oauth_states SET used_at = ? WHERE state_hash = ? AND used_at IS NULL",
                [to_iso(now), digest],
            )
            if cursor.rowcount != 1:  # pragma: no cover - the write lock is held
                raise StateRefused("used")
        response_url = None
        if row[5]:
            try:
                response_url = self._store._cipher.decrypt(row[5])
            except DecryptionError:
                response_url = None  # the key changed: the message goes by chat.postEphemeral
        return SignIn(
            workspace=row[0],
            team_id=row[1],
            user_id=row[2],
            region=row[3],
            channel_id=row[4] or "",
            response_url=response_url,
            created_at=from_iso(row[6]),
        )

    # -- OAuth links -------------------------------------------------------------------------
    def save_oauth_link(
        self,
        *,
        workspace: str,
        user_id: str,
        token: str,
        refresh_token: str | None,
        region: str,
        coveo_username: str,
        coveo_email: str | None,
        expires_at: datetime | None,
        now: datetime,
    ) -> None:
        """Store (or replace) the user's link made by signing in; both tokens are encrypted.
        The access and refresh tokens of one grant are written together in one statement."""
        cipher = self._store._cipher
        with self._store._write() as db:
            db.execute(
                upsert("links", LINK_KEY, OAUTH_LINK_COLUMNS),
                [
                    workspace,
                    user_id,
                    cipher.encrypt(token),
                    region,
                    coveo_username,
                    coveo_email,
                    to_iso(now),
                    to_iso(expires_at) if expires_at else None,
                    "active",
                    None,
                    cipher.encrypt(refresh_token) if refresh_token else None,
                    "oauth",
                    None,
                    None,
                ],
            )
            self._store._audit(
                db,
                now,
                "linked",
                workspace=workspace,
                actor_id=user_id,
                region=region,
                detail=f"Coveo identity {coveo_username} (signed in"
                + (", refreshable)" if refresh_token else ")"),
            )

    # -- refresh lock ------------------------------------------------------------------------
    def claim_refresh(
        self,
        workspace: str,
        user_id: str,
        *,
        seen_expires_at: datetime | None,
        owner: str,
        now: datetime,
        lease_seconds: float,
    ) -> bool:
        """Take the link's refresh lock for ``lease_seconds`` if it is free (or its lease ran
        out) and the link still has the expiry the caller saw (nobody refreshed it since).
        True when this caller holds the lock and must refresh."""
        with self._store._write() as db:
            cursor = db.execute(
                "UPDATE links SET refresh_lock_owner = ?, refresh_lock_until = ?"  # noqa: S608
                " WHERE workspace = ? AND user_id = ? AND status = 'active'"
                " AND refresh_token_encrypted IS NOT NULL"
                f" AND expires_at {self._store._dialect.null_safe_equal} ?"
                " AND (refresh_lock_until IS NULL OR refresh_lock_until <= ?)",
                [
                    owner,
                    to_iso(now + timedelta(seconds=lease_seconds)),
                    workspace,
                    user_id,
                    to_iso(seen_expires_at) if seen_expires_at else None,
                    to_iso(now),
                ],
            )
            return cursor.rowcount == 1

    def refresh_locked(self, workspace: str, user_id: str, now: datetime) -> bool:
        """True while someone holds a live refresh lease on the link."""
        row = (
            self._store._db()
            .execute(
                "SELECT refresh_lock_until FROM links WHERE workspace = ? AND user_id = ?",
                [workspace, user_id],
            )
            .fetchone()
        )
        return row is not None and row[0] is not None and from_iso(row[0]) > now

    def finish_refresh(
        self,
        workspace: str,
        user_id: str,
        *,
        owner: str,
        token: str,
        refresh_token: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> bool:
        """Store the refreshed tokens and release the lock, if ``owner`` still holds it.
        False when the lease was lost (the tokens are then not written)."""
        cipher = self._store._cipher
        with self._store._write() as db:
            cursor = db.execute(
                "UPDATE links SET token_encrypted = ?, refresh_token_encrypted = ?,"
                " expires_at = ?, refresh_lock_owner = NULL, refresh_lock_until = NULL"
                " WHERE workspace = ? AND user_id = ? AND refresh_lock_owner = ?"
                " AND status = 'active'",
                [
                    cipher.encrypt(token),
                    cipher.encrypt(refresh_token),
                    to_iso(expires_at) if expires_at else None,
                    workspace,
                    user_id,
                    owner,
                ],
            )
            done = cursor.rowcount == 1
            if done:
                self._store._audit(
                    db, now, "token_refreshed", workspace=workspace, actor_id=user_id
                )
            return done

    def refresh_failed(
        self, workspace: str, user_id: str, *, owner: str, now: datetime, refused: bool, why: str
    ) -> None:
        """Release the lock after a failed refresh; when Coveo ``refused`` the refresh token,
        the link is marked invalid in the same write (the user must sign in again)."""
        with self._store._write() as db:
            if refused:
                cursor = db.execute(
                    "UPDATE links SET status = 'invalid', invalid_since = ?,"
                    " refresh_lock_owner = NULL, refresh_lock_until = NULL"
                    " WHERE workspace = ? AND user_id = ? AND refresh_lock_owner = ?",
                    [to_iso(now), workspace, user_id, owner],
                )
                if cursor.rowcount == 1:
                    self._store._audit(
                        db,
                        now,
                        "link_invalidated",
                        workspace=workspace,
                        actor_id=user_id,
                        detail=f"refresh refused: {why}"[:200],
                    )
                return
            db.execute(
                "UPDATE links SET refresh_lock_owner = NULL, refresh_lock_until = NULL"
                " WHERE workspace = ? AND user_id = ? AND refresh_lock_owner = ?",
                [workspace, user_id, owner],
            )

    def read_refresh_token(self, workspace: str, user_id: str) -> str | None:
        """The link's refresh token, decrypted; None when there is none or it is unreadable."""
        row = (
            self._store._db()
            .execute(
                "SELECT refresh_token_encrypted FROM links WHERE workspace = ? AND user_id = ?",
                [workspace, user_id],
            )
            .fetchone()
        )
        if row is None or not row[0]:
            return None
        try:
            return self._store._cipher.decrypt(row[0])
        except DecryptionError:
            return None
