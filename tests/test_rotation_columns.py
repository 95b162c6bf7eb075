"""``rotate-key`` must know every encrypted column, or it would call an old key removable
while a value still needs it (a refresh token left under the old key is lost with it)."""

from __future__ import annotations

from sqlite_utils import Database

from storage.migrations import migrations
from storage.rotation import ENCRYPTED_COLUMNS


def test_every_encrypted_column_of_the_schema_is_rotated() -> None:
    db = Database(memory=True)
    migrations.apply(db)
    in_schema = {
        (table, column.name)
        for table in db.table_names()
        for column in db[table].columns
        if column.name.endswith("_encrypted")
    }
    assert in_schema, "the schema has encrypted columns"
    assert {(table, column) for table, column, _ in ENCRYPTED_COLUMNS} == in_schema
