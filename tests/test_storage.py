"""Store behaviour on real databases (each test on a SQLite file and on PostgreSQL): links,
deletion requests, audit log, times, concurrency."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing, suppress
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet
from freezegun import freeze_time

from bot.clock import from_iso, to_iso, utcnow
from bot.crypto import TokenCipher
from storage import (
    CANCELLED,
    DELETED,
    DELETING,
    EXPIRED,
    FAILED,
    PENDING,
    UNKNOWN,
    DeletionRequest,
    LinkUnreadable,
    LiveRequestExists,
    Store,
)
from storage.migrations import migrations
from tests.backends import is_postgres, raw_rows, raw_write

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)
WS = "T0WORKSPACE1"
OTHER_WS = "T0WORKSPACE2"
ALICE = "U0ALICE0001"
BOB = "U0BOB000001"
CHANNEL = "C0GENERAL01"
TOKEN = "xx-plaintext-coveo-token-5b9e1d7c"
RESPONSE_URL = "https://hooks.slack.com/commands/T0WORKSPACE1/1234/s3cr3t-first-response-path"
FRESH_RESPONSE_URL = "https://hooks.slack.com/actions/T0WORKSPACE1/5678/s3cr3t-fresh-response-path"


@pytest.fixture
def store_target(both_backends: Path | str) -> Path | str:
    return both_backends


# -- helpers ---------------------------------------------------------------------------------
def sqlite_only(store: Store) -> Path:
    """The store's SQLite file; skips the test on PostgreSQL (it is about SQLite's files)."""
    if store.path is None:
        pytest.skip("about SQLite's files")
    return store.path


def save_link(store: Store, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "workspace": WS,
        "user_id": ALICE,
        "token": TOKEN,
        "region": "us",
        "coveo_username": "alice@example.com",
        "coveo_email": "alice@example.com",
        "expires_at": T0 + timedelta(hours=1),
        "now": T0,
    }
    fields.update(overrides)
    return store.save_link(**fields)


def new_request(
    store: Store,
    *,
    org_id: str = "acmeprod1",
    region: str = "us",
    requester: str = ALICE,
    now: datetime = T0,
    ttl: timedelta = TTL,
    response_url: str | None = RESPONSE_URL,
    workspace: str = WS,
) -> DeletionRequest:
    return store.create_request(
        workspace=workspace,
        team_id=workspace,
        requester_id=requester,
        channel_id=CHANNEL,
        org_id=org_id,
        org_name=f"{org_id} name",
        org_type="Production",
        region=region,
        response_url=response_url,
        now=now,
        expires_at=now + ttl,
    )


def audit_trail(store: Store, request_id: str | None = None) -> list[tuple[Any, ...]]:
    return [(e.event, e.from_state, e.to_state, e.actor_id) for e in store.audit_events(request_id)]


def bring_to(store: Store, state: str) -> DeletionRequest:
    """A request of ALICE created at T0 (deadline T0+5min), moved into ``state``."""
    request = new_request(store)
    moved: DeletionRequest | None = request
    if state in (DELETING, DELETED):
        moved = store.start_deletion(request.id, ALICE, T0 + timedelta(minutes=1))
    if state == DELETED:
        moved = store.finish(
            request.id,
            outcome=DELETED,
            now=T0 + timedelta(minutes=2),
            actor_id=ALICE,
            http_status=204,
            coveo_request_id="coveo-req-1",
        )
    if state == CANCELLED:
        moved = store.cancel(request.id, ALICE, T0 + timedelta(minutes=1))
    if state == EXPIRED:
        moved = store.expire(request.id, T0 + TTL)
    assert moved is not None and moved.state == state
    return moved


def run_together(workers: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    """Start every worker in its own thread behind a barrier; return results and errors."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(worker: Callable[[], Any]) -> None:
        barrier.wait(timeout=10)
        try:
            outcome = worker()
        except BaseException as error:  # collected and asserted on by the test
            with lock:
                errors.append(error)
        else:
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=run, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return results, errors


# -- links -----------------------------------------------------------------------------------
def test_save_then_get_link_returns_the_decrypted_token(store: Store) -> None:
    saved = save_link(store)
    got = store.get_link(WS, ALICE)

    assert got == saved
    assert got is not None
    assert got.token == TOKEN
    assert (got.region, got.coveo_username, got.coveo_email) == (
        "us",
        "alice@example.com",
        "alice@example.com",
    )
    assert got.linked_at == T0
    assert got.expires_at == T0 + timedelta(hours=1)
    assert got.status == "active" and got.usable
    assert TOKEN not in repr(got) and TOKEN not in str(got)
    assert audit_trail(store) == [("linked", None, None, ALICE)]


def test_get_link_of_a_user_who_never_linked_is_none(store: Store) -> None:
    assert store.get_link(WS, ALICE) is None


def test_link_without_expiry_reads_back_none(store: Store) -> None:
    save_link(store, expires_at=None, coveo_email=None)
    link = store.get_link(WS, ALICE)
    assert link is not None
    assert link.expires_at is None and link.coveo_email is None


def test_relink_replaces_the_row_and_reactivates_it(store: Store) -> None:
    save_link(store)
    store.mark_link_invalid(WS, ALICE, T0 + timedelta(minutes=1), "HTTP 401")
    save_link(store, token="xx-second-token", region="eu", now=T0 + timedelta(minutes=2))

    link = store.get_link(WS, ALICE)
    assert link is not None
    assert (link.token, link.region, link.status) == ("xx-second-token", "eu", "active")
    assert link.linked_at == T0 + timedelta(minutes=2)
    assert raw_rows(store.location, "SELECT COUNT(*), MAX(invalid_since) FROM links") == [(1, None)]


def test_delete_link_reports_whether_there_was_one(store: Store) -> None:
    save_link(store)

    assert store.delete_link(WS, ALICE, T0) is True
    assert store.get_link(WS, ALICE) is None
    assert store.delete_link(WS, ALICE, T0) is False
    assert [e.event for e in store.audit_events()] == ["linked", "unlinked"]


def test_mark_link_invalid_flags_it_once(store: Store) -> None:
    save_link(store)
    first = T0 + timedelta(minutes=1)

    store.mark_link_invalid(WS, ALICE, first, "HTTP 401")
    store.mark_link_invalid(WS, ALICE, first + timedelta(minutes=1), "HTTP 401 again")

    link = store.get_link(WS, ALICE)
    assert link is not None
    assert link.status == "invalid" and not link.usable
    assert link.token == TOKEN
    invalidated = [e for e in store.audit_events() if e.event == "link_invalidated"]
    assert [(e.actor_id, e.workspace, e.detail, e.at) for e in invalidated] == [
        (ALICE, WS, "HTTP 401", first)
    ]
    assert raw_rows(store.location, "SELECT invalid_since FROM links") == [(to_iso(first),)]


def test_mark_link_invalid_without_a_link_writes_nothing(store: Store) -> None:
    store.mark_link_invalid(WS, ALICE, T0, "HTTP 401")
    assert store.audit_events() == []
    assert store.get_link(WS, ALICE) is None


def test_links_are_keyed_by_workspace_and_user(store: Store) -> None:
    save_link(store, workspace=WS, token="xx-token-in-first")
    save_link(store, workspace=OTHER_WS, token="xx-token-in-second", region="eu")

    first, second = store.get_link(WS, ALICE), store.get_link(OTHER_WS, ALICE)
    assert first is not None and second is not None
    assert (first.token, first.region) == ("xx-token-in-first", "us")
    assert (second.token, second.region) == ("xx-token-in-second", "eu")

    assert store.delete_link(OTHER_WS, ALICE, T0) is True
    assert store.get_link(WS, ALICE) == first
    assert store.get_link(WS, BOB) is None


def test_database_files_never_hold_plaintext_secrets(store: Store) -> None:
    save_link(store)
    request = new_request(store)
    store.note_click(request.id, response_url=FRESH_RESPONSE_URL, card_ts=None)
    store.mark_link_invalid(WS, ALICE, T0, "HTTP 401")
    secrets = [
        TOKEN.encode(),
        RESPONSE_URL.encode(),
        FRESH_RESPONSE_URL.encode(),
        b"s3cr3t-first-response-path",
        b"s3cr3t-fresh-response-path",
    ]
    path = sqlite_only(store)
    wal = path.with_name(path.name + "-wal")
    shm = path.with_name(path.name + "-shm")
    assert wal.exists() and wal.stat().st_size > 0  # the writes above sit in the WAL

    def assert_clean() -> None:
        for file in (path, wal, shm):
            if file.exists():
                data = file.read_bytes()
                for secret in secrets:
                    assert secret not in data, f"{secret!r} found in {file.name}"

    assert_clean()
    store.close()  # checkpoints the WAL into the main file
    assert_clean()


def test_token_stored_with_another_key_is_unreadable(store: Store) -> None:
    save_link(store)
    store.close()
    other_key = Fernet.generate_key().decode()

    reopened = Store(store.location, TokenCipher([other_key]))
    try:
        with pytest.raises(LinkUnreadable) as raised:
            reopened.get_link(WS, ALICE)
        assert TOKEN not in str(raised.value)
        assert reopened.delete_link(WS, ALICE, T0) is True  # relinking stays possible
    finally:
        reopened.close()


def test_rotated_keys_still_read_old_tokens(store_target: Path | str) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = Store(store_target, TokenCipher([old_key]))
    try:
        save_link(before)
    finally:
        before.close()

    after = Store(store_target, TokenCipher([new_key, old_key]))
    try:
        link = after.get_link(WS, ALICE)
        assert link is not None and link.token == TOKEN
    finally:
        after.close()


# -- deletion requests -----------------------------------------------------------------------
def test_create_request_is_pending_and_audited(store: Store) -> None:
    request = new_request(store)

    assert request.state == PENDING
    assert (request.workspace, request.requester_id, request.org_id, request.region) == (
        WS,
        ALICE,
        "acmeprod1",
        "us",
    )
    assert (request.created_at, request.updated_at, request.expires_at) == (T0, T0, T0 + TTL)
    assert request.response_url == RESPONSE_URL
    assert RESPONSE_URL not in repr(request)
    assert request.decided_by is None and request.attempted_at is None
    assert store.get_request(request.id) == request
    assert store.live_request_for_org("acmeprod1", "us") == request
    [event] = store.audit_events(request.id)
    assert (event.event, event.from_state, event.to_state, event.actor_id) == (
        "requested",
        None,
        PENDING,
        ALICE,
    )
    assert (event.workspace, event.org_id, event.region, event.at) == (WS, "acmeprod1", "us", T0)


def test_unknown_request_is_none(store: Store) -> None:
    assert store.get_request("no-such-request") is None
    assert store.live_request_for_org("acmeprod1", "us") is None


@pytest.mark.parametrize("first_state", [PENDING, DELETING])
def test_second_live_request_for_the_same_org_is_refused(store: Store, first_state: str) -> None:
    first = bring_to(store, first_state)
    audit_before = store.audit_events()

    with pytest.raises(LiveRequestExists) as raised:
        new_request(store, requester=BOB, now=T0 + timedelta(minutes=1))

    assert raised.value.existing == store.get_request(first.id)
    assert raised.value.existing.state == first_state
    assert store.audit_events() == audit_before
    assert raw_rows(store.location, "SELECT COUNT(*) FROM deletion_requests") == [(1,)]


def test_same_org_in_another_region_is_a_separate_request(store: Store) -> None:
    us = new_request(store, region="us")
    eu = new_request(store, region="eu", requester=BOB)

    assert us.id != eu.id and eu.state == PENDING
    assert store.live_request_for_org("acmeprod1", "eu") == eu
    assert store.live_request_for_org("acmeprod1", "us") == us


@pytest.mark.parametrize("final_state", [DELETED, CANCELLED, EXPIRED])
def test_new_request_allowed_once_the_first_is_final(store: Store, final_state: str) -> None:
    first = bring_to(store, final_state)

    second = new_request(store, requester=BOB, now=T0 + timedelta(minutes=10))

    assert second.id != first.id and second.state == PENDING
    assert store.get_request(first.id) == first
    assert store.live_request_for_org("acmeprod1", "us") == second


def test_new_request_allowed_after_abandon(store: Store) -> None:
    first = new_request(store)
    assert store.abandon(first.id, T0, "card could not be posted") is not None
    assert new_request(store, now=T0 + timedelta(seconds=1)).state == PENDING


def test_create_request_expires_a_stale_pending_request_first(store: Store) -> None:
    stale = new_request(store)
    now = stale.expires_at  # exactly at the deadline: the stale one can no longer be confirmed

    fresh = new_request(store, requester=BOB, now=now)

    old = store.get_request(stale.id)
    assert old is not None and old.state == EXPIRED and old.updated_at == now
    assert fresh.state == PENDING
    assert audit_trail(store, stale.id) == [
        ("requested", None, PENDING, ALICE),
        ("expired", PENDING, EXPIRED, "system"),
    ]
    assert audit_trail(store, fresh.id) == [("requested", None, PENDING, BOB)]


def test_stale_expiry_audit_row_names_the_workspace(store: Store) -> None:
    """The ``expired`` row written inside create_request should carry the request's workspace,
    like the one written by ``expire`` does, so a per-workspace audit view finds it."""
    stale = new_request(store)
    new_request(store, requester=BOB, now=stale.expires_at)

    expired = [e for e in store.audit_events(stale.id) if e.event == "expired"]
    assert [(e.workspace, e.org_id, e.region) for e in expired] == [(WS, "acmeprod1", "us")]


def test_pending_request_before_its_deadline_is_not_expired_by_create(store: Store) -> None:
    first = new_request(store)
    with pytest.raises(LiveRequestExists):
        new_request(store, now=first.expires_at - timedelta(microseconds=1))
    assert store.get_request(first.id) == first


def test_deleting_request_past_its_deadline_still_blocks(store: Store) -> None:
    first = bring_to(store, DELETING)
    with pytest.raises(LiveRequestExists) as raised:
        new_request(store, now=T0 + timedelta(hours=1))
    assert raised.value.existing.id == first.id
    assert store.get_request(first.id) == first


# -- transitions -----------------------------------------------------------------------------
def test_start_deletion_records_the_decision(store: Store) -> None:
    with freeze_time("2025-03-01 12:00:00"):
        created_at = utcnow()
        request = new_request(store, now=created_at)
    with freeze_time("2025-03-01 12:01:00"):
        decided_at = utcnow()
        started = store.start_deletion(request.id, ALICE, decided_at)

    assert started is not None
    assert started.state == DELETING
    assert (started.decided_by, started.decided_at, started.attempted_at) == (
        ALICE,
        decided_at,
        decided_at,
    )
    assert started.updated_at == decided_at
    [event] = [e for e in store.audit_events(request.id) if e.event == "confirmed"]
    assert (event.from_state, event.to_state, event.actor_id, event.at) == (
        PENDING,
        DELETING,
        ALICE,
        decided_at,
    )
    assert (event.workspace, event.org_id, event.region) == (WS, "acmeprod1", "us")


@pytest.mark.parametrize(
    ("offset", "allowed"),
    [
        (timedelta(microseconds=-1), True),
        (timedelta(0), False),
        (timedelta(microseconds=1), False),
        (timedelta(hours=1), False),
    ],
    ids=["1us-before", "exactly-at", "1us-after", "1h-after"],
)
def test_start_deletion_deadline_boundary(store: Store, offset: timedelta, allowed: bool) -> None:
    with freeze_time("2025-03-01 12:00:00"):
        request = new_request(store, now=utcnow())
    with freeze_time(request.expires_at + offset):
        result = store.start_deletion(request.id, ALICE, utcnow())

    assert (result is not None) is allowed
    state = store.get_request(request.id)
    assert state is not None and state.state == (DELETING if allowed else PENDING)


def test_start_deletion_only_by_the_requester(store: Store) -> None:
    request = new_request(store)
    assert store.start_deletion(request.id, BOB, T0 + timedelta(minutes=1)) is None
    assert store.get_request(request.id) == request


def test_second_start_deletion_returns_none(store: Store) -> None:
    request = new_request(store)
    assert store.start_deletion(request.id, ALICE, T0 + timedelta(minutes=1)) is not None
    assert store.start_deletion(request.id, ALICE, T0 + timedelta(minutes=2)) is None
    assert [e.event for e in store.audit_events(request.id)] == ["requested", "confirmed"]


@pytest.mark.parametrize("winner", ["cancel", "start"])
def test_cancel_and_start_exclude_each_other(store: Store, winner: str) -> None:
    request = new_request(store)
    now = T0 + timedelta(minutes=1)

    def cancel() -> DeletionRequest | None:
        return store.cancel(request.id, ALICE, now)

    def start() -> DeletionRequest | None:
        return store.start_deletion(request.id, ALICE, now)

    first, second = (cancel, start) if winner == "cancel" else (start, cancel)
    won = first()
    assert won is not None
    assert won.state == (CANCELLED if winner == "cancel" else DELETING)
    assert second() is None
    assert store.get_request(request.id) == won


def test_cancel_by_the_requester(store: Store) -> None:
    request = new_request(store)
    now = T0 + timedelta(minutes=1)

    cancelled = store.cancel(request.id, ALICE, now)

    assert cancelled is not None
    assert (cancelled.state, cancelled.decided_by, cancelled.decided_at) == (
        CANCELLED,
        ALICE,
        now,
    )
    assert cancelled.attempted_at is None
    assert audit_trail(store, request.id)[-1] == ("cancelled", PENDING, CANCELLED, ALICE)


def test_cancel_by_someone_else_is_refused(store: Store) -> None:
    request = new_request(store)
    assert store.cancel(request.id, BOB, T0 + timedelta(minutes=1)) is None
    assert store.get_request(request.id) == request


@pytest.mark.parametrize(
    ("offset", "expires"),
    [(timedelta(seconds=-1), False), (timedelta(0), True), (timedelta(hours=2), True)],
    ids=["before", "exactly-at", "after"],
)
def test_expire_only_once_due(store: Store, offset: timedelta, expires: bool) -> None:
    request = new_request(store)

    result = store.expire(request.id, request.expires_at + offset)

    assert (result is not None) is expires
    if expires:
        assert result is not None and result.state == EXPIRED
        assert result.decided_by is None
        assert audit_trail(store, request.id)[-1] == ("expired", PENDING, EXPIRED, "system")
    else:
        assert store.get_request(request.id) == request


def test_expire_does_not_touch_a_deleting_request(store: Store) -> None:
    request = bring_to(store, DELETING)
    assert store.expire(request.id, T0 + timedelta(hours=1)) is None
    assert store.get_request(request.id) == request


@pytest.mark.parametrize(
    ("outcome", "http_status", "coveo_request_id", "error_code"),
    [
        (DELETED, 204, "coveo-req-204", None),
        (FAILED, 403, "coveo-req-403", "ACCESS_DENIED"),
        (UNKNOWN, None, None, "TIMEOUT"),
    ],
)
def test_finish_records_coveo_answer(
    store: Store,
    outcome: str,
    http_status: int | None,
    coveo_request_id: str | None,
    error_code: str | None,
) -> None:
    request = bring_to(store, DELETING)
    now = T0 + timedelta(minutes=2)

    finished = store.finish(
        request.id,
        outcome=outcome,
        now=now,
        actor_id=ALICE,
        http_status=http_status,
        coveo_request_id=coveo_request_id,
        error_code=error_code,
        error_detail="detail" if error_code else None,
    )

    assert finished is not None
    assert finished.state == outcome
    assert (finished.http_status, finished.coveo_request_id, finished.error_code) == (
        http_status,
        coveo_request_id,
        error_code,
    )
    assert finished.updated_at == now
    assert finished.decided_at == request.decided_at  # the decision time is kept
    [event] = [e for e in store.audit_events(request.id) if e.event == outcome]
    assert (event.from_state, event.to_state, event.actor_id) == (DELETING, outcome, ALICE)
    assert (event.http_status, event.coveo_request_id, event.at) == (
        http_status,
        coveo_request_id,
        now,
    )


def test_finish_only_from_deleting(store: Store) -> None:
    request = new_request(store)
    result = store.finish(
        request.id,
        outcome=DELETED,
        now=T0,
        actor_id=ALICE,
        http_status=204,
        coveo_request_id="coveo-req-1",
    )
    assert result is None
    assert store.get_request(request.id) == request


@pytest.mark.parametrize("outcome", [PENDING, DELETING, CANCELLED, EXPIRED, "", "Deleted"])
def test_finish_rejects_a_non_final_outcome(store: Store, outcome: str) -> None:
    request = bring_to(store, DELETING)
    audit_before = store.audit_events()

    with pytest.raises(ValueError, match="not a final deletion outcome"):
        store.finish(
            request.id,
            outcome=outcome,
            now=T0 + timedelta(minutes=2),
            actor_id=ALICE,
            http_status=204,
            coveo_request_id=None,
        )

    assert store.get_request(request.id) == request
    assert store.audit_events() == audit_before


def test_abandon_cancels_on_behalf_of_the_app(store: Store) -> None:
    request = new_request(store)

    abandoned = store.abandon(request.id, T0, "card could not be posted")

    assert abandoned is not None and abandoned.state == CANCELLED
    assert abandoned.decided_by is None
    [event] = [e for e in store.audit_events(request.id) if e.event == "abandoned"]
    assert (event.from_state, event.to_state, event.actor_id, event.detail) == (
        PENDING,
        CANCELLED,
        "system",
        "card could not be posted",
    )
    assert store.abandon(request.id, T0, "again") is None


def test_full_lifecycle_writes_one_audit_row_per_transition(store: Store) -> None:
    request = new_request(store)
    store.start_deletion(request.id, ALICE, T0 + timedelta(minutes=1))
    store.finish(
        request.id,
        outcome=DELETED,
        now=T0 + timedelta(minutes=2),
        actor_id=ALICE,
        http_status=204,
        coveo_request_id="coveo-req-1",
    )

    assert audit_trail(store, request.id) == [
        ("requested", None, PENDING, ALICE),
        ("confirmed", PENDING, DELETING, ALICE),
        ("deleted", DELETING, DELETED, ALICE),
    ]
    assert [e.at for e in store.audit_events(request.id)] == [
        T0,
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=2),
    ]


def _finish(store: Store, request_id: str, now: datetime) -> DeletionRequest | None:
    return store.finish(
        request_id,
        outcome=DELETED,
        now=now,
        actor_id=ALICE,
        http_status=204,
        coveo_request_id="coveo-req-x",
    )


ATTEMPTS: dict[str, Callable[[Store, str, datetime], DeletionRequest | None]] = {
    "start-by-requester": lambda s, rid, now: s.start_deletion(rid, ALICE, now),
    "start-by-other": lambda s, rid, now: s.start_deletion(rid, BOB, now),
    "cancel-by-requester": lambda s, rid, now: s.cancel(rid, ALICE, now),
    "cancel-by-other": lambda s, rid, now: s.cancel(rid, BOB, now),
    "abandon": lambda s, rid, now: s.abandon(rid, now, "reason"),
    "expire": lambda s, rid, now: s.expire(rid, now),
    "finish": _finish,
}
EARLY = T0 + timedelta(minutes=1)  # before the deadline
LATE = T0 + timedelta(hours=1)  # after the deadline
FAILING_CASES = [
    (PENDING, "start-by-other", EARLY),
    (PENDING, "start-by-requester", T0 + TTL),
    (PENDING, "start-by-requester", LATE),
    (PENDING, "cancel-by-other", EARLY),
    (PENDING, "expire", EARLY),
    (PENDING, "finish", EARLY),
    *[
        (DELETING, name, when)
        for name in ("start-by-requester", "cancel-by-requester", "abandon", "expire")
        for when in (EARLY, LATE)
    ],
    *[
        (state, name, when)
        for state in (DELETED, CANCELLED, EXPIRED)
        for name in ATTEMPTS
        for when in (EARLY, LATE)
    ],
]


@pytest.mark.parametrize(
    ("state", "attempt", "now"),
    FAILING_CASES,
    ids=[f"{s}-{a}-{'early' if n == EARLY else 'late'}" for s, a, n in FAILING_CASES],
)
def test_refused_transition_changes_nothing(
    store: Store, state: str, attempt: str, now: datetime
) -> None:
    request = bring_to(store, state)
    if now < request.updated_at:
        now = request.updated_at + timedelta(minutes=1)
    audit_before = store.audit_events()

    assert ATTEMPTS[attempt](store, request.id, now) is None

    assert store.get_request(request.id) == request
    assert store.audit_events() == audit_before


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_transition_of_an_unknown_request_is_none(store: Store, attempt: str) -> None:
    assert ATTEMPTS[attempt](store, "no-such-request", EARLY) is None
    assert store.audit_events() == []


# -- concurrency -----------------------------------------------------------------------------
def test_twenty_threads_confirm_at_once_exactly_one_wins(store: Store) -> None:
    request = new_request(store)
    now = T0 + timedelta(minutes=1)

    results, errors = run_together(
        [lambda: store.start_deletion(request.id, ALICE, now) for _ in range(20)]
    )

    assert errors == []
    assert len([r for r in results if r is not None]) == 1
    assert [e.event for e in store.audit_events(request.id)] == ["requested", "confirmed"]


def test_two_store_objects_on_one_file_race_exactly_one_wins(
    store: Store, cipher: TokenCipher
) -> None:
    request = new_request(store)
    now = T0 + timedelta(minutes=1)
    second = Store(store.location, cipher)  # what a second process would hold
    try:
        results, errors = run_together(
            [
                (lambda s=s: s.start_deletion(request.id, ALICE, now))
                for _ in range(10)
                for s in (store, second)
            ]
        )
    finally:
        second.close()

    assert errors == []
    assert len([r for r in results if r is not None]) == 1
    assert [e.event for e in store.audit_events(request.id)] == ["requested", "confirmed"]


def test_cancel_and_start_race_has_one_winner(store: Store, cipher: TokenCipher) -> None:
    request = new_request(store)
    now = T0 + timedelta(minutes=1)
    second = Store(store.location, cipher)
    try:
        results, errors = run_together(
            [lambda: store.start_deletion(request.id, ALICE, now) for _ in range(10)]
            + [lambda: second.cancel(request.id, ALICE, now) for _ in range(10)]
        )
    finally:
        second.close()

    assert errors == []
    [winner] = [r for r in results if r is not None]
    final = store.get_request(request.id)
    assert final is not None and final.state == winner.state
    assert final.state in (DELETING, CANCELLED)
    assert len(store.audit_events(request.id)) == 2


def test_fifty_concurrent_writers_all_land(store: Store) -> None:
    now = T0

    def writer(index: int) -> str:
        request = new_request(store, org_id=f"org{index:02d}", now=now)
        store.record_event(now, "viewed", workspace=WS, actor_id=ALICE, request_id=request.id)
        return request.id

    results, errors = run_together([lambda i=i: writer(i) for i in range(50)])

    assert errors == []  # in particular no sqlite3.OperationalError "database is locked"
    assert len(set(results)) == 50
    assert raw_rows(store.location, "SELECT COUNT(*) FROM deletion_requests") == [(50,)]
    assert raw_rows(store.location, "SELECT event, COUNT(*) FROM audit_events GROUP BY event") == [
        ("requested", 50),
        ("viewed", 50),
    ]
    for request_id in results:
        assert [e.event for e in store.audit_events(request_id)] == ["requested", "viewed"]


def _confirm_in_child_process(
    path: str, key: str, request_id: str, now_iso: str, barrier: Any
) -> None:
    """Child of the multi-process race: exit code 0 when this process's confirm won, 3 if not."""
    child_store = Store(path, TokenCipher([key]))
    try:
        barrier.wait(timeout=20)
        won = child_store.start_deletion(request_id, ALICE, from_iso(now_iso)) is not None
    finally:
        child_store.close()
    raise SystemExit(0 if won else 3)


def test_four_processes_confirm_at_once_exactly_one_wins(store_target: Path | str) -> None:
    key = Fernet.generate_key().decode()
    parent = Store(store_target, TokenCipher([key]))
    try:
        request = new_request(parent)
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(4)
        processes = [
            context.Process(
                target=_confirm_in_child_process,
                args=(
                    str(parent.location),
                    key,
                    request.id,
                    to_iso(T0 + timedelta(minutes=1)),
                    barrier,
                ),
            )
            for _ in range(4)
        ]
        started = time.monotonic()
        for process in processes:
            process.start()
        for process in processes:
            process.join(30)
        elapsed = time.monotonic() - started
        codes = sorted(process.exitcode for process in processes)  # type: ignore[type-var]
        for process in processes:
            process.close()

        assert codes == [0, 3, 3, 3]
        assert elapsed < 15  # normally about a second; generous for loaded CI machines
        final = parent.get_request(request.id)
        assert final is not None and final.state == DELETING
        assert [e.event for e in parent.audit_events(request.id)] == ["requested", "confirmed"]
    finally:
        parent.close()


def test_two_stores_migrating_a_fresh_file_at_once_both_come_up(
    tmp_path: Path, cipher: TokenCipher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes starting at once on a new file (here: two Store objects, each with its own
    connection) must both come up; the Store says it is safe between processes sharing a file.

    The first migration is held until both openers have found it pending, which is the race a
    real pair of processes hits now and then; the database stays real SQLite throughout.
    """
    migration = migrations._migrations[0]  # sqlite-utils 4.2.1 keeps registered steps here
    original = migration.fn
    both_inside = threading.Barrier(2)

    def held_until_both_arrive(db: Any) -> None:
        # A fixed store would let only one opener get here; then just go on after the timeout.
        with suppress(threading.BrokenBarrierError):
            both_inside.wait(timeout=0.5)
        original(db)

    monkeypatch.setattr(migration, "fn", held_until_both_arrive)
    path = tmp_path / "fresh.db"

    opened, errors = run_together([lambda: Store(path, cipher)] * 2)
    for opened_store in opened:
        opened_store.close()

    assert [repr(error) for error in errors] == []
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT name FROM _sqlite_migrations").fetchall() == [
            ("m001_initial",),
            ("m002_outbox_and_instances",),
            ("m003_guardrails",),
            ("m004_attempts_index",),
            ("m005_issue10_oauth",),
            ("m006_issue12_audit_chain",),
            ("m007_i14b_socket_envelopes",),
            ("m008_i14a_response_url_uses",),
        ]


# -- queries ---------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_due_for_expiry_oldest_deadline_first(store: Store, limit: int) -> None:
    now = T0 + timedelta(minutes=10)
    due_late = new_request(store, org_id="due-late", ttl=timedelta(minutes=3))
    due_at_now = new_request(store, org_id="due-at-now", ttl=timedelta(minutes=10))
    due_early = new_request(store, org_id="due-early", ttl=timedelta(minutes=1))
    new_request(store, org_id="not-yet", ttl=timedelta(minutes=11))
    cancelled = new_request(store, org_id="cancelled", ttl=timedelta(seconds=30))
    store.cancel(cancelled.id, ALICE, T0)
    deleting = new_request(store, org_id="deleting", ttl=timedelta(seconds=40))
    store.start_deletion(deleting.id, ALICE, T0)

    due = store.due_for_expiry(now, limit=limit)

    expected = [due_early.id, due_late.id, due_at_now.id][:limit]
    assert [r.id for r in due] == expected
    assert all(r.state == PENDING for r in due)


def test_due_for_expiry_with_nothing_due(store: Store) -> None:
    new_request(store)
    assert store.due_for_expiry(T0 + TTL - timedelta(microseconds=1)) == []


def test_stuck_deleting_oldest_attempt_first(store: Store) -> None:
    requests = {org: new_request(store, org_id=org) for org in ("a-org", "b-org", "c-org", "d-org")}
    store.start_deletion(requests["c-org"].id, ALICE, T0 + timedelta(seconds=10))
    store.start_deletion(requests["a-org"].id, ALICE, T0 + timedelta(seconds=20))
    store.start_deletion(requests["b-org"].id, ALICE, T0 + timedelta(seconds=30))
    _finish(store, requests["b-org"].id, T0 + timedelta(seconds=40))

    stuck = store.stuck_deleting()

    assert [r.org_id for r in stuck] == ["c-org", "a-org"]
    assert all(r.state == DELETING for r in stuck)


def test_attach_card_never_forgets_a_known_ts(store: Store) -> None:
    request = new_request(store)
    assert request.delivery == "channel" and request.card_ts is None

    first = store.attach_card(request.id, delivery="channel", card_ts="1700000000.000100")
    assert first is not None and first.card_ts == "1700000000.000100"

    second = store.attach_card(request.id, delivery="response_url", card_ts=None)
    assert second is not None
    assert (second.delivery, second.card_ts) == ("response_url", "1700000000.000100")

    third = store.attach_card(request.id, delivery="channel", card_ts="1700000000.000200")
    assert third is not None and third.card_ts == "1700000000.000200"


def test_attach_card_of_an_unknown_request_is_none(store: Store) -> None:
    assert store.attach_card("no-such-request", delivery="channel", card_ts="1.2") is None


def test_note_click_stores_the_response_url_encrypted(store: Store, cipher: TokenCipher) -> None:
    request = new_request(store)

    store.note_click(request.id, response_url=FRESH_RESPONSE_URL, card_ts=None)

    got = store.get_request(request.id)
    assert got is not None and got.response_url == FRESH_RESPONSE_URL
    [(stored,)] = raw_rows(store.location, "SELECT response_url_encrypted FROM deletion_requests")
    assert stored != FRESH_RESPONSE_URL and "hooks.slack.com" not in stored
    assert cipher.decrypt(stored) == FRESH_RESPONSE_URL


def test_request_without_response_url_stores_null(store: Store) -> None:
    request = new_request(store, response_url=None)
    assert request.response_url is None
    assert raw_rows(store.location, "SELECT response_url_encrypted FROM deletion_requests") == [
        (None,)
    ]


def test_record_event_keeps_every_field(store: Store) -> None:
    store.record_event(
        T0,
        "refused",
        workspace=WS,
        actor_id=BOB,
        org_id="acmeprod1",
        region="eu",
        request_id=None,
        http_status=403,
        coveo_request_id="coveo-req-9",
        detail="not an admin",
    )
    [event] = store.audit_events()
    assert (event.at, event.event, event.workspace, event.actor_id) == (T0, "refused", WS, BOB)
    assert (event.org_id, event.region, event.request_id) == ("acmeprod1", "eu", None)
    assert (event.http_status, event.coveo_request_id, event.detail) == (
        403,
        "coveo-req-9",
        "not an admin",
    )
    assert (event.from_state, event.to_state) == (None, None)


# -- audit log, times, journal ---------------------------------------------------------------
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET event = 'tampered'",
        "UPDATE audit_events SET detail = NULL WHERE id = 1",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE id = 1",
    ],
)
def test_audit_log_is_append_only(store: Store, statement: str) -> None:
    new_request(store)
    before = raw_rows(store.location, "SELECT * FROM audit_events")

    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError), match="append-only"):
        raw_write(store.location, statement)

    assert raw_rows(store.location, "SELECT * FROM audit_events") == before


TIME_COLUMNS = {
    "links": ("linked_at", "expires_at", "invalid_since"),
    "deletion_requests": ("created_at", "expires_at", "updated_at", "decided_at", "attempted_at"),
    "audit_events": ("at",),
}


def test_every_stored_time_is_utc_text_with_explicit_offset(store: Store) -> None:
    paris = timezone(timedelta(hours=2))
    local_t0 = T0.astimezone(paris)
    save_link(store, now=local_t0, expires_at=local_t0 + timedelta(hours=1))
    store.mark_link_invalid(WS, ALICE, local_t0, "HTTP 401")
    request = new_request(store, now=local_t0)
    store.start_deletion(request.id, ALICE, local_t0 + timedelta(minutes=1))
    _finish(store, request.id, local_t0 + timedelta(minutes=2))
    new_request(store, org_id="other", now=local_t0)

    seen = 0
    for table, columns in TIME_COLUMNS.items():
        for column in columns:
            typeof = "pg_typeof({})::text" if is_postgres(store.location) else "typeof({})"
            for value, kind in raw_rows(
                store.location, f"SELECT {column}, {typeof.format(column)} FROM {table}"
            ):
                if value is None:
                    continue
                seen += 1
                assert kind == "text", (table, column, value)
                assert value.endswith("+00:00"), (table, column, value)
                assert to_iso(from_iso(value)) == value  # canonical, fixed width
    assert seen >= 12
    assert raw_rows(store.location, "SELECT linked_at, invalid_since FROM links") == [
        ("2025-03-01T12:00:00.000000+00:00", "2025-03-01T12:00:00.000000+00:00")
    ]
    got = store.get_request(request.id)
    assert got is not None and got.created_at == T0 and got.created_at.tzinfo is UTC


@pytest.mark.parametrize("naive", [datetime(2025, 3, 1, 12, 0), datetime(2025, 3, 1)])
def test_to_iso_rejects_naive_datetimes(naive: datetime) -> None:
    with pytest.raises(ValueError, match="naive"):
        to_iso(naive)


@pytest.mark.parametrize(
    "text", ["2025-03-01T12:00:00", "2025-03-01T12:00:00.000000", "2025-03-01"]
)
def test_from_iso_rejects_times_without_offset(text: str) -> None:
    with pytest.raises(ValueError, match="without an offset"):
        from_iso(text)


def test_iso_roundtrip_converts_to_utc() -> None:
    moment = datetime(2025, 3, 1, 14, 30, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    text = to_iso(moment)
    assert text == "2025-03-01T12:30:00.000005+00:00"
    assert from_iso(text) == moment and from_iso(text).tzinfo is UTC


NAIVE = datetime(2025, 3, 1, 12, 0)


@pytest.mark.parametrize(
    "operation",
    [
        lambda s: save_link(s, now=NAIVE),
        lambda s: save_link(s, expires_at=NAIVE),
        lambda s: new_request(s, now=NAIVE),
        lambda s: s.record_event(NAIVE, "viewed"),
    ],
    ids=["save_link-now", "save_link-expires", "create_request", "record_event"],
)
def test_naive_time_is_refused_and_nothing_is_written(
    store: Store, operation: Callable[[Store], Any]
) -> None:
    with pytest.raises(ValueError, match="naive"):
        operation(store)
    for table in TIME_COLUMNS:
        assert raw_rows(store.location, f"SELECT COUNT(*) FROM {table}") == [(0,)]


def test_naive_time_refused_for_a_transition(store: Store) -> None:
    request = new_request(store)
    with pytest.raises(ValueError, match="naive"):
        store.start_deletion(request.id, ALICE, NAIVE)
    assert store.get_request(request.id) == request
    assert len(store.audit_events()) == 1


def test_journal_mode_is_wal(store: Store) -> None:
    assert raw_rows(sqlite_only(store), "PRAGMA journal_mode") == [("wal",)]


def test_reopening_keeps_everything(store: Store, cipher: TokenCipher) -> None:
    save_link(store)
    request = new_request(store)
    store.close()

    reopened = Store(store.location, cipher)
    try:
        link = reopened.get_link(WS, ALICE)
        assert link is not None and link.token == TOKEN
        assert reopened.get_request(request.id) == request
        if reopened.path is not None:
            assert raw_rows(reopened.path, "PRAGMA journal_mode") == [("wal",)]
    finally:
        reopened.close()
