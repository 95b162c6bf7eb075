"""Connections, transactions and the one audit write shared by every part of the store.

Concurrency: each thread gets its own connection to the same file (WAL journal, busy
timeout); writes take the write lock up front (``BEGIN IMMEDIATE``)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.clock import from_iso, to_iso
from bot.crypto import DecryptionError, TokenCipher
from storage.audit_chain import AUDIT_FIELDS, append_event
from storage.migrations import migrations
from storage.model import (
    DeletionRequest,
    optional_time,
)
from storage.oauth import OAuthRecords

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 15.0

AuditListener = Callable[[dict[str, Any]], None]
"""Called with an audit row's fields (``event``, ``at``, ``to_state``, ``detail`` …, as in
``storage.audit_chain.AUDIT_FIELDS``) after the transaction that wrote it committed."""


class StoreBase:
    """The SQLite file, its per-thread connections and write transactions.

    ``path`` is the database file; ``cipher`` encrypts tokens and response URLs at rest;
    ``on_audit`` (optional) hears of each audit row once it is committed (never of a rolled
    back one); an error it raises is logged, never turned into a failed write.
    """

    def __init__(
        self,
        path: Path | str,
        cipher: TokenCipher,
        *,
        audit_key: bytes | None = None,
        on_audit: AuditListener | None = None,
    ) -> None:
        self.path = Path(path)
        self._cipher = cipher
        self._audit_key = audit_key
        self._on_audit = on_audit
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self.oauth = OAuthRecords(self)
        """Sign in with Coveo: states, OAuth links, the refresh lock (``storage/oauth.py``)."""
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
        self._local.written = []
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.conn.execute("ROLLBACK")
            self._local.written = []
            raise
        db.conn.execute("COMMIT")
        written, self._local.written = self._local.written, []
        for values in written:
            self._tell_audit_listener(values)

    def _tell_audit_listener(self, values: dict[str, Any]) -> None:
        if self._on_audit is None:
            return
        try:
            self._on_audit(values)
        except Exception:  # noqa: BLE001 - the row is committed; the write must not look failed
            logger.exception("audit listener failed on event %s", values.get("event"))

    def close(self) -> None:
        """Close every connection this store opened, in every thread."""
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def _audit(self, db: Database, now: datetime, event: str, **fields: Any) -> None:
        """The one writer of audit rows: chained to the previous row inside the caller's
        write transaction (``storage.audit_chain.append_event``), reported to ``on_audit``
        once that transaction commits."""
        values = {name: fields.get(name) for name in AUDIT_FIELDS}
        values.update(at=to_iso(now), event=event)
        append_event(db.conn, self._audit_key, values)
        if self._on_audit is not None:
            self._local.written.append(dict(values))

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
            data[name] = optional_time(data.get(name))
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
