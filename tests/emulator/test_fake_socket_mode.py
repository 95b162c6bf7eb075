"""The fake Socket Mode server itself, driven by slack_sdk's own built-in client (the one the
app runs) over a real loopback WebSocket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.emulator.slack import FakeSlack
from bot.emulator.socket_mode import APP_TOKEN, Ack, FakeSocketMode


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSocketMode]:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with FakeSlack(signing_secret="unused") as slack, FakeSocketMode(slack) as socket:
        yield socket


def _client(fake: FakeSocketMode, seen: list[dict[str, Any]]) -> SocketModeClient:
    client = SocketModeClient(
        APP_TOKEN, web_client=WebClient(base_url=fake.slack.api_url), ping_interval=1
    )

    def on_message(raw: str) -> None:
        seen.append(json.loads(raw))

    def on_request(c: Any, req: SocketModeRequest) -> None:
        c.send_socket_mode_response(SocketModeResponse(req.envelope_id, {"got": req.type}))

    client.on_message_listeners.append(on_message)
    client.socket_mode_request_listeners.append(on_request)
    return client


def _close(fake: FakeSocketMode, client: SocketModeClient) -> None:
    """Close without waiting out the SDK reader's 3 s socket timeout: the server closes too."""
    client.auto_reconnect_enabled = False
    fake.stop()
    client.close()


def test_hello_then_envelopes_are_acked_and_recorded(fake: FakeSocketMode) -> None:
    seen: list[dict[str, Any]] = []
    client = _client(fake, seen)
    client.connect()
    try:
        fake.wait_for_connection(1)
        ack = fake.deliver(
            "slash_commands",
            {"command": "/delete-org", "text": "help"},
            accepts_response_payload=True,
        )
        assert isinstance(ack, Ack) and ack.payload == {"got": "slash_commands"}
        assert ack.connection == 1
        hello = seen[0]
        assert hello["type"] == "hello" and hello["num_connections"] == 1
        assert hello["connection_info"]["app_id"]
        envelope = seen[1]
        assert envelope["type"] == "slash_commands" and envelope["accepts_response_payload"]
        assert envelope["payload"]["text"] == "help" and "retry_attempt" not in envelope
        again = fake.redeliver(envelope["envelope_id"])
        assert isinstance(again, Ack) and again.envelope_id == envelope["envelope_id"]
        assert seen[-1]["retry_attempt"] == 1 and seen[-1]["retry_reason"] == "timeout"
    finally:
        _close(fake, client)


def test_events_api_envelopes_carry_retry_fields(fake: FakeSocketMode) -> None:
    seen: list[dict[str, Any]] = []
    client = _client(fake, seen)
    client.connect()
    try:
        fake.wait_for_connection(1)
        envelope_id = fake.deliver_event({"type": "app_mention", "text": "hi"})
        assert isinstance(envelope_id, str)
        fake.wait_for_ack(envelope_id)
        [envelope] = fake.envelopes("events_api")
        assert (envelope["retry_attempt"], envelope["retry_reason"]) == (0, "")
        assert envelope["payload"]["type"] == "event_callback"
        assert envelope["payload"]["event"]["type"] == "app_mention"
    finally:
        _close(fake, client)


def test_connections_open_needs_the_app_token_and_each_url_admits_one_connection(
    fake: FakeSocketMode,
) -> None:
    with pytest.raises(SlackApiError) as refused:
        WebClient(base_url=fake.slack.api_url).apps_connections_open(app_token="xapp-test-wrong")
    assert refused.value.response["error"] == "invalid_auth"
    url = WebClient(base_url=fake.slack.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith(f"ws://127.0.0.1:{fake.port}/link/?ticket=")

    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with connect(url, compression=None) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
    with pytest.raises(InvalidStatus) as used:
        connect(url, compression=None)
    assert used.value.response.status_code == 401
