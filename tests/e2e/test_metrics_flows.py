"""Metrics end to end: ``GET /metrics`` scraped over real HTTP from the running app before and
after real flows (signed Slack requests, fake Slack and fake Coveo over loopback)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ALICE, CHANNEL, Harness, build_harness
from scrape import Scrape, delta, scrape

from bot.emulator.coveo import FakeOrganization, FakeToken
from bot.metrics import LINK_STATUSES, LISTENER_KINDS, OUTCOMES
from bot.metrics_coveo import ENDPOINTS, ERROR, OTHER
from bot.metrics_slack import CONNECTION_ERROR, HTTP_ERROR, KNOWN_ERRORS, OK
from bot.server import ServerThread, make_http_server
from handlers.ids import ACTION_CANCEL, ACTION_CONFIRM

PROD = "exampleprodus4k7q2m"
REQUESTS = "delete_org_requests_total"
COVEO = "delete_org_coveo_requests_total"
COVEO_COUNT = "delete_org_coveo_request_duration_seconds_count"
SLACK = "delete_org_slack_api_calls_total"
ACKS = "delete_org_ack_duration_seconds_count"
READ = "GET /rest/organizations/{id}"
DELETE = "DELETE /rest/organizations/{id}"


def _settled(e2e: Harness, ready: Callable[[Scrape], bool]) -> Scrape:
    """Scrape until ``ready`` holds: the app counts a Slack call once its answer is back,
    a moment after the fake Slack shows its effect."""
    return e2e.slack.wait_for(lambda: (lambda s: s if ready(s) else None)(scrape(e2e.app.url)))


def _linked(e2e: Harness, user: str = ALICE, token: str = "admin_us") -> None:
    assert e2e.link(user, token).status == 200
    e2e.slack.wait_for(lambda: e2e.store.get_link("T0TEST0001", user))


def _outcomes(before: Scrape, after: Scrape) -> dict[str, float]:
    changed = {o: delta(before, after, REQUESTS, outcome=o) for o in OUTCOMES}
    return {o: n for o, n in changed.items() if n}


def test_a_deletion_counts_its_outcome_calls_and_acks(e2e: Harness) -> None:
    _linked(e2e)
    before = scrape(e2e.app.url)
    assert before.value("delete_org_live_requests") == 0
    card = e2e.request_card(ALICE, PROD)
    pending = scrape(e2e.app.url)
    assert pending.value("delete_org_live_requests") == 1
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))
    after = _settled(
        e2e, lambda s: delta(before, s, SLACK, method="chat.postMessage", result="ok") >= 2
    )
    assert _outcomes(before, after) == {"deleted": 1}
    assert delta(before, after, COVEO, endpoint=READ, status_class="2xx") == 1
    assert delta(before, after, COVEO, endpoint=DELETE, status_class="2xx") == 1
    assert delta(before, after, COVEO_COUNT, endpoint=READ) == 1
    assert delta(before, after, COVEO_COUNT, endpoint=DELETE) == 1
    assert delta(before, after, ACKS, kind="slash_command") == 1
    assert delta(before, after, ACKS, kind="block_actions") == 1
    assert delta(before, after, ACKS, kind="view_submission") == 0
    # the card, then its thread reply; the card's final update
    assert delta(before, after, SLACK, method="chat.postMessage", result="ok") == 2
    assert delta(before, after, SLACK, method="chat.update", result="ok") == 1
    assert after.value("delete_org_live_requests") == 0
    assert after.value("delete_org_links", status="active") == 1
    assert after.value("delete_org_outbox_pending") == 0
    assert after.value("delete_org_scrape_errors_total") == 0


def test_a_cancel_counts_cancelled(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    before = scrape(e2e.app.url)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CANCEL)
    e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))
    after = scrape(e2e.app.url)
    assert _outcomes(before, after) == {"cancelled": 1}
    assert delta(before, after, COVEO_COUNT, endpoint=DELETE) == 0
    assert delta(before, after, ACKS, kind="block_actions") == 1


def test_a_click_after_the_deadline_counts_expired(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    before = scrape(e2e.app.url)
    e2e.clock.advance(31)  # the harness' confirm timeout is 30 s
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))
    after = scrape(e2e.app.url)
    assert _outcomes(before, after) == {"expired": 1}
    assert delta(before, after, COVEO_COUNT, endpoint=DELETE) == 0


@pytest.fixture
def protected(tmp_path: Path) -> Iterator[Harness]:
    (tmp_path / "policy.toml").write_text(
        f'[typed_confirmation]\ntypes = []\nproduct_types = []\n[protected]\nids = ["{PROD}"]\n'
    )
    yield from build_harness(tmp_path)


def test_a_policy_refusal_counts_refused(protected: Harness) -> None:
    e2e = protected
    _linked(e2e)
    before = scrape(e2e.app.url)
    e2e.slack.send_command(ALICE, CHANNEL, PROD)
    e2e.slack.wait_for(lambda: [t for t in e2e.ephemeral_texts(ALICE) if "protected" in t])
    after = scrape(e2e.app.url)
    assert _outcomes(before, after) == {"refused": 1}
    assert delta(before, after, ACKS, kind="slash_command") == 1


def test_a_preview_coveo_cannot_give_counts_preview_failed(e2e: Harness) -> None:
    _linked(e2e)
    before = scrape(e2e.app.url)
    e2e.slack.send_command(ALICE, CHANNEL, "nosuchorg123")
    e2e.slack.wait_for(lambda: [t for t in e2e.ephemeral_texts(ALICE) if "No access" in t])
    after = scrape(e2e.app.url)
    assert _outcomes(before, after) == {"preview_failed": 1}
    assert delta(before, after, COVEO, endpoint=READ, status_class="4xx") == 1


def test_a_coveo_5xx_on_delete_counts_the_status_class_and_failed(e2e: Harness) -> None:
    _linked(e2e)
    card = e2e.request_card(ALICE, PROD)
    before = scrape(e2e.app.url)
    e2e.coveo.fail_next("DELETE", "/rest/organizations/", 500, body={"errorCode": "INTERNAL"})
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))
    after = scrape(e2e.app.url)
    assert _outcomes(before, after) == {"failed": 1}
    assert delta(before, after, COVEO, endpoint=DELETE, status_class="5xx") == 1
    assert delta(before, after, COVEO, endpoint=DELETE, status_class="2xx") == 0
    assert delta(before, after, COVEO_COUNT, endpoint=DELETE) == 1  # a 5xx is never re-sent


def test_an_unreachable_coveo_counts_error(e2e: Harness) -> None:
    _linked(e2e)
    before = scrape(e2e.app.url)
    e2e.coveo.stop()  # connection refused from now on
    e2e.slack.send_command(ALICE, CHANNEL, PROD)
    e2e.slack.wait_for(
        lambda: [t for t in e2e.ephemeral_texts(ALICE) if "Could not reach Coveo" in t]
    )
    after = scrape(e2e.app.url)
    # the read is retried on connection failures (RetryPolicy: 3 attempts)
    assert delta(before, after, COVEO, endpoint=READ, status_class="error") == 3
    assert delta(before, after, COVEO_COUNT, endpoint=READ) == 3
    assert _outcomes(before, after) == {"preview_failed": 1}


def test_a_forged_request_is_not_timed_as_an_ack(e2e: Harness) -> None:
    import httpx

    before = scrape(e2e.app.url)
    forged = httpx.post(
        f"{e2e.app.url}/slack/events",
        data={"command": "/delete-org", "text": PROD, "user_id": ALICE},
        headers={"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00"},
    )
    assert forged.status_code == 401
    e2e.slack.send_command(ALICE, CHANNEL, "help")
    after = _settled(e2e, lambda s: delta(before, s, ACKS, kind="slash_command") >= 1)
    assert delta(before, after, ACKS, kind="slash_command") == 1


def test_an_app_home_event_is_timed_as_an_event_and_its_publish_counted(e2e: Harness) -> None:
    before = scrape(e2e.app.url)
    assert e2e.slack.open_home(ALICE).status == 200
    e2e.slack.wait_for(lambda: e2e.slack.homes(ALICE))
    after = _settled(
        e2e, lambda s: delta(before, s, SLACK, method="views.publish", result="ok") >= 1
    )
    assert delta(before, after, ACKS, kind="event") == 1
    assert delta(before, after, SLACK, method="views.publish", result="ok") == 1


def test_the_freeze_gauge_follows_the_store(e2e: Harness) -> None:
    assert scrape(e2e.app.url).value("delete_org_frozen") == 0
    e2e.store.set_freeze(frozen=True, by_user="U0ADMIN0001", reason="audit", now=e2e.clock())
    assert scrape(e2e.app.url).value("delete_org_frozen") == 1


def test_metrics_are_served_without_the_slack_route_as_in_socket_mode(e2e: Harness) -> None:
    import httpx

    # cli.run serves Socket Mode this way: no Bolt app on HTTP, the runtime's routes on PORT.
    server = ServerThread(
        make_http_server(None, "127.0.0.1", 0, e2e.runtime.routes), name="socket-mode-http"
    ).start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        assert "delete_org_build_info" in scrape(url).text
        assert httpx.post(f"{url}/slack/events", content=b"{}").status_code == 404
    finally:
        server.stop()


# -- cardinality -----------------------------------------------------------------------------
USER = "U0ZQXWVKJ7P"
CHANNEL_ID = "C0ZQXWYH4BM"
ORG = "zqxwcardinalityorg7k3m"
TOKEN = "fake-coveo-token-zqxw-distinct-9182"


def _allowed_label_values() -> dict[str, set[str]]:
    return {
        "outcome": set(OUTCOMES),
        "kind": set(LISTENER_KINDS),
        "endpoint": {template for _, _, template in ENDPOINTS} | {OTHER},
        "status_class": {f"{n}xx" for n in range(1, 6)} | {ERROR},
        "result": {OK, OTHER, CONNECTION_ERROR, HTTP_ERROR} | KNOWN_ERRORS,
        "status": set(LINK_STATUSES) | {"other"},
    }


def test_no_label_holds_a_token_an_org_or_a_slack_id(e2e: Harness) -> None:
    e2e.slack.add_user(USER, "zed")
    e2e.slack.add_channel(CHANNEL_ID, "zqxw-ops")
    e2e.coveo.add_organization(FakeOrganization(ORG, "Zqxw Cardinality"))
    e2e.coveo.add_token(FakeToken(TOKEN, "zed@example.com", "zed@example.com"))
    assert e2e.link(USER, TOKEN).status == 200
    e2e.slack.wait_for(lambda: e2e.store.get_link("T0TEST0001", USER))
    card = e2e.request_card(USER, ORG, channel=CHANNEL_ID)
    e2e.slack.click(USER, channel_id=CHANNEL_ID, message_ts=card.ts, action_id=ACTION_CONFIRM)
    e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL_ID, card.ts))
    e2e.slack.send_command(USER, CHANNEL_ID, "nosuch" + ORG)  # a refused preview too
    e2e.slack.wait_for(lambda: [t for t in e2e.ephemeral_texts(USER) if "No access" in t])
    scraped = _settled(e2e, lambda s: s.value(REQUESTS, outcome="preview_failed") == 1)
    assert scraped.value(REQUESTS, outcome="deleted") == 1

    secrets = [
        USER,
        CHANNEL_ID,
        ORG,
        TOKEN,
        "T0TEST0001",
        e2e.environ["SLACK_BOT_TOKEN"],
        e2e.environ["SLACK_SIGNING_SECRET"],
        e2e.environ["DELETE_ORG_ENCRYPTION_KEY"],
        card.ts,
    ]
    assert [value for value in secrets if value in scraped.text] == []
    allowed = _allowed_label_values()
    for (name, labels), _ in scraped.samples.items():
        for key, value in labels:
            if key == "le" or (name == "delete_org_build_info" and key == "version"):
                continue
            if key == "method":
                assert re.fullmatch(r"[a-z]+(\.[A-Za-z]+){1,3}|other", value), (name, value)
                continue
            assert value in allowed[key], (name, key, value)
