"""Intention-named storage operations over SQLite or PostgreSQL; the only place with SQL.

:class:`Store` gathers one class per concern, each in its own module: ``links``, ``requests``
(creation and queries), ``transitions`` (the compare-and-set state machine), ``audit``,
``outbox``, ``instances`` (ownership, crash reconciliation, freeze), ``stats`` (counts for
operators and monitoring), ``envelopes`` (Socket Mode redeliveries), ``response_urls`` (the
budget of each response_url), ``health`` (the readiness check of the database) and
``retention`` (clearing old response URLs), over ``base`` (the backend, transactions, the one
audit write). Records, states and the exception tree are in ``storage.model``; what differs
between the two databases is in ``storage.dialect``.

Concurrency: every state change of a deletion request is a single compare-and-set ``UPDATE ...
WHERE state = ?`` inside one write transaction together with its audit row. SQLite: a
connection per thread to the same file (WAL, busy timeout), ``BEGIN IMMEDIATE`` writes.
PostgreSQL: a connection pool, READ COMMITTED transactions plus the locks each guarantee
needs (``storage/pg_backend.py``).
"""

from __future__ import annotations

from pathlib import Path

from bot.crypto import TokenCipher
from storage.audit import AuditStore
from storage.base import BUSY_TIMEOUT_SECONDS, AuditListener, StoreBase
from storage.envelopes import EnvelopeStore
from storage.health import HealthStore
from storage.instances import InstanceStore
from storage.links import LinkStore
from storage.outbox import OutboxStore
from storage.requests import RequestStore
from storage.response_urls import ResponseUrlStore
from storage.retention import RetentionStore
from storage.stats import StatsStore
from storage.transitions import TransitionStore

__all__ = ["BUSY_TIMEOUT_SECONDS", "Store", "StoreBase", "open_store"]


class Store(
    LinkStore,
    RequestStore,
    TransitionStore,
    AuditStore,
    OutboxStore,
    InstanceStore,
    EnvelopeStore,
    StatsStore,
    ResponseUrlStore,
    HealthStore,
    RetentionStore,
):
    """All persistent state of the app, in one SQLite file or one PostgreSQL database.

    ``location`` is the SQLite file or a ``postgresql://`` URL; ``cipher`` encrypts tokens and
    response URLs at rest; ``audit_key`` (``DELETE_ORG_AUDIT_KEY``) makes the audit hash chain
    an HMAC chain; ``on_audit`` is called with each audit row's fields once its transaction
    committed (the request-outcome metrics, ``bot.metrics``). Safe to share between threads,
    and between processes using the same file or the same PostgreSQL database (replicas on
    several hosts).
    """


def open_store(
    location: Path | str,
    cipher: TokenCipher,
    *,
    audit_key: bytes | None = None,
    on_audit: AuditListener | None = None,
) -> Store:
    """Open the store at ``location`` (``Config.database``: the ``DELETE_ORG_DATABASE_URL``
    PostgreSQL URL, else the ``DELETE_ORG_DB`` SQLite file) and apply pending migrations.

    Raises:
        storage.StoreUnavailable: PostgreSQL cannot be reached or refused the login.
        storage.SchemaTooNew: the database was migrated by a newer version of the app.
        sqlite3.Error: the SQLite file cannot be opened or is not a database.
    """
    return Store(location, cipher, audit_key=audit_key, on_audit=on_audit)
