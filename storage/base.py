"""Where the store lives (its backend), transactions, and the one audit write shared by every
part of the store.

The backend is SQLite (``storage/sqlite_backend.py``) or PostgreSQL (``storage/pg_backend.py``);
what differs in their SQL is in ``storage/dialect.py``. The store's modules reach the database
only through :meth:`StoreBase._db` (reads), :meth:`StoreBase._write` (a write transaction) and
``self._dialect``, so none of them knows which backend it runs on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.clock import from_iso, to_iso
from bot.crypto import DecryptionError, TokenCipher
from bot.dburl import is_postgres_url
from storage.audit_chain import AUDIT_FIELDS, append_event
from storage.dialect import Backend, Dialect, Executor
from storage.model import (
    DeletionRequest,
    optional_time,
)
from storage.oauth import OAuthRecords
from storage.sqlite_backend import BUSY_TIMEOUT_SECONDS, SQLiteBackend

__all__ = ["BUSY_TIMEOUT_SECONDS", "AuditListener", "StoreBase", "open_backend"]

logger = logging.getLogger(__name__)

AuditListener = Callable[[dict[str, Any]], None]
"""Called with an audit row's fields (``event``, ``at``, ``to_state``, ``detail`` …, as in
``storage.audit_chain.AUDIT_FIELDS``) after the transaction that wrote it committed."""

"""A location starting with one of these is a PostgreSQL URL; anything else a SQLite file."""


def open_backend(location: Path | str) -> Backend:
    """The backend for ``location``: a ``postgresql://`` URL, or a SQLite file path. Opening
    migrates the database (see each backend for what it raises)."""
    if is_postgres_url(location):
        from storage.pg_backend import PostgresBackend

        return PostgresBackend(location)
    return SQLiteBackend(location)


class StoreBase:
    """The database, its connections and write transactions.

    ``location`` is a SQLite file path or a ``postgresql://`` URL; ``cipher`` encrypts tokens
    and response URLs at rest; ``on_audit`` (optional) hears of each audit row once it is
    committed (never of a rolled back one); an error it raises is logged, never turned into a
    failed write.
    """

    def __init__(
        self,
        location: Path | str,
        cipher: TokenCipher,
        *,
        audit_key: bytes | None = None,
        on_audit: AuditListener | None = None,
    ) -> None:
        self._cipher = cipher
        self._audit_key = audit_key
        self._on_audit = on_audit
        self._local = threading.local()
        self._backend = open_backend(location)
        self._dialect: Dialect = self._backend.dialect
        self.location: Path | str = self._backend.location
        """The SQLite file, or the PostgreSQL URL with its password redacted."""
        self.path: Path | None = getattr(self._backend, "path", None)
        """The SQLite file (None on PostgreSQL)."""
        self.oauth = OAuthRecords(self)
        """Sign in with Coveo: states, OAuth links, the refresh lock (``storage/oauth.py``)."""

    @property
    def shared_across_hosts(self) -> bool:
        """True when app processes on other hosts may share this store (PostgreSQL): their
        PIDs mean nothing here, so an owner's liveness is told by its heartbeat alone."""
        return self._dialect.shared_across_hosts

    def _db(self) -> Executor:
        """An executor for reads (``execute(sql, params)`` with ``?`` placeholders)."""
        return self._backend.reader()

    @contextmanager
    def _write(self) -> Iterator[Executor]:
        """A write transaction: SQLite ``BEGIN IMMEDIATE`` (the whole file, serialised);
        PostgreSQL one READ COMMITTED transaction. Commits at the end, rolls back on error;
        the audit rows it wrote reach ``on_audit`` only after the commit."""
        self._local.written = []
        try:
            with self._backend.write() as db:
                yield db
        except BaseException:
            self._local.written = []
            raise
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
        self._backend.close()

    def _audit(self, db: Executor, now: datetime, event: str, **fields: Any) -> None:
        """The one writer of audit rows: chained to the previous row inside the caller's
        write transaction (``storage.audit_chain.append_event``; on PostgreSQL the chain head
        row is locked ``FOR UPDATE`` until commit, so appends are serialised), reported to
        ``on_audit`` once that transaction commits."""
        values = {name: fields.get(name) for name in AUDIT_FIELDS}
        values.update(at=to_iso(now), event=event)
        append_event(db, self._audit_key, values, lock_head=self._dialect.lock_row)
        if self._on_audit is not None:
            self._local.written.append(dict(values))

    def _row_to_request(self, row: Sequence[Any], names: Sequence[str]) -> DeletionRequest:
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
