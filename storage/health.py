"""Whether the database can serve the app right now: reachable, and its schema up to date.

This is the one store method behind ``GET /readyz`` (:mod:`bot.readiness`); another backend
(PostgreSQL) answers the same question with the same method and record.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sqlite_utils import Database

from storage.base import StoreBase
from storage.migrations import migrations
from storage.model import StorageUnavailable

PROBE_TIMEOUT_SECONDS = 2.0
"""How long a readiness probe waits for a lock another connection holds on the file; a probe
must answer well within the few seconds a load balancer or Kubernetes allows it."""


@dataclass(frozen=True)
class SchemaStatus:
    """Migration steps of the database against those this code knows (names, in order):
    ``applied`` are recorded in the file, ``pending`` are known here but not applied."""

    applied: tuple[str, ...]
    pending: tuple[str, ...]

    @property
    def current(self) -> bool:
        """True when every known step is applied."""
        return not self.pending


class HealthStore(StoreBase):
    """Store operations that check the database itself."""

    def schema_status(self, timeout: float = PROBE_TIMEOUT_SECONDS) -> SchemaStatus:
        """Open the file afresh, read-only (never creating it), and compare the migration steps
        recorded in it with those of ``storage.migrations``. A fresh connection, not the
        store's own: an open connection keeps reading a file that was deleted or replaced.

        ``timeout`` is in seconds (waiting on another connection's lock).

        Raises:
            StorageUnavailable: the file is missing, locked past ``timeout``, unreadable or
                not a SQLite database.
        """
        uri = self.path.absolute().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
        except sqlite3.Error as error:
            raise StorageUnavailable(str(error)) from error
        try:
            db = Database(conn, execute_plugins=False)
            # A read that touches the file: opening alone does not read it.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            applied = tuple(step.name for step in migrations.applied(db))
            pending = tuple(step.name for step in migrations.pending(db))
        except sqlite3.Error as error:
            raise StorageUnavailable(str(error)) from error
        finally:
            conn.close()
        return SchemaStatus(applied=applied, pending=pending)
