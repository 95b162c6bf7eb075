"""``delete-org-bot migrate-db``: a SQLite database copied into an empty PostgreSQL one, on a
real PostgreSQL server (``tests/pg.py``), through the real CLI."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlite_utils import Database

import storage.copy
from bot.cli import main
from bot.crypto import TokenCipher
from bot.migrate_cli import sqlite_path
from storage import ForeignTable, Store, StoreUnavailable
from storage.migrations import migrations
from tests.backends import raw_rows, raw_write

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TEAM = "T0TEST0001"
ALICE, BOB, CAROL = "U0ALICE0001", "U0BOB000001", "U0CAROL0001"
AUDIT_KEY = "audit-key-for-tests-only-0123456789abcdef"
PASSWORD = "pw-never-printed-7q2x"


def _request(store: Store, org: str, requester: str = ALICE, *, at: datetime = NOW) -> str:
    return store.create_request(
        workspace=TEAM,
        team_id=TEAM,
        requester_id=requester,
        channel_id="C0GENERAL01",
        org_id=org,
        org_name=f"Org {org}",
        org_type="Sandbox",
        region="us",
        response_url=f"https://hooks.slack.com/commands/{TEAM}/1/{org}",
        now=at,
        expires_at=at + timedelta(seconds=600),
    ).id


def _populate(path: Path, key: str) -> dict[str, str]:
    """Links (pasted and OAuth), requests in several states (live ones too), freeze on, the
    outbox, a sign-in in progress, an app process, envelopes and response_url budgets."""
    store = Store(path, TokenCipher([key]), audit_key=AUDIT_KEY.encode())
    try:
        store.save_link(
            workspace=TEAM,
            user_id=ALICE,
            token="fake-coveo-token-alice-0001",
            region="us",
            coveo_username="alice@example.com",
            coveo_email="alice@example.com",
            expires_at=None,
            now=NOW,
        )
        store.oauth.save_oauth_link(
            workspace=TEAM,
            user_id=BOB,
            token="fake-coveo-access-bob-0001",
            refresh_token="fake-coveo-refresh-bob-0001",
            region="eu",
            coveo_username="bob@example.com",
            coveo_email=None,
            expires_at=NOW + timedelta(hours=1),
            now=NOW,
        )
        store.oauth.create_state(
            workspace=TEAM,
            team_id=TEAM,
            user_id=CAROL,
            region="us",
            channel_id="C0GENERAL01",
            response_url="https://hooks.slack.com/commands/T0TEST0001/2/signin",
            now=NOW,
        )
        ids = {name: _request(store, f"org{name}") for name in ("pending", "deleting", "deleted")}
        ids |= {name: _request(store, f"org{name}") for name in ("cancelled", "awaiting")}
        later = NOW + timedelta(seconds=5)
        assert store.start_deletion(ids["deleting"], ALICE, later, owner="instance-a")
        assert store.start_deletion(ids["deleted"], ALICE, later)
        assert store.finish(
            ids["deleted"],
            outcome="deleted",
            now=later,
            actor_id=ALICE,
            http_status=204,
            coveo_request_id="coveo-req-1",
        )
        assert store.cancel(ids["cancelled"], ALICE, later)
        assert store.await_approval(
            ids["awaiting"], ALICE, later, reason="demo over", approval_deadline=later
        )
        store.enqueue(ids["deleted"], [("card", "Deleted", [{"type": "divider"}])], later)
        store.enqueue(ids["deleted"], [("thread", "Deleted org", None)], later)
        store.register_instance("instance-a", "host-a", 4242, later)
        store.stop_instance("instance-a", later)
        store.claim_envelope("env-1", kind="slash_commands", instance_id="instance-a", now=later)
        store.note_response_url("https://hooks.slack.com/commands/T0TEST0001/3/x", later)
        assert store.set_freeze(frozen=True, by_user=CAROL, reason="audit week", now=later)
    finally:
        store.close()
    return ids


def _environ(**extra: str) -> dict[str, str]:
    return {"DELETE_ORG_AUDIT_KEY": AUDIT_KEY, **extra}


def _with_password(url: str) -> str:
    """The same database with a password in the URL (the test cluster trusts any)."""
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")


def _tables(location: Path | str) -> set[str]:
    if isinstance(location, Path):
        with closing(sqlite3.connect(location)) as conn:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    rows = raw_rows(location, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r[0] for r in rows}


def _snapshot(location: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: sorted(raw_rows(location, f'SELECT * FROM "{table}"'), key=repr)  # noqa: S608
        for table in sorted(_tables(location))
        if table not in ("_migrations", "_sqlite_migrations")
    }


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def source(tmp_path: Path, key: str) -> Iterator[Path]:
    path = tmp_path / "bot.db"
    _populate(path, key)
    yield path


def _open(location: Path | str, key: str) -> Store:
    return Store(location, TokenCipher([key]), audit_key=AUDIT_KEY.encode())


def test_copies_everything_the_app_reads_and_the_chain_continues_on_postgresql(
    source: Path,
    pg_url: str,
    key: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(storage.copy, "BATCH_ROWS", 2)  # several batches per table
    before = _snapshot(source)
    url = _with_password(pg_url)
    assert main(["migrate-db", "--from", f"sqlite://{source}", "--to", url], _environ()) == 0
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    assert "postgresql://postgres:***@" in out
    # Every table of the schema is copied and named in the summary, counts equal.
    schema = Database(memory=True)
    migrations.apply(schema)
    copied = set(schema.table_names()) - {"_sqlite_migrations"}
    assert copied == set(before) == storage.copy.app_tables()
    assert copied >= {
        "links",
        "deletion_requests",
        "audit_events",
        "audit_chain",
        "freeze",
        "outbox",
        "instances",
        "oauth_states",
        "socket_envelopes",
        "response_url_uses",
    }
    for table, rows in before.items():
        assert f"\n{table} " in out
        line = next(x for x in out.splitlines() if x.startswith(f"{table} "))
        assert line.split()[1:] == [str(len(rows))] * 2
    assert "audit chain OK on PostgreSQL" in out
    # Values unchanged, byte for byte (secrets still encrypted, times ISO text).
    assert _snapshot(pg_url) == before
    # The app reads the same on PostgreSQL with the same key.
    old, new = _open(source, key), _open(pg_url, key)
    try:
        for user in (ALICE, BOB):
            assert new.get_link(TEAM, user) == old.get_link(TEAM, user)
        assert new.oauth.read_refresh_token(TEAM, BOB) == "fake-coveo-refresh-bob-0001"
        ids = [row[0] for row in raw_rows(source, "SELECT id FROM deletion_requests")]
        for request_id in ids:
            assert new.get_request(request_id) == old.get_request(request_id)
        assert new.live_request_for_org("orgpending", "us") is not None
        assert new.freeze_state() == old.freeze_state() is not None
        assert new.outbox_items() == old.outbox_items()
        assert new.audit_events() == old.audit_events()
        # New rows continue after the copied ones: the chain and the outbox ids.
        pending = new.live_request_for_org("orgpending", "us")
        assert pending is not None
        assert new.cancel(pending.id, ALICE, NOW + timedelta(seconds=9))
        last_copied = max(row[0] for row in before["audit_events"])
        assert new.audit_events()[-1].id == last_copied + 1
        outbox_max = max(row[0] for row in before["outbox"])
        assert new.enqueue(pending.id, [("card", "Cancelled", None)], NOW) == [outbox_max + 1]
    finally:
        old.close()
        new.close()
    assert main(["audit", "verify", "--db", pg_url], _environ()) == 0
    assert "audit chain OK" in capsys.readouterr().out


def test_a_target_holding_app_data_is_refused_and_left_unchanged(
    source: Path, pg_url: str, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _open(pg_url, key)
    store.record_event(NOW, "linked", workspace=TEAM, actor_id=CAROL)
    store.close()
    before = _snapshot(pg_url)
    url = _with_password(pg_url)
    assert main(["migrate-db", "--from", str(source), "--to", url], _environ()) == 2
    out, err = capsys.readouterr()
    assert "already holds app data (" in err and "audit_events: 1 row)" in err
    assert "nothing was changed" in err
    assert PASSWORD not in out + err
    assert _snapshot(pg_url) == before


def test_an_unknown_table_in_the_source_is_refused_and_nothing_is_created(
    source: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    raw_write(source, "CREATE TABLE notes (id integer PRIMARY KEY, body text)")
    assert main(["migrate-db", "--from", str(source), "--to", pg_url], _environ()) == 2
    assert "has table(s) notes that this version's schema does not know" in capsys.readouterr().err
    assert _tables(pg_url) == set()  # even the target's migration was rolled back


def test_a_source_migrated_by_a_newer_version_is_refused(
    source: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    raw_write(
        source,
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES ('delete_org_bot', 'm999_future', '2027-01-01')",
    )
    assert main(["migrate-db", "--from", str(source), "--to", pg_url], _environ()) == 2
    assert "migrated by a newer version" in capsys.readouterr().err
    assert _tables(pg_url) == set()


def test_a_source_with_pending_steps_is_migrated_first_then_copied(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="m008_i14a_response_url_uses")
    db.close()
    assert main(["migrate-db", "--from", str(path), "--to", pg_url], _environ()) == 0
    out = capsys.readouterr().out
    assert "migrated the SQLite file first" in out and "m008_i14a_response_url_uses" in out
    assert "response_url_uses" in _tables(path)


def test_a_count_mismatch_rolls_everything_back(
    source: Path, pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = storage.copy._source_batches

    def lose_a_request(conn: Any, table: str, *args: Any) -> Iterator[list[Any]]:
        for batch in batches(conn, table, *args):
            yield batch[:-1] if table == "deletion_requests" else batch

    monkeypatch.setattr(storage.copy, "_source_batches", lose_a_request)
    url = _with_password(pg_url)
    assert main(["migrate-db", "--from", str(source), "--to", url], _environ()) == 1
    out, err = capsys.readouterr()
    assert "row counts differ after the copy (deletion_requests: 5 in SQLite, 4 copied)" in err
    assert "everything was rolled back" in err
    assert PASSWORD not in out + err
    assert _tables(pg_url) == set()


def test_an_hmac_chain_without_its_key_does_not_verify_and_is_rolled_back(
    source: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate-db", "--from", str(source), "--to", pg_url], {}) == 1
    err = capsys.readouterr().err
    assert "the audit chain does not verify on PostgreSQL" in err
    assert "set DELETE_ORG_AUDIT_KEY" in err and "it is already so in the SQLite file" in err
    assert _tables(pg_url) == set()


def test_the_target_defaults_to_the_database_url_variable(
    source: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = _environ(DELETE_ORG_DATABASE_URL=_with_password(pg_url), DELETE_ORG_DB=str(source))
    assert main(["migrate-db", "--from", str(source)], env) == 0
    out, err = capsys.readouterr()
    assert "audit chain OK" in out and PASSWORD not in out + err
    assert main(["migrate-db", "--from", str(source)], env) == 2  # now it is not empty
    assert "already holds app data" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "missing.db", "--to", "postgresql://u@127.0.0.1:1/x"], "no SQLite file at"),
        (["--from", "sqlite://rel.db", "--to", "postgresql://u@127.0.0.1:1/x"], "absolute path"),
        (["--from", "postgresql://u@h/x", "--to", "postgresql://u@h/x"], "goes in --to"),
        (["--from", "x.db", "--to", "/tmp/other.db"], "--to must be a postgresql:// URL"),
        (["--from", "x.db"], "--to must be a postgresql:// URL (got nothing)"),
    ],
)
def test_bad_arguments_exit_2_and_touch_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["migrate-db", *args], {}) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_the_apps_database_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.db"
    raw_write(other, "CREATE TABLE t (x)")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database, just text that is long enough to be read" * 20)
    for path, message in ((other, "not a delete-org-bot database"), (notes, "not a readable")):
        before = path.read_bytes()
        assert main(["migrate-db", "--from", str(path), "--to", "postgresql://u@h/x"], {}) == 2
        assert message in capsys.readouterr().err
        assert path.read_bytes() == before


def test_sqlite_urls_and_plain_paths_name_the_same_file() -> None:
    assert sqlite_path("sqlite:///data/bot.db") == Path("/data/bot.db")
    assert sqlite_path("sqlite:////data/bot.db") == Path("/data/bot.db")
    assert sqlite_path("/data/bot.db") == Path("/data/bot.db")
    assert sqlite_path("bot.db") == Path("bot.db")


def test_warns_of_a_running_sqlite_app_and_names_the_generated_key_file(
    source: Path, pg_url: str, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _open(source, key)
    store.register_instance("instance-b", "host-b", 4343, NOW + timedelta(seconds=30))
    store.close()
    (source.parent / "bot.db.key").write_text(key + "\n")
    assert main(["migrate-db", "--from", str(source), "--to", pg_url], _environ()) == 0
    out, err = capsys.readouterr()
    assert "warning: 1 app process of the SQLite file had a recent heartbeat" in err
    assert f"generated key file {source.parent / 'bot.db.key'}" in out
    assert key not in out + err


def test_an_unreachable_server_exits_1_without_the_password(
    source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://bot:{PASSWORD}@127.0.0.1:1/delorg"
    assert main(["migrate-db", "--from", str(source), "--to", url], _environ()) == 1
    out, err = capsys.readouterr()
    assert "cannot use PostgreSQL at postgresql://bot:***@127.0.0.1:1/delorg" in err
    assert PASSWORD not in out + err


def test_a_value_postgresql_refuses_names_the_table_and_rolls_back(
    source: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    raw_write(source, "UPDATE instances SET pid = 'not-a-number'")  # SQLite's loose typing
    assert main(["migrate-db", "--from", str(source), "--to", pg_url], _environ()) == 1
    err = capsys.readouterr().err
    assert "PostgreSQL refused a row of instances (" in err and "rolled back" in err
    assert _tables(pg_url) == set()


def test_other_tables_of_the_target_database_are_left_alone(
    source: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    raw_write(pg_url, "CREATE TABLE reports (id integer PRIMARY KEY, title text)")
    raw_write(pg_url, "INSERT INTO reports VALUES (1, 'quarterly')")
    assert main(["migrate-db", "--from", str(source), "--to", pg_url], _environ()) == 0
    assert "reports" not in capsys.readouterr().out
    assert raw_rows(pg_url, "SELECT * FROM reports") == [(1, "quarterly")]


def test_ctrl_c_mid_copy_rolls_back_says_so_and_a_rerun_copies(
    source: Path, pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = storage.copy._source_batches
    copied: list[str] = []

    def interrupted_after_one_table(conn: Any, table: str, *args: Any) -> Iterator[list[Any]]:
        if copied:
            raise KeyboardInterrupt  # SIGINT while the copy runs
        copied.append(table)
        yield from batches(conn, table, *args)

    monkeypatch.setattr(storage.copy, "_source_batches", interrupted_after_one_table)
    url = _with_password(pg_url)
    assert main(["migrate-db", "--from", str(source), "--to", url], _environ()) == 130
    out, err = capsys.readouterr()
    assert "interrupted (Ctrl-C) before the copy was committed" in err
    assert "run migrate-db again" in err and "Traceback" not in err
    assert PASSWORD not in out + err
    assert _tables(pg_url) == set()  # the schema too: nothing half-changed
    monkeypatch.setattr(storage.copy, "_source_batches", batches)
    assert main(["migrate-db", "--from", str(source), "--to", url], _environ()) == 0
    assert "counts equal" in capsys.readouterr().out


def test_another_applications_database_is_refused_by_the_app_and_by_migrate_db(
    source: Path, pg_url: str, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its own ``links`` table: the app's schema cannot be made there, and nothing is."""
    raw_write(pg_url, "CREATE TABLE links (id integer PRIMARY KEY, href text)")
    raw_write(pg_url, "INSERT INTO links VALUES (1, 'https://example.com/')")
    expected = 'already has relation "links", not made by delete-org-bot'
    with pytest.raises(ForeignTable, match=expected):
        _open(_with_password(pg_url), key)
    assert main(["migrate-db", "--from", str(source), "--to", _with_password(pg_url)], {}) == 2
    out, err = capsys.readouterr()
    assert expected in err and "give delete-org-bot a database of its own" in err
    assert PASSWORD not in out + err
    assert _tables(pg_url) == {"links"}
    assert raw_rows(pg_url, "SELECT * FROM links") == [(1, "https://example.com/")]


def test_a_user_without_create_rights_is_told_what_right_it_needs(
    source: Path, pg_url: str, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """PostgreSQL 15: the public schema lets only the database's owner create tables."""
    role = f"norights{uuid.uuid4().hex[:8]}"
    raw_write(pg_url, f"CREATE ROLE {role} LOGIN")
    url = _with_password(pg_url).replace("postgresql://postgres:", f"postgresql://{role}:")
    expected = "the user needs the right to create tables in the database's schema"
    with pytest.raises(StoreUnavailable, match=expected):
        _open(url, key)
    assert main(["migrate-db", "--from", str(source), "--to", url], _environ()) == 1
    out, err = capsys.readouterr()
    assert expected in err and "everything was rolled back" in err
    assert PASSWORD not in out + err
    assert _tables(pg_url) == set()
