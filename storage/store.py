"""Intention-named storage operations over SQLite (through sqlite-utils); the only place with SQL.

Exception tree::

    StorageError
    ├── LinkUnreadable        a stored token cannot be decrypted (encryption key changed)
    └── LiveRequestExists     the organization already has a pending or running request

Concurrency: each thread gets its own connection to the same file (WAL journal, busy timeout),
and every state change of a deletion request is a single compare-and-set ``UPDATE ... WHERE
state = ?`` inside a ``BEGIN IMMEDIATE`` transaction together with its audit row.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.clock import from_iso, to_iso
from bot.crypto import DecryptionError, TokenCipher
from storage.audit import AUDIT_FIELDS, append_event
from storage.migrations import migrations

BUSY_TIMEOUT_SECONDS = 15.0

PENDING = "pending"
DELETING = "deleting"
DELETED = "deleted"
FAILED = "failed"
UNKNOWN = "unknown"
CANCELLED = "cancelled"
EXPIRED = "expired"
AWAITING_APPROVAL = "awaiting_approval"
REJECTED = "rejected"
LIVE_STATES = (PENDING, AWAITING_APPROVAL, DELETING)
FINAL_STATES = (DELETED, FAILED, UNKNOWN, CANCELLED, EXPIRED, REJECTED)
ATTEMPTED_STATES = (DELETING, DELETED, FAILED, UNKNOWN)


class StorageError(Exception):
    """Base class of the errors this module raises on purpose."""


class LinkUnreadable(StorageError):
    """The user's stored token cannot be decrypted with the configured keys; they must relink."""


class LiveRequestExists(StorageError):
    """The organization already has a live request; ``existing`` is that request."""

    def __init__(self, existing: DeletionRequest) -> None:
        super().__init__(f"organization {existing.org_id} already has a live request")
        self.existing = existing


@dataclass(frozen=True)
class Link:
    """A Slack user's linked Coveo access token. ``token`` is decrypted and hidden from repr.

    Times are aware UTC; ``expires_at`` is None when Coveo did not report an expiry.
    ``status`` is ``active`` or ``invalid`` (Coveo refused the token since it was linked).
    """

    workspace: str
    user_id: str
    token: str = field(repr=False)
    region: str
    coveo_username: str
    coveo_email: str | None
    linked_at: datetime
    expires_at: datetime | None
    status: str

    @property
    def usable(self) -> bool:
        """True while the link has not been marked invalid."""
        return self.status == "active"


@dataclass(frozen=True)
class DeletionRequest:
    """One ``/delete-org`` request and where it stands.

    ``state``: pending → deleting → deleted | failed | unknown; pending → cancelled | expired.
    ``delivery`` is ``channel`` (card posted with chat.postMessage, ``card_ts`` known) or
    ``response_url`` (card posted through the command's response_url). Times are aware UTC.
    """

    id: str
    workspace: str
    team_id: str | None
    requester_id: str
    channel_id: str
    org_id: str
    org_name: str | None
    org_type: str | None
    region: str
    state: str
    created_at: datetime
    expires_at: datetime
    updated_at: datetime
    card_ts: str | None
    delivery: str
    response_url: str | None = field(repr=False)
    decided_by: str | None
    decided_at: datetime | None
    attempted_at: datetime | None
    http_status: int | None
    coveo_request_id: str | None
    error_code: str | None
    error_detail: str | None
    owner: str | None = None
    reason: str | None = None
    approval_expires_at: datetime | None = None
    approver_id: str | None = None
    org_product_type: str | None = None


@dataclass(frozen=True)
class OutboxItem:
    """A Slack delivery waiting to be made: ``kind`` is ``card`` (update the card) or ``thread``
    (reply in its thread). ``attempts`` counts tries so far; times are aware UTC."""

    id: int
    request_id: str
    kind: str
    text: str
    blocks: list[dict[str, Any]] | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


@dataclass(frozen=True)
class AuditEvent:
    """One row of the append-only audit log (``at`` is aware UTC)."""

    id: int
    at: datetime
    event: str
    workspace: str | None
    actor_id: str | None
    request_id: str | None
    org_id: str | None
    region: str | None
    from_state: str | None
    to_state: str | None
    http_status: int | None
    coveo_request_id: str | None
    detail: str | None


def _opt_time(value: str | None) -> datetime | None:
    return from_iso(value) if value else None


class Store:
    """All persistent state of the app, in one SQLite file.

    ``path`` is the database file; ``cipher`` encrypts tokens and response URLs at rest;
    ``audit_key`` (``DELETE_ORG_AUDIT_KEY``) makes the audit hash chain an HMAC chain;
    ``on_audit`` is called with each audit row's fields once its transaction committed
    (metrics and the event log line).
    Safe to share between threads and between processes using the same file.
    """

    def __init__(
        self,
        path: Path | str,
        cipher: TokenCipher,
        *,
        audit_key: bytes | None = None,
        on_audit: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self._cipher = cipher
        self._audit_key = audit_key
        self._on_audit = on_audit
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        db = self._db()
        # Several processes may open a fresh file at once: take the write lock before anything
        # else (waiting up to the busy timeout) and migrate under it, then switch to WAL.
        try:
            with self._write() as locked:
                migrations.apply(locked)
            self._use_wal(db)
        except BaseException:
            self.close()
            raise

    # -- connections -------------------------------------------------------------------------
    @staticmethod
    def _use_wal(db: Database) -> None:
        """Switch the file to WAL (persistent). SQLite does not apply the busy timeout to this
        switch while another connection opens the file, so retry it for up to the timeout."""
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                    return
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _db(self) -> Database:
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            conn.execute("PRAGMA synchronous = NORMAL")
            db = Database(conn, execute_plugins=False)
            self._local.db = db
            with self._all_lock:
                self._all.append(conn)
        return db

    @contextmanager
    def _write(self) -> Iterator[Database]:
        """A write transaction that takes the write lock up front (``BEGIN IMMEDIATE``), so a
        concurrent writer waits for the busy timeout instead of failing on lock upgrade."""
        db = self._db()
        self._local.committed_events = []
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        db.conn.execute("COMMIT")
        events, self._local.committed_events = self._local.committed_events, []
        if self._on_audit is not None:
            for values in events:
                self._on_audit(values)  # after COMMIT: a rolled-back event is never reported

    def close(self) -> None:
        """Close every connection this store opened, in every thread."""
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # -- audit -------------------------------------------------------------------------------
    def _audit(self, db: Database, now: datetime, event: str, **fields: Any) -> None:
        """The one writer of audit rows: chained to the previous row inside the caller's
        write transaction (``storage.audit.append_event``), then reported to the listener."""
        values = {name: fields.get(name) for name in AUDIT_FIELDS}
        values.update(at=to_iso(now), event=event)
        append_event(db.conn, self._audit_key, values)
        if self._on_audit is not None:
            self._local.committed_events = [*getattr(self._local, "committed_events", []), values]

    def record_event(
        self,
        now: datetime,
        event: str,
        *,
        workspace: str | None = None,
        actor_id: str | None = None,
        org_id: str | None = None,
        region: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
        coveo_request_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Append an audit event that is not a request state change (e.g. a refused request)."""
        with self._write() as db:
            self._audit(
                db,
                now,
                event,
                workspace=workspace,
                actor_id=actor_id,
                org_id=org_id,
                region=region,
                request_id=request_id,
                http_status=http_status,
                coveo_request_id=coveo_request_id,
                detail=detail,
            )

    def audit_events(self, request_id: str | None = None) -> list[AuditEvent]:
        """Return audit events in order, all of them or those of one request."""
        sql = "SELECT * FROM audit_events"
        params: list[str] = []
        if request_id is not None:
            sql += " WHERE request_id = ?"
            params.append(request_id)
        rows = self._db().execute(sql + " ORDER BY id", params).fetchall()
        return [
            AuditEvent(
                id=row[0],
                at=from_iso(row[1]),
                event=row[2],
                workspace=row[3],
                actor_id=row[4],
                request_id=row[5],
                org_id=row[6],
                region=row[7],
                from_state=row[8],
                to_state=row[9],
                http_status=row[10],
                coveo_request_id=row[11],
                detail=row[12],
            )
            for row in rows
        ]

    # -- links -------------------------------------------------------------------------------
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
        """Store (or replace) the user's link; the token is encrypted before it is written."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO links (workspace, user_id, token_encrypted, region,"
                " coveo_username, coveo_email, linked_at, expires_at, status, invalid_since)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', NULL)",
                [
                    workspace,
                    user_id,
                    self._cipher.encrypt(token),
                    region,
                    coveo_username,
                    coveo_email,
                    to_iso(now),
                    to_iso(expires_at) if expires_at else None,
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
                " expires_at, status FROM links WHERE workspace = ? AND user_id = ?",
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
            expires_at=_opt_time(row[5]),
            status=row[6],
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

    # -- deletion requests -------------------------------------------------------------------
    def _row_to_request(
        self, row: sqlite3.Row | tuple[Any, ...], names: Sequence[str]
    ) -> DeletionRequest:
        data = dict(zip(names, row, strict=True))
        encrypted_url = data.pop("response_url_encrypted")
        response_url = None
        if encrypted_url:
            try:
                response_url = self._cipher.decrypt(encrypted_url)
            except DecryptionError:
                response_url = None  # expired capability anyway; the card falls back to the API
        for name in ("created_at", "expires_at", "updated_at"):
            data[name] = from_iso(data[name])
        for name in ("decided_at", "attempted_at", "approval_expires_at"):
            data[name] = _opt_time(data.get(name))
        return DeletionRequest(response_url=response_url, **data)

    def get_request(self, request_id: str) -> DeletionRequest | None:
        """Return the request with that opaque id, or None."""
        cursor = self._db().execute("SELECT * FROM deletion_requests WHERE id = ?", [request_id])
        row = cursor.fetchone()
        if row is None:
            return None
        return self._row_to_request(row, [d[0] for d in cursor.description])

    def _requests_where(self, where: str, params: list[Any]) -> list[DeletionRequest]:
        cursor = self._db().execute(f"SELECT * FROM deletion_requests WHERE {where}", params)  # noqa: S608
        names = [d[0] for d in cursor.description]
        return [self._row_to_request(row, names) for row in cursor.fetchall()]

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
            try:
                db.execute(
                    "INSERT INTO deletion_requests (id, workspace, team_id, requester_id,"
                    " channel_id, org_id, org_name, org_type, region, state, created_at,"
                    " expires_at, updated_at, delivery, response_url_encrypted,"
                    " org_product_type) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, 'channel', ?, ?)",
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
                )
            except sqlite3.IntegrityError:
                existing = None
                cursor = db.execute(
                    "SELECT * FROM deletion_requests WHERE org_id = ? AND region = ?"
                    " AND state IN ('pending', 'awaiting_approval', 'deleting')",
                    [org_id, region],
                )
                row = cursor.fetchone()
                if row is not None:
                    existing = self._row_to_request(row, [d[0] for d in cursor.description])
                if existing is None:
                    raise
                raise LiveRequestExists(existing) from None
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

    def note_click(
        self, request_id: str, *, response_url: str | None, card_ts: str | None
    ) -> DeletionRequest | None:
        """In one write: keep the click's response_url (the freshest usable one) and the card's
        ts when it was not known yet; returns the request as it now stands."""
        if response_url or card_ts:
            with self._write() as db:
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

    def _transition(
        self,
        request_id: str,
        *,
        from_state: str,
        to_state: str,
        now: datetime,
        actor_id: str,
        event: str,
        extra_where: str = "",
        extra_params: Sequence[Any] = (),
        sets: dict[str, Any] | None = None,
        detail: str | None = None,
    ) -> DeletionRequest | None:
        """Compare-and-set: move ``from_state`` → ``to_state`` only if the row is still in
        ``from_state`` (and ``extra_where`` holds). Returns the updated request, or None when
        another actor got there first. The audit row is written in the same transaction."""
        assignments = {"state": to_state, "updated_at": to_iso(now), **(sets or {})}
        set_sql = ", ".join(f"{name} = ?" for name in assignments)
        with self._write() as db:
            cursor = db.execute(
                f"UPDATE deletion_requests SET {set_sql} WHERE id = ? AND state = ?{extra_where}"  # noqa: S608
                " RETURNING org_id, region, workspace",
                [*assignments.values(), request_id, from_state, *extra_params],
            )
            row = cursor.fetchone()
            cursor.fetchall()
            if row is None:
                return None
            self._audit(
                db,
                now,
                event,
                workspace=row[2],
                actor_id=actor_id,
                request_id=request_id,
                org_id=row[0],
                region=row[1],
                from_state=from_state,
                to_state=to_state,
                http_status=assignments.get("http_status"),
                coveo_request_id=assignments.get("coveo_request_id"),
                detail=detail,
            )
        return self.get_request(request_id)

    @staticmethod
    def _limits_sql(
        limits: Sequence[tuple[int, datetime, str | None]],
    ) -> tuple[str, list[Any]]:
        """``AND`` clauses that hold only while every ``(limit, since, requester)`` cap has
        room: counted in the same statement as the state change, so racing confirmations
        cannot both slip under a cap."""
        sql = ""
        params: list[Any] = []
        for limit, since, requester in limits:
            sql += " AND (SELECT COUNT(*) FROM deletion_requests WHERE attempted_at >= ?"
            params.append(to_iso(since))
            if requester is not None:
                sql += " AND requester_id = ?"
                params.append(requester)
            sql += ") < ?"
            params.append(limit)
        return sql, params

    def start_deletion(
        self,
        request_id: str,
        actor_id: str,
        now: datetime,
        *,
        owner: str | None = None,
        limits: Sequence[tuple[int, datetime, str | None]] = (),
    ) -> DeletionRequest | None:
        """pending → deleting, only for the requester and only before the deadline.

        Recorded (with ``attempted_at``) before any ``DELETE`` is sent. None: not pending any
        more, past its deadline, ``actor_id`` is not the requester, or a cap in ``limits``
        (``(limit, since, requester or None)``) is full.
        """
        caps_sql, caps_params = self._limits_sql(limits)
        return self._transition(
            request_id,
            from_state=PENDING,
            to_state=DELETING,
            now=now,
            actor_id=actor_id,
            event="confirmed",
            extra_where=" AND requester_id = ? AND expires_at > ?" + caps_sql,
            extra_params=(actor_id, to_iso(now), *caps_params),
            sets={
                "decided_by": actor_id,
                "decided_at": to_iso(now),
                "attempted_at": to_iso(now),
                "owner": owner,
            },
        )

    def cancel(self, request_id: str, actor_id: str, now: datetime) -> DeletionRequest | None:
        """pending → cancelled by the requester. None if it is no longer pending or not theirs."""
        return self._transition(
            request_id,
            from_state=PENDING,
            to_state=CANCELLED,
            now=now,
            actor_id=actor_id,
            event="cancelled",
            extra_where=" AND requester_id = ?",
            extra_params=(actor_id,),
            sets={"decided_by": actor_id, "decided_at": to_iso(now)},
        )

    def abandon(self, request_id: str, now: datetime, reason: str) -> DeletionRequest | None:
        """pending → cancelled by the app itself (e.g. the card could not be shown anywhere)."""
        return self._transition(
            request_id,
            from_state=PENDING,
            to_state=CANCELLED,
            now=now,
            actor_id="system",
            event="abandoned",
            detail=reason,
        )

    def expire(self, request_id: str, now: datetime) -> DeletionRequest | None:
        """pending → expired, only once the deadline has passed. None otherwise."""
        return self._transition(
            request_id,
            from_state=PENDING,
            to_state=EXPIRED,
            now=now,
            actor_id="system",
            event="expired",
            extra_where=" AND expires_at <= ?",
            extra_params=(to_iso(now),),
        )

    def finish(
        self,
        request_id: str,
        *,
        outcome: str,
        now: datetime,
        actor_id: str,
        http_status: int | None,
        coveo_request_id: str | None,
        error_code: str | None = None,
        error_detail: str | None = None,
    ) -> DeletionRequest | None:
        """deleting → ``outcome`` (deleted, failed or unknown), with Coveo's answer."""
        if outcome not in (DELETED, FAILED, UNKNOWN):
            raise ValueError(f"not a final deletion outcome: {outcome}")
        return self._transition(
            request_id,
            from_state=DELETING,
            to_state=outcome,
            now=now,
            actor_id=actor_id,
            event=outcome,
            sets={
                "http_status": http_status,
                "coveo_request_id": coveo_request_id,
                "error_code": error_code,
                "error_detail": error_detail,
            },
            detail=error_detail,
        )

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

    def await_approval(
        self,
        request_id: str,
        actor_id: str,
        now: datetime,
        *,
        reason: str,
        approval_deadline: datetime,
    ) -> DeletionRequest | None:
        """pending → awaiting_approval: the requester confirmed (before the card's deadline) an
        organization that needs a second approver; ``reason`` is shown to approvers."""
        return self._transition(
            request_id,
            from_state=PENDING,
            to_state=AWAITING_APPROVAL,
            now=now,
            actor_id=actor_id,
            event="confirmed_awaiting_approval",
            extra_where=" AND requester_id = ? AND expires_at > ?",
            extra_params=(actor_id, to_iso(now)),
            sets={
                "decided_by": actor_id,
                "decided_at": to_iso(now),
                "reason": reason,
                "approval_expires_at": to_iso(approval_deadline),
            },
            detail=f"reason: {reason}"[:500],
        )

    def approve(
        self,
        request_id: str,
        approver_id: str,
        now: datetime,
        *,
        owner: str | None = None,
        limits: Sequence[tuple[int, datetime, str | None]] = (),
    ) -> DeletionRequest | None:
        """awaiting_approval → deleting, by someone other than the requester, before the
        approval deadline, while every cap in ``limits`` has room. Recorded before any
        ``DELETE`` is sent."""
        caps_sql, caps_params = self._limits_sql(limits)
        return self._transition(
            request_id,
            from_state=AWAITING_APPROVAL,
            to_state=DELETING,
            now=now,
            actor_id=approver_id,
            event="approved",
            extra_where=" AND requester_id != ? AND approval_expires_at > ?" + caps_sql,
            extra_params=(approver_id, to_iso(now), *caps_params),
            sets={"approver_id": approver_id, "attempted_at": to_iso(now), "owner": owner},
        )

    def reject(self, request_id: str, approver_id: str, now: datetime) -> DeletionRequest | None:
        """awaiting_approval → rejected, by someone other than the requester."""
        return self._transition(
            request_id,
            from_state=AWAITING_APPROVAL,
            to_state=REJECTED,
            now=now,
            actor_id=approver_id,
            event="rejected",
            extra_where=" AND requester_id != ?",
            extra_params=(approver_id,),
            sets={"approver_id": approver_id},
        )

    def withdraw(self, request_id: str, actor_id: str, now: datetime) -> DeletionRequest | None:
        """awaiting_approval → cancelled by the requester."""
        return self._transition(
            request_id,
            from_state=AWAITING_APPROVAL,
            to_state=CANCELLED,
            now=now,
            actor_id=actor_id,
            event="cancelled",
            extra_where=" AND requester_id = ?",
            extra_params=(actor_id,),
        )

    def expire_approval(self, request_id: str, now: datetime) -> DeletionRequest | None:
        """awaiting_approval → expired, once the approval deadline has passed."""
        return self._transition(
            request_id,
            from_state=AWAITING_APPROVAL,
            to_state=EXPIRED,
            now=now,
            actor_id="system",
            event="approval_expired",
            extra_where=" AND approval_expires_at <= ?",
            extra_params=(to_iso(now),),
        )

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

    # -- freeze ----------------------------------------------------------------------------------
    def set_freeze(self, *, frozen: bool, by_user: str, reason: str | None, now: datetime) -> bool:
        """Freeze or unfreeze all deletions (audited). Returns False when already in that state."""
        with self._write() as db:
            row = db.execute("SELECT frozen FROM freeze WHERE id = 1").fetchone()
            if row is not None and bool(row[0]) == frozen:
                return False
            db.execute(
                "INSERT OR REPLACE INTO freeze (id, frozen, reason, by_user, since)"
                " VALUES (1, ?, ?, ?, ?)",
                [int(frozen), reason, by_user, to_iso(now)],
            )
            self._audit(
                db, now, "frozen" if frozen else "unfrozen", actor_id=by_user, detail=reason
            )
        return True

    def freeze_state(self) -> tuple[str, str | None, datetime] | None:
        """``(by_user, reason, since)`` while deletions are frozen, else None."""
        row = (
            self._db()
            .execute("SELECT frozen, by_user, reason, since FROM freeze WHERE id = 1")
            .fetchone()
        )
        if row is None or not row[0]:
            return None
        return row[1], row[2], from_iso(row[3])

    def stuck_deleting(self) -> list[DeletionRequest]:
        """Requests left in ``deleting`` (e.g. by a crash), oldest first."""
        return self._requests_where("state = 'deleting' ORDER BY attempted_at", [])

    # -- process instances (who owns work in progress) ------------------------------------------
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
                "INSERT OR REPLACE INTO instances (id, hostname, pid, started_at, heartbeat_at,"
                " stopped_at) VALUES (?, ?, ?, ?, ?, NULL)",
                [instance_id, hostname, pid, to_iso(now), to_iso(now)],
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
        heartbeat_at as aware UTC, stopped_at), or None when the owner is unknown."""
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
                    "stopped_at": _opt_time(row[3]),
                }
            result.append((request, owner))
        return result

    def claim_orphan(
        self, request_id: str, old_owner: str | None, new_owner: str
    ) -> DeletionRequest | None:
        """Compare-and-set the owner of a ``deleting`` request, so one process reconciles it."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE deletion_requests SET owner = ? WHERE id = ? AND state = 'deleting'"
                " AND owner IS ?",
                [new_owner, request_id, old_owner],
            )
            changed = cursor.rowcount == 1
        return self.get_request(request_id) if changed else None

    # -- outbox --------------------------------------------------------------------------------
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
                    " (?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
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
                ids.append(int(cursor.lastrowid or 0))
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
        so no other thread or process sends them meanwhile; oldest first."""
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
                f" (SELECT id FROM outbox WHERE {where} ORDER BY id LIMIT ?)"
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
