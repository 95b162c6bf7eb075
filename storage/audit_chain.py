"""The audit trail as a hash chain (append, verify) and the read-only queries of ``audit`` CLI.

Each row written since migration ``m006_issue12_audit_chain`` carries ``prev_hash`` (the hash
of the row before it) and ``hash`` = SHA-256 (or HMAC-SHA-256 with ``DELETE_ORG_AUDIT_KEY``)
over ``prev_hash`` and the row's own canonical content, like the digest chain of AWS
CloudTrail's log-file integrity validation. The ``audit_chain`` one-row table holds the head
(last id and hash) and the seal of the rows written before the chain existed.

Concurrency: :func:`append_event` must run inside the caller's write transaction
(``Store._write``). SQLite serializes those (``BEGIN IMMEDIATE``) across threads and processes
sharing the file; on PostgreSQL the append locks the ``audit_chain`` row (``FOR UPDATE``) until
commit. Either way two writers can never chain from the same head.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from bot.clock import to_iso
from bot.dburl import is_postgres_url
from storage.dialect import Executor

AUDIT_FIELDS = (
    "at",
    "event",
    "workspace",
    "actor_id",
    "request_id",
    "org_id",
    "region",
    "from_state",
    "to_state",
    "http_status",
    "coveo_request_id",
    "detail",
)
"""The content columns of ``audit_events``, in table order (after ``id``)."""
EXPORT_FIELDS = ("id", *AUDIT_FIELDS, "hash")
"""Columns of ``audit list/export`` rows; no token or response URL is ever among them."""
SHA256 = "sha256"
HMAC_SHA256 = "hmac-sha256"
OUTCOMES = ("deleted", "failed", "unknown", "cancelled", "expired", "rejected")
"""Final states a ``--outcome`` filter accepts (``storage.FINAL_STATES``)."""


class AuditReadError(Exception):
    """The database cannot be read as an audit trail (missing file, not migrated)."""


def canonical(row_id: int, fields: Mapping[str, Any]) -> bytes:
    """The bytes a row's hash covers: its id and every content column, as compact JSON with
    sorted keys (UTF-8). Including the id makes a renumbered (moved) row fail verification."""
    content = {name: fields.get(name) for name in AUDIT_FIELDS}
    content["id"] = row_id
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, content: bytes, key: bytes | None) -> str:
    """``"<alg>:<hex>"`` over ``prev_hash`` and ``content``: SHA-256, or HMAC-SHA-256 when a
    ``key`` is given (then nobody without the key can recompute a consistent chain)."""
    message = prev_hash.encode("ascii") + b"\n" + content
    if key is None:
        return f"{SHA256}:{hashlib.sha256(message).hexdigest()}"
    return f"{HMAC_SHA256}:{hmac.new(key, message, hashlib.sha256).hexdigest()}"


def seal_rows(rows: Iterator[Sequence[Any]]) -> str:
    """Hash chain (plain SHA-256, from ``""``) over ``(id, *AUDIT_FIELDS)`` rows; used to seal
    the rows that existed before the chain did. Returns the last hash (``""`` for none)."""
    prev = ""
    for row in rows:
        prev = chain_hash(
            prev, canonical(row[0], dict(zip(AUDIT_FIELDS, row[1:], strict=True))), None
        )
    return prev


def append_event(
    db: Executor, key: bytes | None, fields: Mapping[str, Any], *, lock_head: str = ""
) -> int:
    """Insert one audit row chained to the head and move the head; returns its id.

    Must be called inside an open write transaction ``db`` (the chain append and the insert
    commit or roll back together). ``fields`` maps :data:`AUDIT_FIELDS` names to values.
    ``lock_head`` is the dialect's row-lock suffix (PostgreSQL ``FOR UPDATE``): the head row
    stays locked until commit, so concurrent appenders queue and each chains from the head the
    previous one committed.
    """
    head_id, head_hash = db.execute(
        f"SELECT head_id, head_hash FROM audit_chain WHERE id = 1{lock_head}"  # noqa: S608
    ).fetchone()
    last_id = db.execute("SELECT COALESCE(MAX(id), 0) FROM audit_events").fetchone()[0]
    row_id = max(int(last_id), int(head_id)) + 1
    digest = chain_hash(head_hash, canonical(row_id, fields), key)
    values = [fields.get(name) for name in AUDIT_FIELDS]
    columns = ", ".join(AUDIT_FIELDS)
    marks = ", ".join("?" for _ in AUDIT_FIELDS)
    db.execute(
        f"INSERT INTO audit_events (id, {columns}, prev_hash, hash) "  # noqa: S608 - constants
        f"VALUES (?, {marks}, ?, ?)",
        [row_id, *values, head_hash, digest],
    )
    db.execute("UPDATE audit_chain SET head_id = ?, head_hash = ? WHERE id = 1", [row_id, digest])
    return row_id


@dataclass(frozen=True)
class Verification:
    """Result of :func:`verify_chain`: ``ok``; ``checked`` chained rows; ``sealed`` rows from
    before the chain (checked as one block); ``bad_id`` the first broken row (None when the
    break is the seal or the head) and ``problem`` a sentence saying what is wrong."""

    ok: bool
    checked: int
    sealed: int
    bad_id: int | None = None
    problem: str | None = None


def verify_chain(conn: Executor, key: bytes | None) -> Verification:
    """Walk the whole trail in id order (streaming) and report the first break.

    Detects: an edited row (its hash no longer matches), a deleted row (a gap in ids, or the
    next row's ``prev_hash`` points elsewhere), an inserted row (no hash, or a hash that does
    not follow), a reordered or renumbered row (the id is inside the hash), deleted rows at the
    end (the head no longer matches) and edited pre-chain rows (the seal no longer matches).
    With ``key`` given, plain SHA-256 rows after the first HMAC row are a downgrade. Without
    it, an HMAC row cannot be checked and is reported as such.
    """
    anchor_id, seal, head_id, head_hash = conn.execute(
        "SELECT anchor_id, seal_hash, head_id, head_hash FROM audit_chain WHERE id = 1"
    ).fetchone()
    cols = ", ".join(("id", *AUDIT_FIELDS))
    sealed_rows = conn.execute(
        f"SELECT {cols} FROM audit_events WHERE id <= ? ORDER BY id",  # noqa: S608
        (anchor_id,),
    )
    sealed = 0

    def counted() -> Iterator[tuple[Any, ...]]:
        nonlocal sealed
        for row in sealed_rows:
            sealed += 1
            yield tuple(row)

    if seal_rows(counted()) != seal:
        return Verification(
            False,
            0,
            sealed,
            None,
            f"rows 1..{anchor_id}, written before the chain started, were edited, deleted or added",
        )
    prev_id, prev_hash, checked, keyed = anchor_id, seal, 0, False
    cursor = conn.execute(
        f"SELECT {cols}, prev_hash, hash FROM audit_events WHERE id > ? ORDER BY id",  # noqa: S608
        (anchor_id,),
    )
    for row in cursor:
        row_id, stored_prev, stored = row[0], row[-2], row[-1]
        fields = dict(zip(AUDIT_FIELDS, row[1:-2], strict=True))

        def broken(problem: str, row_id: int = row_id, checked: int = checked) -> Verification:
            return Verification(False, checked, sealed, row_id, problem)

        if not stored:
            return broken("has no hash: it was inserted outside the app")
        if row_id != prev_id + 1:
            return broken(f"follows row {prev_id}: row(s) {prev_id + 1}..{row_id - 1} were deleted")
        if stored_prev != prev_hash:
            return broken(
                f"does not follow row {prev_id}: a row was deleted, inserted or moved here"
            )
        alg = stored.split(":", 1)[0]
        if alg == HMAC_SHA256 and key is None:
            return broken("is HMAC-signed: set DELETE_ORG_AUDIT_KEY to verify it")
        if alg == SHA256 and keyed:
            return broken("is plain SHA-256 after HMAC-signed rows: the chain was recomputed")
        keyed = keyed or alg == HMAC_SHA256
        expected = chain_hash(stored_prev, canonical(row_id, fields), key if keyed else None)
        if not hmac.compare_digest(expected, stored):
            return broken("content does not match its hash: the row was edited or replaced")
        prev_id, prev_hash, checked = row_id, stored, checked + 1
    if (prev_id, prev_hash) != (head_id, head_hash):
        return Verification(
            False,
            checked,
            sealed,
            None,
            f"the chain ends at row {prev_id} but its head is row {head_id}: rows at the end"
            " were deleted",
        )
    return Verification(True, checked, sealed)


# -- read-only queries ---------------------------------------------------------------------
class ReadOnlyDatabase(Protocol):
    """A read-only connection of the ``audit`` commands: ``execute`` (``?`` placeholders,
    rows streamed) and ``close``."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any:
        """Run one query; returns an iterable cursor."""

    def close(self) -> None:
        """Close the connection."""


def open_readonly(location: Path | str) -> ReadOnlyDatabase:
    """Open the app's database read-only (the app may keep writing meanwhile): a SQLite file,
    or a ``postgresql://`` URL (a read-only transaction, rows streamed by a server-side cursor).

    Raises:
        AuditReadError: no such file or server, or the database has no audit chain yet (start
            the app once, or open it with the app, to apply its migrations).
    """
    if is_postgres_url(location):
        from storage.pg_backend import open_readonly as open_postgres

        return open_postgres(location, AuditReadError)
    path = Path(location)
    if not path.is_file():
        raise AuditReadError(f"no database at {path} (set DELETE_ORG_DB or pass --db)")
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=15)
    try:
        conn.execute("SELECT head_id FROM audit_chain").fetchone()
    except sqlite3.DatabaseError as error:
        conn.close()
        raise AuditReadError(
            f"{path} has no audit chain ({error}); start the app once to migrate it"
        ) from error
    return conn


@dataclass(frozen=True)
class AuditFilter:
    """Filters of ``audit list/export``; None means any. ``since``/``until`` are aware UTC
    (inclusive/exclusive); ``outcome`` keeps rows of requests that ended in that state."""

    org_id: str | None = None
    user_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    event: str | None = None
    outcome: str | None = None
    request_id: str | None = None


def iter_events(conn: Executor, where: AuditFilter) -> Iterator[dict[str, Any]]:
    """Stream matching audit rows in id order as dicts of :data:`EXPORT_FIELDS` (constant
    memory: the SQLite cursor is consumed row by row)."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("org_id", where.org_id),
        ("actor_id", where.user_id),
        ("event", where.event),
        ("request_id", where.request_id),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if where.since is not None:
        clauses.append("at >= ?")
        params.append(to_iso(where.since))
    if where.until is not None:
        clauses.append("at < ?")
        params.append(to_iso(where.until))
    if where.outcome is not None:
        clauses.append("request_id IN (SELECT id FROM deletion_requests WHERE state = ?)")
        params.append(where.outcome)
    sql = f"SELECT {', '.join(EXPORT_FIELDS)} FROM audit_events"  # noqa: S608 - constants
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    for row in conn.execute(sql + " ORDER BY id", params):
        yield dict(zip(EXPORT_FIELDS, row, strict=True))


REQUEST_SUMMARY_FIELDS = (
    "id",
    "workspace",
    "requester_id",
    "channel_id",
    "org_id",
    "org_name",
    "region",
    "state",
    "created_at",
    "updated_at",
    "reason",
    "approver_id",
    "decided_by",
    "attempted_at",
    "http_status",
    "coveo_request_id",
    "error_code",
)
"""Columns of a request shown by ``audit show`` (never ``response_url_encrypted``)."""


def request_summary(conn: Executor, request_id: str) -> dict[str, Any] | None:
    """The request's row (only :data:`REQUEST_SUMMARY_FIELDS`), or None if unknown."""
    row = conn.execute(
        f"SELECT {', '.join(REQUEST_SUMMARY_FIELDS)} FROM deletion_requests WHERE id = ?",  # noqa: S608
        (request_id,),
    ).fetchone()
    return dict(zip(REQUEST_SUMMARY_FIELDS, row, strict=True)) if row else None
