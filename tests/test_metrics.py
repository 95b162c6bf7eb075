"""Metrics units: the outcome mapping, the store gauges, the Coveo transport wrapper, the Slack
call counter, listener kinds, one registry per app, and the README's list of metrics."""

from __future__ import annotations

import copy
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import SIGNING_SECRET
from scrape import Scrape
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from bot.crypto import TokenCipher
from bot.emulator.slack import FakeSlack
from bot.metrics import LISTENER_KINDS, OUTCOMES, Metrics, outcome_of
from bot.metrics_coveo import MeteredTransport, endpoint_of, instrument, status_class
from bot.metrics_slack import WebApiCallCounter, listener_kind, method_of
from storage import DELETED, FAILED, FINAL_STATES, UNKNOWN, Store
from tests.test_storage import ALICE, BOB, T0, new_request, save_link

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _text(metrics: Metrics) -> Scrape:
    from prometheus_client import generate_latest

    return Scrape.parse(generate_latest(metrics.registry).decode())


# -- request outcomes ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event", "detail", "outcome"),
    [
        ("deleted", None, "deleted"),
        ("failed", "HTTP 500", "failed"),
        ("unknown", None, "unknown"),
        ("cancelled", None, "cancelled"),
        ("abandoned", "card could not be shown", "cancelled"),
        ("expired", None, "expired"),
        ("approval_expired", None, "expired"),
        ("rejected", None, "rejected"),
        ("refused", "rule protected.ids", "refused"),
        ("refused", "No access, or no such organization", "preview_failed"),
        ("refused", None, "preview_failed"),
        ("requested", None, None),
        ("confirmed", None, None),
        ("confirmed_awaiting_approval", None, None),
        ("approved", None, None),
        ("click_refused", "only the requester can decide", None),
        ("linked", None, None),
        ("late_outcome", "deleted after it was settled as unknown", None),
    ],
)
def test_outcome_of_each_audit_event(event: str, detail: str | None, outcome: str | None) -> None:
    assert outcome_of({"event": event, "detail": detail}) == outcome
    assert outcome is None or outcome in OUTCOMES


def test_every_transition_into_a_final_state_counts_that_state(
    tmp_path: Path, cipher: TokenCipher
) -> None:
    """Each store operation that ends a request is counted once, under its final state."""
    metrics = Metrics(version="1")
    store = Store(tmp_path / "final.db", cipher, on_audit=metrics.on_audit)
    later = T0 + timedelta(seconds=1)
    try:
        for number, outcome in enumerate((DELETED, FAILED, UNKNOWN)):
            request = new_request(store, org_id=f"finish{number}")
            store.start_deletion(request.id, ALICE, later)
            store.finish(
                request.id,
                outcome=outcome,
                now=later,
                actor_id=ALICE,
                http_status=None,
                coveo_request_id=None,
            )
        store.cancel(new_request(store, org_id="cancel1").id, ALICE, later)
        store.abandon(new_request(store, org_id="abandon1").id, later, "no card")
        store.expire(new_request(store, org_id="expire1").id, T0 + timedelta(hours=1))
        new_request(store, org_id="stale1")
        new_request(store, org_id="stale1", now=T0 + timedelta(hours=1))  # expires the stale one
        for name, settle in (
            ("reject1", lambda rid: store.reject(rid, BOB, later)),
            ("withdraw1", lambda rid: store.withdraw(rid, ALICE, later)),
            ("approvalexp1", lambda rid: store.expire_approval(rid, T0 + timedelta(hours=2))),
        ):
            request = new_request(store, org_id=name)
            store.await_approval(
                request.id, ALICE, later, reason="r", approval_deadline=T0 + timedelta(hours=1)
            )
            assert settle(request.id) is not None
        final_rows = [e for e in store.audit_events() if e.to_state in FINAL_STATES]
        assert len(final_rows) == 10
        expected: dict[str, int] = {}
        for row in final_rows:
            assert outcome_of({"event": row.event, "detail": row.detail}) == row.to_state, row
            expected[str(row.to_state)] = expected.get(str(row.to_state), 0) + 1
        scraped = _text(metrics)
        assert {
            outcome: scraped.value("delete_org_requests_total", outcome=outcome)
            for outcome in expected
        } == expected
    finally:
        store.close()


def test_on_audit_counts_outcomes_and_every_outcome_starts_at_zero() -> None:
    metrics = Metrics(version="1.2.3")
    before = _text(metrics)
    assert {before.value("delete_org_requests_total", outcome=outcome) for outcome in OUTCOMES} == {
        0.0
    }
    assert all(before.has("delete_org_requests_total", outcome=o) for o in OUTCOMES)
    for values in (
        {"event": "deleted"},
        {"event": "deleted"},
        {"event": "approval_expired"},
        {"event": "linked"},
    ):
        metrics.on_audit(values)
    after = _text(metrics)
    assert after.value("delete_org_requests_total", outcome="deleted") == 2
    assert after.value("delete_org_requests_total", outcome="expired") == 1
    assert after.value("delete_org_build_info", version="1.2.3") == 1


def test_two_apps_in_one_process_keep_their_own_counts() -> None:
    first, second = Metrics(version="1"), Metrics(version="1")
    first.on_audit({"event": "deleted"})
    assert _text(first).value("delete_org_requests_total", outcome="deleted") == 1
    assert _text(second).value("delete_org_requests_total", outcome="deleted") == 0


# -- store gauges ----------------------------------------------------------------------------
def test_store_gauges_read_at_scrape_time(store: Store) -> None:
    metrics = Metrics(version="1")
    metrics.watch_store(store, lambda: T0 + timedelta(seconds=90))
    empty = _text(metrics)
    assert empty.value("delete_org_outbox_pending") == 0
    assert empty.value("delete_org_outbox_oldest_pending_age_seconds") == 0
    assert empty.value("delete_org_live_requests") == 0
    assert empty.has("delete_org_links", status="active")
    assert empty.value("delete_org_frozen") == 0

    request = new_request(store)
    store.enqueue(request.id, [("card", "x", None), ("thread", "y", None)], T0)
    save_link(store)
    store.set_freeze(frozen=True, by_user="U0ADMIN0001", reason="audit", now=T0)
    later = _text(metrics)  # the same collector, queried again
    assert later.value("delete_org_outbox_pending") == 2
    assert later.value("delete_org_outbox_oldest_pending_age_seconds") == 90
    assert later.value("delete_org_live_requests") == 1
    assert later.value("delete_org_links", status="active") == 1
    assert later.value("delete_org_links", status="invalid") == 0
    assert later.value("delete_org_frozen") == 1
    assert later.value("delete_org_scrape_errors_total") == 0


class _BrokenStore:
    """A store whose first read fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def outbox_pending(self) -> tuple[int, datetime | None]:
        raise self.error

    def live_request_count(self) -> int:  # pragma: no cover - never reached
        return 0

    def link_counts(self) -> dict[str, int]:  # pragma: no cover - never reached
        return {}

    def freeze_state(self) -> None:  # pragma: no cover - never reached
        return None


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (sqlite3.OperationalError("database is locked"), "OperationalError: database is locked"),
        (ValueError("Invalid isoformat string: 'yesterday'"), "ValueError: Invalid isoformat"),
    ],
)
def test_a_store_that_cannot_be_read_is_logged_counted_and_still_answers_200(
    caplog: pytest.LogCaptureFixture, error: Exception, logged: str
) -> None:
    metrics = Metrics(version="1")
    metrics.watch_store(_BrokenStore(error), lambda: NOW)
    metrics.on_audit({"event": "cancelled"})
    statuses: list[str] = []
    body = b"".join(
        metrics.wsgi_app()(
            {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": ""},
            lambda status, headers: statuses.append(status),
        )
    )
    assert statuses == ["200 OK"]
    scraped = Scrape.parse(body.decode())
    assert scraped.value("delete_org_scrape_errors_total") == 1  # counted in the same scrape
    assert not scraped.has("delete_org_outbox_pending")
    assert scraped.value("delete_org_requests_total", outcome="cancelled") == 1
    assert f"could not read the store: {logged}" in caplog.text
    assert _text(metrics).value("delete_org_scrape_errors_total") == 2


# -- Coveo -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "url", "endpoint"),
    [
        (
            "GET",
            "https://platform.cloud.coveo.com/rest/organizations/acmeprod1",
            "GET /rest/organizations/{id}",
        ),
        (
            "DELETE",
            "http://127.0.0.1:9/rest/organizations/a%2Fb",
            "DELETE /rest/organizations/{id}",
        ),
        (
            "POST",
            "https://platform-eu.cloud.coveo.com/oauth/check_token",
            "POST /oauth/check_token",
        ),
        ("POST", "https://proxy.example/coveo/oauth/token", "POST /oauth/token"),
        ("GET", "https://platform.cloud.coveo.com/rest/organizations/acme/members", "other"),
        ("PUT", "https://platform.cloud.coveo.com/rest/organizations/acmeprod1", "other"),
    ],
)
def test_endpoint_is_a_fixed_template(method: str, url: str, endpoint: str) -> None:
    assert endpoint_of(httpx.Request(method, url)) == endpoint


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (200, "2xx"),
        (204, "2xx"),
        (302, "3xx"),
        (404, "4xx"),
        (503, "5xx"),
        (99, "error"),
        (600, "error"),
    ],
)
def test_status_class(status: int, label: str) -> None:
    assert status_class(status) == label


def test_instrumented_client_counts_answers_and_failures() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(503 if "busy" in request.url.path else 200, json={})

    metrics = Metrics(version="1")
    client = httpx.Client(transport=httpx.MockTransport(handler))
    instrument(client, metrics.observe_coveo)
    instrument(client, metrics.observe_coveo)  # idempotent: not counted twice
    client.get("https://coveo.example/rest/organizations/secretorgid1")
    client.get("https://coveo.example/rest/organizations/busyorg2")
    with pytest.raises(httpx.ConnectError):
        client.delete("https://coveo.example/rest/organizations/secretorgid1")
    scraped = _text(metrics)
    read = "GET /rest/organizations/{id}"
    assert scraped.value("delete_org_coveo_requests_total", endpoint=read, status_class="2xx") == 1
    assert scraped.value("delete_org_coveo_requests_total", endpoint=read, status_class="5xx") == 1
    assert (
        scraped.value(
            "delete_org_coveo_requests_total",
            endpoint="DELETE /rest/organizations/{id}",
            status_class="error",
        )
        == 1
    )
    assert scraped.value("delete_org_coveo_request_duration_seconds_count", endpoint=read) == 2
    assert "secretorgid1" not in scraped.text and "busyorg2" not in scraped.text


def test_proxy_mounts_are_instrumented_too() -> None:
    seen: list[tuple[str, str]] = []
    proxied = httpx.MockTransport(lambda request: httpx.Response(204))
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(200)),
        mounts={"https://": proxied},
    )
    instrument(client, lambda endpoint, status, seconds: seen.append((endpoint, status)))
    client.delete("https://coveo.example/rest/organizations/acme1")
    assert seen == [("DELETE /rest/organizations/{id}", "2xx")]
    assert all(isinstance(t, MeteredTransport) for t in client._mounts.values())


# -- Slack -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "method"),
    [
        ("https://slack.com/api/chat.postMessage", "chat.postMessage"),
        ("http://127.0.0.1:5000/api/usergroups.users.list?x=1", "usergroups.users.list"),
        ("https://slack.com/api/", "other"),
        ("https://slack.com/api/U0ALICE0001", "other"),
        ("https://slack.com/api/" + "a." + "b" * 80, "other"),
    ],
)
def test_method_of(url: str, method: str) -> None:
    assert method_of(url) == method


@pytest.fixture
def fake_slack() -> Any:
    slack = FakeSlack(signing_secret=SIGNING_SECRET).start()
    slack.add_channel("C0GENERAL01", "general")
    yield slack
    slack.stop()


def _client(base_url: str, metrics: Metrics) -> WebClient:
    return WebClient(
        token="xoxb-test-not-a-real-token",
        base_url=base_url,
        timeout=2,
        retry_handlers=[WebApiCallCounter(metrics.count_slack), ConnectionErrorRetryHandler()],
    )


def test_slack_calls_by_method_and_result(fake_slack: FakeSlack) -> None:
    metrics = Metrics(version="1")
    client = _client(fake_slack.api_url, metrics)
    client.auth_test()
    client.chat_postMessage(channel="C0GENERAL01", text="hello")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C0NOSUCHCHAN", text="hello")
    with pytest.raises(SlackApiError):
        client.api_call("made.upMethod")
    scraped = _text(metrics)
    calls = "delete_org_slack_api_calls_total"
    assert scraped.value(calls, method="auth.test", result="ok") == 1
    assert scraped.value(calls, method="chat.postMessage", result="ok") == 1
    assert scraped.value(calls, method="chat.postMessage", result="channel_not_found") == 1
    assert scraped.value(calls, method="made.upMethod", result="unknown_method") == 1
    assert "C0NOSUCHCHAN" not in scraped.text


def test_unreachable_slack_counts_each_attempt_as_a_connection_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    metrics = Metrics(version="1")
    with pytest.raises((SlackClientError, OSError)):
        _client(f"http://127.0.0.1:{port}/api/", metrics).auth_test()
    scraped = _text(metrics)
    # ConnectionErrorRetryHandler retried once after the counter saw the first failure.
    assert (
        scraped.value(
            "delete_org_slack_api_calls_total", method="auth.test", result="connection_error"
        )
        == 2
    )


def test_the_counter_survives_bolts_deep_copy_of_a_request() -> None:
    counter = WebApiCallCounter(Metrics(version="1").count_slack)
    assert copy.deepcopy({"handlers": [counter]})["handlers"][0] is counter


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"command": "/delete-org", "text": "x"}, "slash_command"),
        ({"type": "block_actions", "actions": [{}]}, "block_actions"),
        ({"type": "view_submission", "view": {"callback_id": "c"}}, "view_submission"),
        ({"type": "event_callback", "event": {"type": "app_home_opened"}}, "event"),
        ({"type": "view_closed", "view": {"callback_id": "c"}}, "other"),
        ({"type": "url_verification", "challenge": "x"}, "other"),
        ({}, "other"),
    ],
)
def test_listener_kind(body: dict[str, Any], kind: str) -> None:
    assert listener_kind(body) == kind
    assert kind in LISTENER_KINDS


# -- docs ------------------------------------------------------------------------------------
def _readme_metrics() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Metrics") :]
    section = section[: section.index("\n## ")]
    rows = re.findall(r"^\| `(delete_org_[a-z_]+)` \| (\w+) \|", section, flags=re.MULTILINE)
    return dict(rows)


def test_readme_lists_exactly_the_registry_metrics_with_their_types(store: Store) -> None:
    metrics = Metrics(version="1")
    metrics.watch_store(store, lambda: NOW)
    scraped = _text(metrics)
    exposed = scraped.exposed_types()
    exposed["delete_org_build_info"] = "info"  # exposed as a gauge of value 1
    assert _readme_metrics() == exposed
