"""Intention-named storage operations over SQLite (through sqlite-utils); the only place with SQL.

:class:`Store` gathers one class per concern, each in its own module: ``links``, ``requests``
(creation and queries), ``transitions`` (the compare-and-set state machine), ``audit``,
``outbox``, ``instances`` (ownership, crash reconciliation, freeze), ``stats`` (counts for
operators and monitoring), ``envelopes`` (Socket Mode redeliveries), ``response_urls`` (the
budget of each response_url), ``health`` (the readiness check of the database) and
``retention`` (clearing old response URLs), over ``base`` (connections, transactions, the one
audit write). Records, states and the exception tree are in ``storage.model``.

Concurrency: each thread gets its own connection to the same file (WAL journal, busy timeout),
and every state change of a deletion request is a single compare-and-set ``UPDATE ... WHERE
state = ?`` inside a ``BEGIN IMMEDIATE`` transaction together with its audit row.
"""

from __future__ import annotations

from storage.audit import AuditStore
from storage.base import BUSY_TIMEOUT_SECONDS, StoreBase
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

__all__ = ["BUSY_TIMEOUT_SECONDS", "Store", "StoreBase"]


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
    """All persistent state of the app, in one SQLite file.

    ``path`` is the database file; ``cipher`` encrypts tokens and response URLs at rest;
    ``audit_key`` (``DELETE_ORG_AUDIT_KEY``) makes the audit hash chain an HMAC chain;
    ``on_audit`` is called with each audit row's fields once its transaction committed (the
    request-outcome metrics, ``bot.metrics``).
    Safe to share between threads and between processes using the same file.
    """
