"""The SQL that differs between SQLite and PostgreSQL, in one place, and what a backend offers.

The store's modules write their SQL once, with ``?`` placeholders, in the common subset of both
databases (``RETURNING``, ``INSERT … ON CONFLICT``, partial indexes, ISO 8601 UTC text times).
What cannot be common is a field of :class:`Dialect` (:data:`SQLITE`, :data:`POSTGRESQL`); the
PostgreSQL backend turns ``?`` into psycopg's ``%s`` (:func:`to_pyformat`). A backend
(``storage/sqlite_backend.py``, ``storage/pg_backend.py``) hands out executors (:class:`Executor`)
for reads and for write transactions; the store's modules never learn which one they run on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol


class Cursor(Protocol):
    """What the store reads from a statement's result (``sqlite3.Cursor``, ``psycopg.Cursor``)."""

    @property
    def rowcount(self) -> int:
        """Rows changed by the statement."""

    @property
    def description(self) -> Any:
        """Result columns; ``description[i][0]`` is the i-th column's name."""

    def fetchone(self) -> Any:
        """The next row as a tuple, or None."""

    def fetchall(self) -> list[Any]:
        """The remaining rows as tuples."""

    def __iter__(self) -> Iterator[Any]:
        """The remaining rows, one at a time."""


class Executor(Protocol):
    """Runs one statement with ``?`` placeholders (a read connection or an open transaction)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor:
        """Run ``sql`` with positional ``parameters``; returns a :class:`Cursor`."""


class Backend(Protocol):
    """A database the store runs on: reads, write transactions, its dialect, closing."""

    dialect: Dialect
    location: Path | str
    """The SQLite file, or the PostgreSQL URL with its password redacted (safe to show)."""

    def reader(self) -> Executor:
        """An executor for reads outside a transaction (each statement sees committed data)."""

    def write(self) -> AbstractContextManager[Executor]:
        """A write transaction: commits when the block ends, rolls back if it raises."""

    def schema_steps(self, timeout: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(applied, pending)`` migration step names, read over a fresh connection that
        waits at most ``timeout`` seconds; raises ``StoreUnavailable`` when it cannot."""

    def close(self) -> None:
        """Release every connection."""


@dataclass(frozen=True)
class Dialect:
    """SQL fragments of one database, and the serialisation it needs for the guarantees.

    ``null_safe_equal``: equality that holds for two NULLs (SQLite ``IS``, standard
    ``IS NOT DISTINCT FROM``). ``lock_row``: suffix of a ``SELECT`` that must lock the rows it
    reads until commit (PostgreSQL ``FOR UPDATE``; SQLite already holds the write lock of the
    whole file from ``BEGIN IMMEDIATE``). ``skip_locked``: suffix of the ``SELECT`` that picks
    outbox items to claim (PostgreSQL ``FOR UPDATE SKIP LOCKED``: a replica skips the rows another
    replica is claiming instead of claiming them twice or waiting). ``serialise_sql``: statement
    that serialises the writers of one key until commit (PostgreSQL
    ``pg_advisory_xact_lock``), None when the transaction already is serial (SQLite).
    ``shared_across_hosts``: replicas on other hosts may use the same database (a PID then tells
    nothing about a process's liveness, only heartbeats do). ``greatest``: the function that
    returns the largest of its arguments (SQLite's two-argument ``MAX``, ``GREATEST``).
    """

    name: str
    null_safe_equal: str
    lock_row: str
    skip_locked: str
    serialise_sql: str | None
    shared_across_hosts: bool
    greatest: str

    def serialise(self, db: Executor, key: int) -> None:
        """Inside a write transaction: wait until no other transaction holds ``key``, then hold
        it until this one ends (no-op on SQLite, whose write transactions never overlap)."""
        if self.serialise_sql is not None:
            db.execute(self.serialise_sql, [key]).fetchall()


SQLITE = Dialect(
    name="sqlite",
    null_safe_equal="IS",
    lock_row="",
    skip_locked="",
    serialise_sql=None,
    shared_across_hosts=False,
    greatest="MAX",
)
POSTGRESQL = Dialect(
    name="postgresql",
    null_safe_equal="IS NOT DISTINCT FROM",
    lock_row=" FOR UPDATE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    serialise_sql="SELECT pg_advisory_xact_lock(?)",
    shared_across_hosts=True,
    greatest="GREATEST",
)

CAPS_LOCK_KEY = 0x6465_6C6F_7267_01
"""Advisory lock of the deletion caps: every write that may start a deletion holds it, so the
caps it counts cannot change until it commits (PostgreSQL, READ COMMITTED)."""
MIGRATION_LOCK_KEY = 0x6465_6C6F_7267_02
"""Advisory lock held while the PostgreSQL schema is checked and migrated."""


def upsert(table: str, key: Sequence[str], columns: Sequence[str], *, only_if: str = "") -> str:
    """``INSERT … ON CONFLICT (key) DO UPDATE`` of every non-key column of ``columns``, with one
    ``?`` per column (both databases). Unlike SQLite's ``INSERT OR REPLACE`` it never deletes
    the row, so columns not listed keep their value: list every column the write must reset.
    ``only_if`` (a condition on the stored row, ``table.col``, and ``excluded.col``) makes the
    update conditional; add ``RETURNING`` to learn whether a row was written."""
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    where = f" WHERE {only_if}" if only_if else ""
    return (
        f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - names are constants
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}{where}"
    )


@lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """``sql`` with each ``?`` placeholder turned into psycopg's ``%s`` and each literal ``%``
    doubled. The store's SQL never has ``?`` inside a string literal."""
    return sql.replace("%", "%%").replace("?", "%s")
