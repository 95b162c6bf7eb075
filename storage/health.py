"""Whether the database can serve the app right now: reachable, and its schema up to date.

This is the one store method behind ``GET /readyz`` (:mod:`bot.readiness`); each backend
answers it its own way (``SQLiteBackend.schema_steps``, ``PostgresBackend.schema_steps``).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.base import StoreBase

PROBE_TIMEOUT_SECONDS = 2.0
"""How long a readiness probe waits for a lock another connection holds on the file, or for
the PostgreSQL server; a probe must answer well within the few seconds a load balancer or
Kubernetes allows it."""


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
        """Read the migration steps recorded in the database, over a fresh connection (not the
        store's own: an open SQLite connection keeps reading a file that was deleted or
        replaced; a pooled PostgreSQL one may hide a server that stopped answering), and
        compare them with the steps this code knows (``storage.migrations``, or its twin
        ``storage.pg_migrations``).

        ``timeout`` is in seconds: waiting on another connection's lock (SQLite), or for the
        server to answer (PostgreSQL).

        Raises:
            StoreUnavailable: the SQLite file is missing, locked past ``timeout``, unreadable
                or not a database; PostgreSQL cannot be reached in time or refused the login.
        """
        applied, pending = self._backend.schema_steps(timeout)
        return SchemaStatus(applied=applied, pending=pending)
