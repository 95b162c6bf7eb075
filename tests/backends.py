"""Helpers of the storage tests that run on both backends: raw SQL that bypasses the Store."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg


def is_postgres(location: Path | str) -> bool:
    return isinstance(location, str) and location.startswith("postgresql://")


def raw_rows(location: Path | str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` placeholders) through a plain connection of its own."""
    if is_postgres(location):
        with psycopg.connect(str(location)) as conn:
            query = sql.replace("?", "%s")
            return [tuple(row) for row in conn.execute(query, params or None).fetchall()]
    with closing(sqlite3.connect(location)) as conn:
        return conn.execute(sql, params).fetchall()


def raw_write(location: Path | str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run one write statement (``?`` placeholders) and commit it, bypassing the Store."""
    if is_postgres(location):
        with psycopg.connect(str(location)) as conn:
            conn.execute(sql.replace("?", "%s"), params or None)
        return
    with closing(sqlite3.connect(location)) as conn:
        conn.execute(sql, params)
        conn.commit()


def column_names(location: Path | str, table: str) -> list[str]:
    """The columns of ``table`` in their order (the order of ``SELECT *``)."""
    if is_postgres(location):
        rows = raw_rows(
            location,
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
    else:
        rows = [(row[1],) for row in raw_rows(location, f"PRAGMA table_info({table})")]
    return [str(name) for (name,) in rows]
