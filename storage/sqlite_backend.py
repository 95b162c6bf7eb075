"""The SQLite backend: one file, a connection per thread, ``BEGIN IMMEDIATE`` write transactions.

Concurrency: each thread gets its own connection to the same file (WAL journal, busy timeout);
writes take the write lock of the whole file up front (``BEGIN IMMEDIATE``), so every write
transaction of every thread and process sharing the file runs alone: the compare-and-set
transitions, the caps counted in the same write and the audit chain append need nothing more.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from storage.dialect import SQLITE
from storage.migrations import migrations
from storage.model import SchemaTooNew, StoreUnavailable

BUSY_TIMEOUT_SECONDS = 15.0


class SQLiteBackend:
    """The SQLite file ``path``, migrated when opened (:func:`migrate`).

    Raises (when opened):
        SchemaTooNew: the file was migrated by a newer version of the app.
        sqlite3.Error: the file cannot be opened or is not a database.
    """

    dialect = SQLITE

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.location: Path | str = self.path
        self._local = threading.local()
        self._all: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._all_lock = threading.Lock()
        db = self.reader()
        # Several processes may open a fresh file at once: take the write lock before anything
        # else (waiting up to the busy timeout) and migrate under it, then switch to WAL.
        try:
            with self.write() as locked:
                migrate(locked, self.path)
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

    def reader(self) -> Database:
        """This thread's connection (made on first use)."""
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
                self._all.append((threading.current_thread(), conn))
        return db

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A write transaction that takes the write lock up front (``BEGIN IMMEDIATE``), so a
        concurrent writer waits for the busy timeout instead of failing on lock upgrade."""
        db = self.reader()
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        db.conn.execute("COMMIT")

    def schema_steps(self, timeout: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(applied, pending)`` migration step names, read over a fresh read-only connection
        that never creates the file (``mode=ro``) and waits ``timeout`` seconds for a lock.

        Raises:
            StoreUnavailable: the file is missing, locked past ``timeout``, unreadable or not
                a SQLite database (the message is SQLite's reason, never the path).
        """
        uri = self.path.absolute().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error
        try:
            db = Database(conn, execute_plugins=False)
            # A read that touches the file: opening alone does not read it.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            applied = tuple(step.name for step in migrations.applied(db))
            pending = tuple(step.name for step in migrations.pending(db))
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error
        finally:
            conn.close()
        return applied, pending

    def close(self) -> None:
        """Close every connection this backend opened, in every thread, without pulling one
        from under a thread that may be using it: ``sqlite3`` crashes the process (a
        segmentation fault) when a connection is closed while another thread runs a
        statement on it. So this thread's connections and those of finished threads are
        closed now; a live thread's is only let go (its thread-local copy goes with the old
        ``threading.local``), and Python's garbage collector closes it once no thread holds it
        any more. A thread that uses the backend afterwards gets a new connection."""
        with self._all_lock:
            owned, self._all = self._all, []
        self._local = threading.local()
        me = threading.current_thread()
        for owner, conn in owned:
            if owner is me or not owner.is_alive():
                conn.close()
        owned.clear()


def migrate(db: Database, where: Path | str) -> None:
    """Apply the pending steps of ``storage.migrations`` (inside the caller's write lock).

    Raises:
        SchemaTooNew: the database records a step this version of the app does not know.
    """
    known = {step.name for step in migrations._migrations}  # sqlite-utils 4.2.1 keeps them
    unknown = [step.name for step in migrations.applied(db) if step.name not in known]
    if unknown:
        raise SchemaTooNew(where, unknown)
    migrations.apply(db)
