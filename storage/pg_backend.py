"""The PostgreSQL backend: a ``psycopg_pool`` connection pool shared by every thread.

Reads run on a pooled connection in autocommit (each statement sees what is committed); a
write is one ``READ COMMITTED`` transaction on one pooled connection. What READ COMMITTED alone
would not guarantee is serialised explicitly, each where it is needed (the mechanism is named in
the store's docstrings): row locks (``FOR UPDATE`` on the audit chain head), advisory
transaction locks (the caps), ``FOR UPDATE SKIP LOCKED`` (outbox claims) and the re-check of a
compare-and-set ``UPDATE … WHERE state = …`` against the row's latest committed version, which
PostgreSQL does by itself when a concurrent writer changed the row.

Each operation waits for its connection up to :data:`POOL_WAIT_SECONDS` (a short restart passes
unnoticed), or, on work that must answer Slack within 3 s, only until the deadline of its ack
path (``storage/ack_wait.py``), then raises ``StoreUnavailable``.

Connections are checked when taken from the pool, so after a server restart the next operation
gets a fresh connection: the app reconnects without a restart, within seconds of the server's
return however long it was away (:data:`RECONNECT_SECONDS`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.dburl import database_url_problem
from bot.logredact import redact_database_url
from storage.ack_wait import connection_wait
from storage.dialect import POSTGRESQL, to_pyformat
from storage.model import StoreUnavailable
from storage.pg_migrations import STEPS, applied_steps, migrate

POOL_MAX_CONNECTIONS = 152
"""Connections per app process at most: one for every thread of the process that may use the
store at once (``bot.server.HTTP_THREADS`` 16 request threads, ``bot.app.LISTENER_WORKERS`` 128
post-ack workers, ``bot.app.URGENT_WORKERS`` 4, the upkeep thread, the shutdown drain and two
spare), so no thread waits for a connection while another holds one across a slow step. With 16,
200 simultaneous confirmations queued 97 % of their connection requests (mean wait 470 ms) and
the acks of clicks went past Slack's 3 s (bench part 3). Connections are opened on demand (the
pool starts with one) and closed after 10 idle minutes (``psycopg_pool``'s ``max_idle``); the
server's ``max_connections`` should cover every replica's peak, or the pool waits for a free
connection (``tests/test_pg_pool.py`` keeps this in step with the thread counts)."""
CONNECT_TIMEOUT_SECONDS = 10
"""How long opening one connection may take (DNS, TCP, TLS, login)."""
POOL_WAIT_SECONDS = 15.0
"""How long an operation waits for a free (or new) pooled connection before it fails, except
on an ack path (``storage.ack_wait.ACK_PATH_WAIT_SECONDS``: Slack's 3 s)."""
RECONNECT_SECONDS = 4.0
"""How long the pool retries one lost connection (after 1 s, then 2 s, ...) before it gives up
on that attempt: the next operation starts a new one at a 1 s delay. Left at psycopg_pool's
default (300 s), the delay doubles up to a minute, so after an outage of a few minutes the app
would serve again only up to a minute after the server is back."""
HELP = (
    "check DELETE_ORG_DATABASE_URL (host, port, database, user, password), that the server"
    " runs and accepts connections from this host"
)


RIGHTS_HELP = (
    "the user needs the right to create tables in the database's schema (make it the database's"
    " owner: ALTER DATABASE <db> OWNER TO <user>; on PostgreSQL 15 the public schema no longer"
    " lets every user create tables)"
)


def _help(error: psycopg.Error) -> str:
    """What to check after ``error``: the user's rights, or the URL and the server."""
    return RIGHTS_HELP if isinstance(error, psycopg.errors.InsufficientPrivilege) else HELP


def _checked(url: str, error: type[Exception] = StoreUnavailable) -> str:
    """``url`` as it may be shown (password redacted), once :func:`bot.dburl.database_url_problem`
    found nothing wrong with it: libpq's own parse errors quote the URL, password included.

    Raises:
        error: what is wrong with ``url``, in words that quote no part of it.
    """
    problem = database_url_problem(url, "the PostgreSQL URL")
    if problem is not None:
        raise error(problem)
    return redact_database_url(url)


def _reason(error: BaseException) -> str:
    """libpq's words, on one line (they name host and user, never the password: the URL was
    checked by :func:`_checked` first), without the server's ``LINE 1: <our SQL> ^`` context."""
    text = " ".join(str(error).split("\nLINE ")[0].split()) or type(error).__name__
    return redact_database_url(text)


def _connection_lost(error: psycopg.Error) -> bool:
    """True for errors that mean "no server to talk to" (no pooled connection in time, a
    broken connection, SQLSTATE class 08 connection exception or 57P operator intervention,
    e.g. a restart), not for errors of the statement itself (a constraint, a deadlock)."""
    if isinstance(error, PoolTimeout):
        return True
    state = error.sqlstate
    return isinstance(error, psycopg.OperationalError) and (
        state is None or state.startswith(("08", "57P"))
    )


class _Rows:
    """A read's result, fetched whole before its connection went back to the pool."""

    def __init__(self, rows: list[Any], rowcount: int, description: Any) -> None:
        self._rows = iter(rows)
        self.rowcount = rowcount
        self.description = description

    def fetchone(self) -> Any:
        return next(self._rows, None)

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def __iter__(self) -> Iterator[Any]:
        return self._rows


def _run(conn: psycopg.Connection[Any], sql: str, parameters: Sequence[Any]) -> Any:
    if parameters:
        return conn.execute(to_pyformat(sql), list(parameters))
    return conn.execute(sql)


class _Transaction:
    """An executor bound to the connection of an open transaction (``?`` placeholders)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        return _run(self.conn, sql, parameters)


class _PoolReader:
    """An executor that runs each statement on a connection borrowed from the pool."""

    def __init__(self, backend: PostgresBackend) -> None:
        self._backend = backend

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Rows:
        with self._backend.unavailable_as_storage_error(), self._backend.connection() as conn:
            cursor = _run(conn, sql, parameters)
            rows = cursor.fetchall() if cursor.description is not None else []
            return _Rows(rows, cursor.rowcount, cursor.description)


class PostgresBackend:
    """The database at ``url`` (``postgresql://user:password@host:port/dbname?…``, libpq's URI
    form: postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING), migrated when opened
    (``storage.pg_migrations``).

    Raises (when opened):
        StoreUnavailable: the URL is malformed (:func:`_checked`), the server cannot be reached
            or refused the login (the message names the URL with its password redacted, and
            what to check).
        SchemaTooNew: the database was migrated by a newer version of the app.
    """

    dialect = POSTGRESQL

    def __init__(self, url: str, *, max_connections: int = POOL_MAX_CONNECTIONS) -> None:
        self.location: Path | str = _checked(url)
        self._url = url
        try:
            with psycopg.connect(
                url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True
            ) as conn:
                with conn.transaction():
                    migrate(_Transaction(conn), self.location)
        except psycopg.Error as error:  # unreachable, login refused, bad URL option, no rights
            raise StoreUnavailable(
                f"cannot use PostgreSQL at {self.location}: {_reason(error)}; {_help(error)}"
            ) from None
        self.pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
            check=ConnectionPool.check_connection,
            timeout=POOL_WAIT_SECONDS,
            reconnect_timeout=RECONNECT_SECONDS,
            name="delete-org-bot",
            open=False,
        )
        try:
            self.pool.open(wait=True, timeout=POOL_WAIT_SECONDS)
        except PoolTimeout:
            self.pool.close()
            raise StoreUnavailable(
                f"cannot open connections to PostgreSQL at {self.location}; {HELP}"
            ) from None

    @contextmanager
    def unavailable_as_storage_error(self) -> Iterator[None]:
        """Turn a lost server (see :func:`_connection_lost`) into :class:`StoreUnavailable`, so
        the app says "the database is unreachable" instead of a driver error; others pass."""
        try:
            yield
        except psycopg.Error as error:
            if not _connection_lost(error):
                raise
            raise StoreUnavailable(
                f"PostgreSQL at {self.location} is unreachable: {_reason(error)}"
            ) from error

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A pooled connection, waited for up to :data:`POOL_WAIT_SECONDS`, or on an ack path
        (``storage.ack_path``) only until its deadline (about 1.5 s after it began): the one
        place every operation takes its connection.

        Raises:
            psycopg_pool.PoolTimeout: none in time (the server is lost, or every connection
                is busy); :meth:`unavailable_as_storage_error` makes it ``StoreUnavailable``.
        """
        return self.pool.connection(timeout=connection_wait(POOL_WAIT_SECONDS))

    def reader(self) -> _PoolReader:
        """An executor for reads: each statement on a pooled connection, in autocommit.

        Raises (from ``execute``): StoreUnavailable when the server cannot be reached (no
        connection within :meth:`connection`'s wait) or went away meanwhile."""
        return _PoolReader(self)

    @contextmanager
    def write(self) -> Iterator[_Transaction]:
        """One transaction (READ COMMITTED) on one pooled connection: committed when the block
        ends, rolled back if it raises (a transaction cut by a lost connection is rolled back
        by the server: nothing of it stays).

        Raises:
            StoreUnavailable: the server cannot be reached (no connection within
                :meth:`connection`'s wait), or went away meanwhile.
        """
        with (
            self.unavailable_as_storage_error(),
            self.connection() as conn,
            conn.transaction(),
        ):
            yield _Transaction(conn)

    def schema_steps(self, timeout: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(applied, pending)`` migration step names (``storage.pg_migrations``), read over
        a fresh connection (not a pooled one) that may take ``timeout`` seconds to connect
        and to answer (rounded up to whole seconds; connecting waits at least 2 s, libpq's
        minimum ``connect_timeout``: postgresql.org/docs/current/libpq-connect.html).

        Raises:
            StoreUnavailable: the server cannot be reached in time, refused the login, or
                cannot read ``_migrations``.
        """
        wait = max(1, math.ceil(timeout))
        try:
            with psycopg.connect(
                self._url,
                connect_timeout=wait,
                autocommit=True,
                options=f"-c statement_timeout={wait * 1000}",
            ) as conn:
                applied = applied_steps(_Transaction(conn))
        except psycopg.Error as error:
            raise StoreUnavailable(
                f"PostgreSQL at {self.location} is unreachable: {_reason(error)}"
            ) from None
        known = [name for name, _ in STEPS]
        return tuple(applied), tuple(name for name in known if name not in applied)

    def close(self) -> None:
        """Close the pool and its connections."""
        self.pool.close()


class ServerCursors(_Transaction):
    """An executor inside an open transaction whose queries stream rows through server-side
    cursors (1,000 rows fetched at a time: constant memory on a long audit trail)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        super().__init__(conn)
        self._cursors: list[psycopg.ServerCursor[Any]] = []

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        cursor = self.conn.cursor(name=f"audit_{len(self._cursors)}")
        cursor.itersize = 1000
        self._cursors.append(cursor)
        return cursor.execute(to_pyformat(sql) if parameters else sql, list(parameters) or None)

    def close_cursors(self) -> None:
        """Close the cursors opened so far (the transaction stays open)."""
        for cursor in self._cursors:
            cursor.close()
        self._cursors.clear()


class _ReadOnlySession(ServerCursors):
    """A read-only transaction whose queries stream rows through server-side cursors."""

    def close(self) -> None:
        """Close the cursors, end the transaction and close the connection."""
        self.close_cursors()
        self.conn.close()


@contextmanager
def single_transaction(url: str) -> Iterator[_Transaction]:
    """One transaction on a connection of its own (not pooled) to the database at ``url``,
    for ``migrate-db``: committed when the block ends, rolled back if it raises (and by the
    server if the connection is lost: nothing of it stays). The executor's ``conn`` is the
    ``psycopg`` connection (``COPY``, server-side cursors).

    Raises:
        StoreUnavailable: the URL is malformed (:func:`_checked`), the server cannot be reached
            or refused the login (the message has the URL with its password redacted), when
            connecting or meanwhile.
    """
    where = _checked(url)
    try:
        conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True)
    except psycopg.Error as error:
        raise StoreUnavailable(
            f"cannot use PostgreSQL at {where}: {_reason(error)}; {HELP}"
        ) from None
    try:
        with conn.transaction():
            yield _Transaction(conn)
    except psycopg.Error as error:
        if not _connection_lost(error):
            raise
        raise StoreUnavailable(f"PostgreSQL at {where} is unreachable: {_reason(error)}") from None
    finally:
        conn.close()


def open_readonly(url: str, error: type[Exception]) -> _ReadOnlySession:
    """A read-only session on the database at ``url`` for the ``audit`` commands.

    Raises:
        error: (the caller's class) the URL is malformed, the server cannot be reached, or
            the database has no audit chain (never migrated). The message has the URL with its
            password redacted.
    """
    where = _checked(url, error)
    try:
        conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.OperationalError as failure:
        raise error(f"cannot use PostgreSQL at {where}: {_reason(failure)}; {HELP}") from None
    conn.read_only = True
    try:
        conn.execute("SELECT head_id FROM audit_chain").fetchone()
    except psycopg.Error as failure:
        conn.close()
        raise error(
            f"{where} has no audit chain ({_reason(failure)}); start the app once to migrate it"
        ) from None
    return _ReadOnlySession(conn)


def _ask(url: str, sql: str) -> Any:
    """The first column of the first row of ``sql`` on a connection of its own (autocommit,
    no transaction left open), or None when there is no row.

    Raises:
        StoreUnavailable: the URL is malformed (:func:`_checked`), the server cannot be reached
            or refused the login (the message has the URL with its password redacted).
    """
    where = _checked(url)
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True) as conn:
            row = conn.execute(sql).fetchone()
    except psycopg.Error as error:
        raise StoreUnavailable(
            f"cannot use PostgreSQL at {where}: {_reason(error)}; {_help(error)}"
        ) from None
    return row[0] if row else None


def probe(url: str) -> str:
    """Connect to ``url`` and ask the server's version, changing nothing (``check-config
    --online``). Returns the ``server_version`` setting, e.g. ``15.8``.

    Raises:
        StoreUnavailable: see :func:`_ask`.
    """
    version = _ask(url, "SHOW server_version")
    return "?" if version is None else str(version)


def has_app_schema(url: str) -> bool:
    """Whether the database at ``url`` holds the app's schema (its ``_migrations`` table), read
    without changing anything: ``rotate-key`` must not create a schema in a database that was
    never the app's.

    Raises:
        StoreUnavailable: see :func:`_ask`.
    """
    return bool(_ask(url, "SELECT to_regclass('_migrations') IS NOT NULL"))
