"""Schema migrations: idempotent, the expected objects exist, the store's lookups use them, and
the PostgreSQL schema is the twin of the SQLite one."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from bot.crypto import TokenCipher
from storage import SchemaTooNew, Store, pg_migrations
from storage.migrations import migrations
from tests.backends import is_postgres, raw_rows, raw_write

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
WS = "T0WORKSPACE1"
ALICE = "U0ALICE0001"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "migrations.db")
    yield database
    database.close()


def snapshot(db: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every schema object and every migration record, in a stable order."""
    schema = db.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    ).fetchall()
    applied = db.execute("SELECT * FROM _sqlite_migrations ORDER BY id").fetchall()
    return schema, applied


def test_applying_twice_changes_nothing(db: Database) -> None:
    migrations.apply(db)
    first = snapshot(db)
    changes = db.conn.total_changes
    schema_version = db.execute("PRAGMA schema_version").fetchone()

    migrations.apply(db)

    assert snapshot(db) == first
    assert db.conn.total_changes == changes  # not a single row written
    assert db.execute("PRAGMA schema_version").fetchone() == schema_version
    assert migrations.pending(db) == []


def test_opening_a_store_on_a_migrated_file_changes_nothing(
    tmp_path: Path, cipher: TokenCipher
) -> None:
    path = tmp_path / "store.db"
    Store(path, cipher).close()
    with closing(Database(path)) as first_db:
        before = snapshot(first_db)

    Store(path, cipher).close()

    with closing(Database(path)) as second_db:
        assert snapshot(second_db) == before


def test_migration_is_recorded_once(db: Database) -> None:
    migrations.apply(db)
    migrations.apply(db)
    rows = db.execute("SELECT migration_set, name, applied_at FROM _sqlite_migrations").fetchall()
    assert [(set_name, name) for set_name, name, _ in rows] == [
        ("delete_org_bot", "m001_initial"),
        ("delete_org_bot", "m002_outbox_and_instances"),
        ("delete_org_bot", "m003_guardrails"),
        ("delete_org_bot", "m004_attempts_index"),
        ("delete_org_bot", "m005_issue10_oauth"),
        ("delete_org_bot", "m006_issue12_audit_chain"),
        ("delete_org_bot", "m007_i14b_socket_envelopes"),
        ("delete_org_bot", "m008_i14a_response_url_uses"),
    ]
    assert rows[0][2].endswith("+00:00")


def test_expected_tables_exist(db: Database) -> None:
    migrations.apply(db)
    assert set(db.table_names()) == {
        "links",
        "deletion_requests",
        "audit_events",
        "outbox",
        "instances",
        "freeze",
        "oauth_states",
        "audit_chain",
        "socket_envelopes",
        "response_url_uses",
        "_sqlite_migrations",
    }
    assert db.table("links").pks == ["workspace", "user_id"]
    assert db.table("deletion_requests").pks == ["id"]
    assert db.table("audit_events").pks == ["id"]
    assert "token_encrypted" in db.table("links").columns_dict
    assert "token" not in db.table("links").columns_dict
    assert "response_url_encrypted" in db.table("deletion_requests").columns_dict
    assert "response_url" not in db.table("deletion_requests").columns_dict


@pytest.mark.parametrize(
    ("table", "index", "columns", "unique", "partial_where"),
    [
        (
            "deletion_requests",
            "idx_requests_one_live_per_org",
            ["org_id", "region"],
            1,
            "WHERE state IN ('pending', 'awaiting_approval', 'deleting')",
        ),
        (
            "deletion_requests",
            "idx_requests_pending_deadline",
            ["expires_at"],
            0,
            "WHERE state = 'pending'",
        ),
        ("audit_events", "idx_audit_events_request_id", ["request_id"], 0, None),
        ("audit_events", "idx_audit_events_event", ["event"], 0, None),
        ("socket_envelopes", "idx_socket_envelopes_received_at", ["received_at"], 0, None),
    ],
)
def test_expected_indexes_exist(
    db: Database,
    table: str,
    index: str,
    columns: list[str],
    unique: int,
    partial_where: str | None,
) -> None:
    migrations.apply(db)
    listed = {row[1]: row for row in db.execute(f"PRAGMA index_list({table})").fetchall()}
    assert index in listed
    _, _, is_unique, _, is_partial = listed[index]
    assert is_unique == unique
    assert is_partial == (1 if partial_where else 0)
    assert [row[2] for row in db.execute(f"PRAGMA index_info({index})").fetchall()] == columns
    [(sql,)] = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", [index]).fetchall()
    if partial_where:
        assert sql.endswith(partial_where)


@pytest.mark.parametrize(
    ("trigger", "action"),
    [("audit_events_no_update", "UPDATE"), ("audit_events_no_delete", "DELETE")],
)
def test_append_only_triggers_exist(db: Database, trigger: str, action: str) -> None:
    migrations.apply(db)
    [(table, sql)] = db.execute(
        "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", [trigger]
    ).fetchall()
    assert table == "audit_events"
    assert f"BEFORE {action} ON audit_events" in sql
    assert "RAISE(ABORT" in sql


# -- query plans of the store's own lookups --------------------------------------------------
def _live_lookup(store: Store) -> Any:
    return store.live_request_for_org("acmeprod1", "us")


def _deadline_lookup(store: Store) -> Any:
    return store.due_for_expiry(T0 + timedelta(hours=1), limit=10)


def _link_lookup(store: Store) -> Any:
    return store.get_link(WS, ALICE)


@pytest.mark.parametrize(
    ("lookup", "table", "index"),
    [
        (_live_lookup, "deletion_requests", "idx_requests_one_live_per_org"),
        (_deadline_lookup, "deletion_requests", "idx_requests_pending_deadline"),
        (_link_lookup, "links", "sqlite_autoindex_links_1"),  # the (workspace, user_id) key
    ],
    ids=["live-by-org-and-region", "pending-by-deadline", "link-by-workspace-and-user"],
)
def test_store_lookups_use_an_index(
    store: Store, lookup: Callable[[Store], Any], table: str, index: str
) -> None:
    # Record the SQL the store really sends (bound values inlined) rather than a copy of it, so
    # the test follows the store's queries. This reaches into the calling thread's connection.
    statements: list[str] = []
    conn = store._db().conn
    conn.set_trace_callback(statements.append)
    try:
        lookup(store)
    finally:
        conn.set_trace_callback(None)
    queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert queries, statements

    plans = []
    with closing(sqlite3.connect(store.path)) as raw:
        for query in queries:
            plan = [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + query).fetchall()]
            plans.append(plan)
            assert any(f"SEARCH {table} USING" in detail for detail in plan), plan
            assert not any(detail.startswith(f"SCAN {table}") for detail in plan), plan
            assert not any("TEMP B-TREE" in detail for detail in plan), plan  # ORDER BY from index
    assert any(
        f"SEARCH {table} USING {kind} {index}" in detail
        for plan in plans
        for detail in plan
        for kind in ("INDEX", "COVERING INDEX")
    ), plans


# -- PostgreSQL: the same schema, step for step ---------------------------------------------
SQLITE_STEPS = [step.name for step in migrations._migrations]


def test_postgresql_has_a_twin_of_every_sqlite_step() -> None:
    assert [name for name, _ in pg_migrations.STEPS] == SQLITE_STEPS


def _pg_columns(url: str) -> dict[str, list[str]]:
    rows = raw_rows(
        url,
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    )
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


def test_postgresql_tables_columns_and_indexes_match_sqlite(
    tmp_path: Path, pg_url: str, cipher: TokenCipher
) -> None:
    Store(tmp_path / "twin.db", cipher).close()
    Store(pg_url, cipher).close()
    with closing(Database(tmp_path / "twin.db")) as lite:
        sqlite_columns = {
            name: [column.name for column in lite.table(name).columns]
            for name in lite.table_names()
            if name != "_sqlite_migrations"
        }
        sqlite_indexes = {
            name
            for (name,) in lite.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
            if not name.startswith("idx__sqlite_migrations")
        }
    pg_columns = _pg_columns(pg_url)
    assert pg_columns.pop("_migrations") == ["id", "migration_set", "name", "applied_at"]
    assert pg_columns == sqlite_columns  # same tables, same columns, same order
    pg_indexes = {
        name
        for (name,) in raw_rows(
            pg_url,
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
            " AND indexname NOT LIKE '%pkey' AND indexname NOT LIKE '%_key'",
        )
    }
    assert pg_indexes == sqlite_indexes
    [(partial,)] = raw_rows(
        pg_url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_requests_one_live_per_org'"
    )
    assert partial.startswith("CREATE UNIQUE INDEX") and "awaiting_approval" in partial


def test_postgresql_migrations_run_once_and_a_second_open_changes_nothing(
    pg_url: str, cipher: TokenCipher
) -> None:
    Store(pg_url, cipher).close()
    before = raw_rows(pg_url, "SELECT name, applied_at FROM _migrations ORDER BY id")
    Store(pg_url, cipher).close()
    assert raw_rows(pg_url, "SELECT name, applied_at FROM _migrations ORDER BY id") == before
    assert [name for name, _ in before] == SQLITE_STEPS
    assert all(applied.endswith("+00:00") for _, applied in before)


def test_five_replicas_starting_at_once_on_postgresql_migrate_once(
    pg_url: str, cipher: TokenCipher
) -> None:
    barrier = threading.Barrier(5)
    opened: list[Store] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait(timeout=10)
        try:
            opened.append(Store(pg_url, cipher))
        except BaseException as error:  # asserted on below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for store in opened:
        store.close()
    assert [repr(error) for error in errors] == [] and len(opened) == 5
    assert [name for (name,) in raw_rows(pg_url, "SELECT name FROM _migrations ORDER BY id")] == (
        SQLITE_STEPS
    )
    assert raw_rows(pg_url, "SELECT COUNT(*) FROM audit_chain") == [(1,)]


def _record_future_step(location: Path | str) -> None:
    table = "_migrations" if is_postgres(location) else "_sqlite_migrations"
    raw_write(
        location,
        f"INSERT INTO {table} (migration_set, name, applied_at) VALUES (?, ?, ?)",
        ("delete_org_bot", "m999_from_a_newer_version", "2030-01-01T00:00:00+00:00"),
    )


def test_a_database_migrated_by_a_newer_version_is_refused(
    both_backends: Path | str, cipher: TokenCipher
) -> None:
    store = Store(both_backends, cipher)
    store.record_event(T0, "viewed")
    store.close()
    _record_future_step(both_backends)

    with pytest.raises(SchemaTooNew, match="migrated by a newer version of delete-org-bot") as info:
        Store(both_backends, cipher)
    assert info.value.unknown == ["m999_from_a_newer_version"]
    assert raw_rows(both_backends, "SELECT COUNT(*) FROM audit_events") == [(1,)]
