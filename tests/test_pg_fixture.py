"""The throwaway PostgreSQL fixture: one cluster, a fresh isolated database per test."""

from __future__ import annotations

import psycopg


def test_fresh_database_is_empty_and_writable(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE marker (id integer PRIMARY KEY)")
        conn.execute("INSERT INTO marker VALUES (1)")


def test_each_test_gets_its_own_database(pg_url: str) -> None:
    # Same table name as the previous test: would fail if databases were shared.
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE marker (id integer PRIMARY KEY)")
        assert conn.execute("SELECT current_setting('fsync')").fetchone() == ("off",)
