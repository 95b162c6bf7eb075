"""DELETE_ORG_RESPONSE_URL_RETENTION: finished requests' encrypted response URLs are cleared
after the retention (default one day) by the sweeper; live ones never; audit rows never. The
storage tests run on a real SQLite file and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import httpx
import pytest
from freezegun import freeze_time
from slack_sdk import WebClient

from bot.cli import main
from bot.clock import utcnow
from bot.config import DEFAULT_RESPONSE_URL_RETENTION, ConfigError, load_config
from bot.coveo import CoveoClient
from bot.crypto import TokenCipher
from bot.sweeper import RETENTION_EVERY_SECONDS, Sweeper
from handlers.deletion import DeletionFlow
from handlers.delivery import Delivery
from handlers.deps import Deps
from storage import (
    AWAITING_APPROVAL,
    CANCELLED,
    DELETED,
    DELETING,
    EXPIRED,
    FAILED,
    PENDING,
    REJECTED,
    UNKNOWN,
    DeletionRequest,
    Store,
)
from tests.backends import column_names, raw_rows

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
URL = "https://hooks.slack.com/commands/T0RETAIN001/111/retained-secret-path"
ALICE, BOB = "U0ALICE0001", "U0BOB000001"


@pytest.fixture
def store_target(both_backends: Path | str) -> Path | str:
    return both_backends


def _request(store: Store, org_id: str, now: datetime) -> DeletionRequest:
    return store.create_request(
        workspace="T0RETAIN001",
        team_id="T0RETAIN001",
        requester_id=ALICE,
        channel_id="C0RETAIN001",
        org_id=org_id,
        org_name=None,
        org_type=None,
        region="us",
        response_url=URL,
        now=now,
        expires_at=now + timedelta(minutes=2),
    )


def _finish(store: Store, outcome: str) -> Callable[[str, datetime], Any]:
    def move(request_id: str, now: datetime) -> Any:
        store.start_deletion(request_id, ALICE, now)
        return store.finish(
            request_id,
            outcome=outcome,
            now=now,
            actor_id=ALICE,
            http_status=None,
            coveo_request_id=None,
        )

    return move


def _await(store: Store, request_id: str, now: datetime) -> Any:
    return store.await_approval(
        request_id, ALICE, now, reason="quarterly clean-up", approval_deadline=now + DAY * 30
    )


def _in_every_state(store: Store, now: datetime) -> dict[str, str]:
    """One request per state, each reaching it at ``now``; returns {state: request id}."""
    moves: dict[str, Callable[[str, datetime], Any]] = {
        PENDING: lambda rid, at: True,
        AWAITING_APPROVAL: lambda rid, at: _await(store, rid, at),
        DELETING: lambda rid, at: store.start_deletion(rid, ALICE, at),
        DELETED: _finish(store, DELETED),
        FAILED: _finish(store, FAILED),
        UNKNOWN: _finish(store, UNKNOWN),
        CANCELLED: lambda rid, at: store.cancel(rid, ALICE, at),
        EXPIRED: lambda rid, at: store.expire(rid, at + timedelta(minutes=5)),
        REJECTED: lambda rid, at: _await(store, rid, at) and store.reject(rid, BOB, at),
    }
    ids = {}
    for state, move in moves.items():
        request = _request(store, f"org{state.replace('_', '')}", now)
        assert move(request.id, now) is not None
        assert store.get_request(request.id).state == state  # type: ignore[union-attr]
        ids[state] = request.id
    return ids


def test_only_finished_requests_past_the_cutoff_lose_their_url(
    store: Store, store_target: Path | str
) -> None:
    old = _in_every_state(store, T0)
    _request(store, "orgfresh", T0 + DAY)
    fresh = store.cancel(
        store.live_request_for_org("orgfresh", "us").id,  # type: ignore[union-attr]
        ALICE,
        T0 + DAY,
    )
    assert fresh is not None
    before = raw_rows(store_target, "SELECT * FROM deletion_requests ORDER BY id")
    audit_before = raw_rows(store_target, "SELECT * FROM audit_events ORDER BY id")

    assert store.forget_response_urls(T0 + timedelta(hours=12)) == 6

    for state, request_id in old.items():
        kept = store.get_request(request_id)
        assert kept is not None and kept.state == state
        live = state in (PENDING, AWAITING_APPROVAL, DELETING)
        assert (kept.response_url == URL) is live, state
    assert store.get_request(fresh.id).response_url == URL  # type: ignore[union-attr]
    # Nothing else changed: the same rows but for that one column; the audit table untouched.
    after = raw_rows(store_target, "SELECT * FROM deletion_requests ORDER BY id")
    column = column_names(store_target, "deletion_requests").index("response_url_encrypted")
    strip = [row[:column] + row[column + 1 :] for row in before]
    assert [row[:column] + row[column + 1 :] for row in after] == strip
    assert raw_rows(store_target, "SELECT * FROM audit_events ORDER BY id") == audit_before
    assert store.forget_response_urls(T0 + timedelta(hours=12)) == 0


def test_a_backlog_is_cleared_in_batches(
    store: Store, store_target: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("storage.retention.RETENTION_BATCH", 2)
    for n in range(5):
        request = _request(store, f"orgbatch{n}", T0)
        store.cancel(request.id, ALICE, T0)
    assert store.forget_response_urls(T0 + DAY) == 5
    assert raw_rows(
        store_target,
        "SELECT count(*) FROM deletion_requests WHERE response_url_encrypted IS NOT NULL",
    ) == [(0,)]


def test_two_replicas_clearing_at_once_count_each_url_once(
    store: Store, store_target: Path | str, cipher: TokenCipher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both replicas' sweepers clear the same backlog at the same moment (two stores: two
    connection pools on PostgreSQL): every URL is cleared, and counted by one of them only."""
    monkeypatch.setattr("storage.retention.RETENTION_BATCH", 5)
    for n in range(60):
        store.cancel(_request(store, f"orgrace{n}", T0).id, ALICE, T0)
    replicas = [store, Store(store_target, cipher)]
    start = threading.Barrier(len(replicas))
    counts: list[int] = []
    errors: list[BaseException] = []

    def clear(replica: Store) -> None:
        start.wait()
        try:
            counts.append(replica.forget_response_urls(T0 + DAY))
        except BaseException as error:  # asserted on below
            errors.append(error)

    threads = [threading.Thread(target=clear, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    replicas[1].close()
    assert [repr(error) for error in errors] == []
    assert sum(counts) == 60
    assert raw_rows(
        store_target,
        "SELECT count(*) FROM deletion_requests WHERE response_url_encrypted IS NOT NULL",
    ) == [(0,)]


class _QuietDelivery(Delivery):
    """Counts what the sweeper sends (expiry notices) instead of calling Slack."""

    def __init__(self) -> None:
        super().__init__(Mock(spec=WebClient))
        self.sent = 0

    def _count(self, *args: Any, **kwargs: Any) -> None:
        self.sent += 1

    update_card = thread_reply = private = _count  # type: ignore[assignment]


def _flow(store: Store, retention: int | None) -> DeletionFlow:
    coveo = CoveoClient(
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))),
        platform_url="https://coveo.test",
    )
    deps = Deps(
        store=store,
        coveo=coveo,
        delivery=_QuietDelivery(),
        confirm_timeout=120,
        clock=utcnow,
        response_url_retention=retention,
    )
    return DeletionFlow(deps)


def test_the_sweeper_clears_after_the_retention_and_audit_verify_still_passes(
    store: Store, store_target: Path | str
) -> None:
    flow = _flow(store, DEFAULT_RESPONSE_URL_RETENTION)
    with freeze_time(T0):
        ids = _in_every_state(store, utcnow())
    with freeze_time(T0 + DAY - timedelta(seconds=1)):
        assert flow.forget_old_response_urls() == 0  # a day not yet over
    with freeze_time(T0 + DAY + timedelta(minutes=6)) as frozen:
        sweeper = Sweeper(flow, interval=5)
        sweeper.run_once()
        assert store.get_request(ids[CANCELLED]).response_url is None  # type: ignore[union-attr]
        assert store.get_request(ids[PENDING]).response_url == URL  # type: ignore[union-attr]
        # Another request finishes; the next pass within the minute does not scan again.
        late = _request(store, "orglate", T0)
        store.cancel(late.id, ALICE, T0)
        frozen.tick(RETENTION_EVERY_SECONDS - 1)
        sweeper.run_once()
        assert store.get_request(late.id).response_url == URL  # type: ignore[union-attr]
        frozen.tick(1)
        sweeper.run_once()
        assert store.get_request(late.id).response_url is None  # type: ignore[union-attr]
    assert main(["audit", "verify", "--db", str(store_target)], environ={}) == 0


def test_retention_off_keeps_every_url(store: Store) -> None:
    flow = _flow(store, None)
    with freeze_time(T0):
        ids = _in_every_state(store, utcnow())
    with freeze_time(T0 + DAY * 400):
        assert flow.forget_old_response_urls() == 0
    assert store.get_request(ids[DELETED]).response_url == URL  # type: ignore[union-attr]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test-not-a-real-token",
        "SLACK_APP_TOKEN": "xapp-test-not-a-real-token",
        "DELETE_ORG_DB": str(tmp_path / "r.db"),
        **extra,
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", 86_400), (" ", 86_400), ("0", None), ("3600", 3600), ("604800", 604_800)],
)
def test_retention_setting(tmp_path: Path, raw: str, expected: int | None) -> None:
    config = load_config(_env(tmp_path, DELETE_ORG_RESPONSE_URL_RETENTION=raw))
    assert config.response_url_retention == expected


@pytest.mark.parametrize("raw", ["60", "-5", "1d", "86400.5", "31536001"])
def test_bad_retention_is_refused_with_the_rule(tmp_path: Path, raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_env(tmp_path, DELETE_ORG_RESPONSE_URL_RETENTION=raw))
    (problem,) = caught.value.problems
    assert problem.startswith("DELETE_ORG_RESPONSE_URL_RETENTION must be 0 (keep response URLs)")
    assert "3600 to 31536000" in problem
