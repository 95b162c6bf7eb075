"""Copy a SQLite database of the app into an empty PostgreSQL one (``delete-org-bot migrate-db``).

What is copied is derived from the schema, not listed here: every table of this version's schema
(:func:`app_tables`: ``storage.migrations``, whose twin ``storage.pg_migrations`` makes the same
tables and columns on the target), except the migration bookkeeping of each side
(``_migrations``, ``_sqlite_migrations``). A source table or column the schema lacks is refused:
the copier would otherwise drop it silently. Other tables of the target database are left
alone.

Values are copied unchanged: encrypted columns stay encrypted under the same Fernet keys, times
stay ISO 8601 text, ids stay the same, so the audit hash chain is byte-identical and verifies
on the target. The whole copy is ONE PostgreSQL transaction (on a connection of its own): the
target's migration, an ``EXCLUSIVE`` lock on every app table (replicas may read, not write,
until it ends; an app starting meanwhile waits on the migration advisory lock), the emptiness
check, a ``COPY … FROM STDIN`` per table fed in batches of :data:`BATCH_ROWS` rows from one
SQLite read transaction (a consistent snapshot; constant memory on a long audit trail), the
identity sequences moved past the copied ids, the row counts compared and the audit chain
verified. Any refusal or failure rolls all of it back: the target is left as it was.

This module is PostgreSQL-specific (``COPY``, ``setval``, ``information_schema``), unlike the
store's SQL, which keeps to the subset both backends share.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlite_utils import Database

from bot.logredact import redact_database_url
from storage.audit_chain import Verification, verify_chain
from storage.migrations import migrations
from storage.model import ForeignTable, SchemaTooNew, StorageError
from storage.pg_backend import RIGHTS_HELP, ServerCursors, single_transaction
from storage.pg_migrations import migrate as migrate_postgres
from storage.sqlite_backend import SQLiteBackend

BATCH_ROWS = 1000
"""Rows read from SQLite and written to ``COPY`` at a time."""
BOOKKEEPING = frozenset({"_migrations", "_sqlite_migrations"})
"""Migration records of each backend: each side keeps its own, never copied."""
SEEDED = {"audit_chain": "anchor_id = 0 AND head_id = 0"}
"""Tables the migrations fill with one row, and what that row looks like while no audit row
was ever written (an empty database): the target's row is replaced by the source's."""


class CopyRefused(StorageError):
    """The copy cannot start: the source or target is not what it must be (missing, not the
    app's database, newer schema, unknown table, target not empty). Nothing was changed."""


class CopyFailed(StorageError):
    """The copy was attempted and rolled back (counts differ, the chain does not verify, or
    PostgreSQL refused a value): the target is as it was."""


@dataclass(frozen=True)
class TableCount:
    """Rows of one table: in the SQLite snapshot and in the target before commit."""

    table: str
    source: int
    target: int


@dataclass(frozen=True)
class CopyReport:
    """What :func:`copy_sqlite_to_postgres` did: ``tables`` in copy order; ``source_migrated``
    and ``target_migrated`` the migration steps applied first to each side; ``chain`` the audit
    chain's verification on the target; ``live_instances`` app processes of the source whose
    heartbeat was under a minute old at the newest heartbeat (probably still running)."""

    tables: tuple[TableCount, ...]
    source_migrated: tuple[str, ...]
    target_migrated: tuple[str, ...]
    chain: Verification
    live_instances: int

    @property
    def rows(self) -> int:
        """Rows copied, every table together."""
        return sum(t.target for t in self.tables)


def app_tables() -> frozenset[str]:
    """The tables of this version's schema, read from a fresh in-memory SQLite database
    migrated by ``storage.migrations`` (the PostgreSQL steps are its twins), bookkeeping
    excluded: what ``migrate-db`` copies."""
    db = Database(memory=True)
    try:
        migrations.apply(db)
        return frozenset(db.table_names()) - BOOKKEEPING
    finally:
        db.close()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def prepare_source(path: Path) -> tuple[str, ...]:
    """Check that ``path`` is a SQLite database of the app, and apply its pending migration
    steps the normal way (``storage.sqlite_backend``, as the app does at start-up). Returns the
    steps applied (empty when it was current).

    Raises:
        CopyRefused: no such file, not a SQLite database, not the app's (no migration record),
            or migrated by a newer version (nothing is changed then).
        CopyFailed: the pending steps cannot be applied (e.g. the file stays locked).
    """
    if not path.is_file():
        raise CopyRefused(f"no SQLite file at {path}")
    try:
        with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            db = Database(conn, execute_plugins=False)
            applied = [step.name for step in migrations.applied(db)]
            pending = tuple(step.name for step in migrations.pending(db))
    except sqlite3.Error as error:
        raise CopyRefused(f"{path} is not a readable SQLite database ({error})") from None
    if not applied:
        raise CopyRefused(f"{path} is not a delete-org-bot database (no migration recorded)")
    known = {step.name for step in migrations._migrations}  # sqlite-utils 4.2.1 keeps them
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise CopyRefused(str(SchemaTooNew(path, unknown)))
    if pending:
        try:
            SQLiteBackend(path).close()  # migrates under the file's write lock
        except sqlite3.Error as error:
            raise CopyFailed(f"cannot migrate {path} ({error}); nothing was copied") from None
    return pending


def _source_columns(conn: sqlite3.Connection) -> dict[str, tuple[list[str], list[str]]]:
    """``{table: (columns in order, primary key columns)}`` of the source's tables."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
        if row[0] not in BOOKKEEPING
    ]
    shape: dict[str, tuple[list[str], list[str]]] = {}
    for table in tables:
        info = conn.execute(f"PRAGMA table_info({_quoted(table)})").fetchall()
        pk = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
        shape[table] = ([row[1] for row in info], pk)
    return shape


def _target_columns(db: Any, tables: frozenset[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """``({table: columns in order}, {table: identity column})`` of the app's ``tables`` in
    the target (other tables of that database are left alone)."""
    columns: dict[str, list[str]] = {}
    identity: dict[str, str] = {}
    rows = db.execute(
        "SELECT c.table_name, c.column_name, c.is_identity FROM information_schema.columns c"
        " JOIN information_schema.tables t ON t.table_schema = c.table_schema"
        " AND t.table_name = c.table_name"
        " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
        " ORDER BY c.table_name, c.ordinal_position"
    ).fetchall()
    for table, column, is_identity in rows:
        if table not in tables:
            continue
        columns.setdefault(table, []).append(column)
        if is_identity == "YES":
            identity[table] = column
    return columns, identity


def _check_shapes(
    source: dict[str, tuple[list[str], list[str]]], target: dict[str, list[str]], path: Path
) -> None:
    unknown = sorted(set(source) - set(target))
    if unknown:
        raise CopyRefused(
            f"{path} has table(s) {', '.join(unknown)} that this version's schema does not know:"
            " nothing was copied (was the file changed by hand, or by another program?)"
        )
    missing = sorted(set(target) - set(source))
    if missing:
        raise CopyRefused(f"{path} lacks the table(s) {', '.join(missing)} of the app's schema")
    for table, (columns, _) in source.items():
        extra = sorted(set(columns) - set(target[table]))
        lacking = sorted(set(target[table]) - set(columns))
        if extra or lacking:
            raise CopyRefused(
                f"{path}: table {table} has columns that differ from this version's schema"
                f" (unknown: {', '.join(extra) or 'none'}; missing: {', '.join(lacking) or 'none'})"
            )


def _check_empty(db: Any, tables: Sequence[str], where: str) -> None:
    """Raise :class:`CopyRefused` naming every table of the target that holds app data."""
    held: list[str] = []
    for table in tables:
        count = db.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0]  # noqa: S608
        if table in SEEDED:
            fresh = db.execute(
                f"SELECT count(*) FROM {_quoted(table)} WHERE {SEEDED[table]}"  # noqa: S608
            ).fetchone()[0]
            count -= fresh
        if count:
            held.append(f"{table}: {count} row{'s' if count != 1 else ''}")
    if held:
        raise CopyRefused(
            f"the PostgreSQL database {where} already holds app data ({'; '.join(held)}):"
            " migrate-db copies into an empty database only; nothing was changed"
        )


def _source_batches(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], order: Sequence[str]
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of ``table`` in primary key order, :data:`BATCH_ROWS` at a time."""
    cols = ", ".join(_quoted(c) for c in columns)
    sql = f"SELECT {cols} FROM {_quoted(table)}"  # noqa: S608 - names from the schema
    if order:
        sql += " ORDER BY " + ", ".join(_quoted(c) for c in order)
    cursor = conn.execute(sql)
    while batch := cursor.fetchmany(BATCH_ROWS):
        yield batch


def _copy_table(
    conn: sqlite3.Connection, tx: Any, table: str, columns: Sequence[str], order: Sequence[str]
) -> None:
    cols = ", ".join(_quoted(c) for c in columns)
    with (
        tx.conn.cursor() as cursor,
        cursor.copy(f"COPY {_quoted(table)} ({cols}) FROM STDIN") as copy,
    ):
        for batch in _source_batches(conn, table, columns, order):
            for row in batch:
                copy.write_row(row)


def _live_instances(conn: sqlite3.Connection) -> int:
    """App processes of the source not stopped whose heartbeat is within a minute of the
    newest one (ISO text compares in time order; the clock of this host is not needed)."""
    row = conn.execute(
        "SELECT count(*) FROM instances WHERE stopped_at IS NULL AND heartbeat_at >="
        " (SELECT strftime('%Y-%m-%dT%H:%M:%S', max(heartbeat_at), '-60 seconds')"
        " FROM instances WHERE stopped_at IS NULL)"
    ).fetchone()
    return int(row[0])


def copy_sqlite_to_postgres(
    source: Path, target_url: str, *, audit_key: bytes | None
) -> CopyReport:
    """Copy the SQLite database ``source`` into the empty PostgreSQL database at
    ``target_url`` (see the module docstring for how), and return what was done.

    ``audit_key`` is ``DELETE_ORG_AUDIT_KEY`` (needed to verify an HMAC chain).

    Raises:
        CopyRefused: see :func:`prepare_source`; the source has a table or column this version
            does not know; the target was migrated by a newer version or holds app data.
        CopyFailed: row counts differ, the audit chain does not verify on the target, or
            PostgreSQL refused a value; everything was rolled back.
        storage.StoreUnavailable: PostgreSQL cannot be reached or refused the login.
    """
    where = redact_database_url(target_url)
    source_migrated = prepare_source(source)
    try:
        return _copy(source, target_url, where, audit_key, source_migrated)
    except psycopg.Error as error:  # lost connections are StoreUnavailable already
        raise _refused_by_postgres(error, "the copy") from None
    except sqlite3.Error as error:
        raise CopyFailed(
            f"cannot read {source} ({error}): nothing was written to PostgreSQL"
        ) from None


def _refused_by_postgres(error: psycopg.Error, what: str) -> CopyFailed:
    reason = redact_database_url(" ".join(str(error).split()) or type(error).__name__)
    rights = f"; {RIGHTS_HELP}" if isinstance(error, psycopg.errors.InsufficientPrivilege) else ""
    return CopyFailed(
        f"PostgreSQL refused {what} ({reason}): everything was rolled back, the PostgreSQL"
        f" database is as it was{rights}"
    )


def _copy(
    source: Path,
    target_url: str,
    where: str,
    audit_key: bytes | None,
    source_migrated: tuple[str, ...],
) -> CopyReport:
    conn = sqlite3.connect(
        f"{source.absolute().as_uri()}?mode=ro", uri=True, timeout=15, isolation_level=None
    )
    with closing(conn):
        conn.execute("BEGIN")  # one read snapshot for every table and every count
        shape = _source_columns(conn)
        with single_transaction(target_url) as tx:
            try:
                target_migrated = tuple(migrate_postgres(tx, where))
            except (SchemaTooNew, ForeignTable) as error:
                raise CopyRefused(str(error)) from None
            target, identity = _target_columns(tx, app_tables())
            _check_shapes(shape, target, source)
            tables = sorted(target)
            tx.execute(f"LOCK TABLE {', '.join(map(_quoted, tables))} IN EXCLUSIVE MODE")
            _check_empty(tx, tables, where)
            counts = _copy_all(conn, tx, shape, tables)
            for table, column in sorted(identity.items()):
                tx.execute(
                    f"SELECT setval(pg_get_serial_sequence(?, ?),"  # noqa: S608
                    f" COALESCE(MAX({_quoted(column)}), 0) + 1, false) FROM {_quoted(table)}",
                    [_quoted(table), column],
                ).fetchall()
            wrong = [c for c in counts if c.source != c.target]
            if wrong:
                raise CopyFailed(
                    "row counts differ after the copy ("
                    + "; ".join(
                        f"{c.table}: {c.source} in SQLite, {c.target} copied" for c in wrong
                    )
                    + "): everything was rolled back, the PostgreSQL database is as it was"
                )
            chain = _verify_target(tx, conn, audit_key)
            live = _live_instances(conn)
        conn.execute("ROLLBACK")
    return CopyReport(tuple(counts), source_migrated, target_migrated, chain, live)


def _copy_all(
    conn: sqlite3.Connection,
    tx: Any,
    shape: dict[str, tuple[list[str], list[str]]],
    tables: Sequence[str],
) -> list[TableCount]:
    counts: list[TableCount] = []
    for table in tables:
        columns, order = shape[table]
        if table in SEEDED:
            tx.execute(f"DELETE FROM {_quoted(table)}")  # noqa: S608 - the fresh seed row
        try:
            _copy_table(conn, tx, table, columns, order)
        except psycopg.Error as error:
            if isinstance(error, psycopg.OperationalError):
                raise  # the server went away? single_transaction tells
            raise _refused_by_postgres(error, f"a row of {table}") from None
        source_count = conn.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0]  # noqa: S608
        target_count = tx.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0]  # noqa: S608
        counts.append(TableCount(table, int(source_count), int(target_count)))
    return counts


def _verify_target(tx: Any, conn: sqlite3.Connection, audit_key: bytes | None) -> Verification:
    """Verify the audit chain as copied (streamed through server-side cursors, inside the
    copy's transaction); raise :class:`CopyFailed` when it does not verify."""
    cursors = ServerCursors(tx.conn)
    try:
        chain = verify_chain(cursors, audit_key)
    finally:
        cursors.close_cursors()
    if chain.ok:
        return chain
    where = f"row {chain.bad_id}" if chain.bad_id is not None else "the chain"
    before = verify_chain(conn, audit_key)
    origin = (
        "it is already so in the SQLite file (see `delete-org-bot audit verify --db FILE`)"
        if not before.ok
        else "the SQLite file verifies: the copy changed it"
    )
    raise CopyFailed(
        f"the audit chain does not verify on PostgreSQL at {where}: {chain.problem}; {origin};"
        " everything was rolled back, the PostgreSQL database is as it was"
    )
