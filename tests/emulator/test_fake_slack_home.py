"""The fake Slack's App Home (bot/emulator/slack_home.py): views.publish checks and records,
signed app_home_opened events, and clicks on the published Home."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.emulator.slack import FakeSlack, sign_request
from bot.emulator.slack_home import HOME_MAX_BLOCKS
from tests.emulator.test_fake_slack import (
    SECRET,
    TOKEN,
    USER,
    RecordingApp,
    _serve_recording_app,
    api_error,
)

HOME: dict[str, Any] = {
    "type": "home",
    "callback_id": "home",
    "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Hello"}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "relink",
                    "text": {"type": "plain_text", "text": "Relink"},
                    "value": "v",
                }
            ],
        },
    ],
}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(signing_secret=SECRET) as fs:
        fs.add_user(USER, "alice")
        yield fs


@pytest.fixture
def recording(fake: FakeSlack) -> Iterator[RecordingApp]:
    app = RecordingApp()
    server, thread = _serve_recording_app(app)
    fake.app_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=fake.api_url)


def test_publish_records_the_latest_home_per_user(fake: FakeSlack, client: WebClient) -> None:
    assert fake.home(USER) is None
    first = client.views_publish(user_id=USER, view=HOME)
    assert first["view"]["type"] == "home" and first["view"]["id"].startswith("V")
    changed = {**HOME, "blocks": HOME["blocks"][:1]}
    second = client.views_publish(user_id=USER, view=changed, hash=first["view"]["hash"])
    assert second["view"]["id"] == first["view"]["id"]  # one Home per user
    home = fake.home(USER)
    assert home is not None and home.view == changed
    assert [h.view for h in fake.homes(USER)] == [HOME, changed]


def test_publish_checks_user_view_blocks_and_hash(fake: FakeSlack, client: WebClient) -> None:
    assert api_error(lambda: client.views_publish(user_id="U0NOBODY01", view=HOME))[0] == (
        "user_not_found"
    )
    assert api_error(lambda: client.api_call("views.publish", json={"view": HOME}))[0] == (
        "invalid_arguments"
    )
    modal = {**HOME, "type": "modal"}
    assert api_error(lambda: client.views_publish(user_id=USER, view=modal))[0] == (
        "invalid_arguments"
    )
    too_many = {**HOME, "blocks": [{"type": "divider"}] * (HOME_MAX_BLOCKS + 1)}
    assert api_error(lambda: client.views_publish(user_id=USER, view=too_many))[0] == (
        "invalid_blocks"
    )
    long_text = {
        **HOME,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
    }
    assert api_error(lambda: client.views_publish(user_id=USER, view=long_text))[0] == (
        "invalid_blocks"
    )
    at_limit = {**HOME, "blocks": [{"type": "divider"}] * HOME_MAX_BLOCKS}
    client.views_publish(user_id=USER, view=at_limit)
    assert api_error(lambda: client.views_publish(user_id=USER, view=HOME, hash="stale"))[0] == (
        "hash_conflict"
    )
    assert [h.view for h in fake.homes(USER)] == [at_limit]  # refused ones are not recorded


def test_open_home_sends_a_signed_app_home_opened_event(
    fake: FakeSlack, client: WebClient, recording: RecordingApp
) -> None:
    assert fake.open_home(USER).status == 200
    client.views_publish(user_id=USER, view=HOME)
    assert fake.open_home(USER, tab="messages").kind == "event"
    first, second = recording.requests
    assert first.headers["content-type"] == "application/json"
    ts = first.headers["x-slack-request-timestamp"]
    assert abs(int(ts) - time.time()) < 5
    assert first.headers["x-slack-signature"] == sign_request(SECRET, ts, first.raw)
    body = json.loads(first.raw)
    assert body["type"] == "event_callback" and body["team_id"] == fake.team_id
    assert body["event"]["type"] == "app_home_opened"
    assert body["event"]["user"] == USER and body["event"]["tab"] == "home"
    assert "view" not in body["event"]  # nothing published yet
    later = json.loads(second.raw)["event"]
    assert later["tab"] == "messages" and later["view"]["type"] == "home"


def test_click_home_posts_a_view_container_payload(
    fake: FakeSlack, client: WebClient, recording: RecordingApp
) -> None:
    with pytest.raises(LookupError):
        fake.click_home(USER, "relink")
    client.views_publish(user_id=USER, view=HOME)
    assert fake.click_home(USER, "relink").status == 200
    payload = recording.requests[-1].payload
    assert payload["type"] == "block_actions"
    assert payload["container"]["type"] == "view"
    assert payload["view"]["type"] == "home" and payload["view"]["id"]
    assert payload["actions"][0]["action_id"] == "relink"
    assert "response_url" not in payload and "channel" not in payload
    assert payload["trigger_id"]
    with pytest.raises(LookupError):
        fake.click_home(USER, "missing")
