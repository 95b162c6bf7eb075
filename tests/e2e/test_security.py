"""End to end: forged and stale signatures, and secrets never stored or shown in clear."""

from __future__ import annotations

import json
import logging
import time
import urllib.parse

import pytest
from conftest import ALICE, CHANNEL, SIGNING_SECRET, Harness

from bot.emulator.slack import sign_request
from handlers.ids import ACTION_CONFIRM

PROD = "exampleprodus4k7q2m"


def _command_body(text: str) -> bytes:
    return urllib.parse.urlencode(
        {
            "team_id": "T0TEST0001",
            "user_id": ALICE,
            "channel_id": CHANNEL,
            "command": "/delete-org",
            "text": text,
            "response_url": "http://127.0.0.1:9/hooks/never",
            "trigger_id": "1.2.3",
        }
    ).encode()


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "stale", "future", "body_changed", "missing"],
)
def test_bad_signatures_are_rejected_and_change_nothing(e2e: Harness, tamper: str) -> None:
    e2e.link(ALICE, "admin_us")
    body = _command_body(PROD)
    now = int(time.time())
    timestamp = now
    signature = sign_request(SIGNING_SECRET, str(now), body)
    if tamper == "wrong_secret":
        signature = sign_request("some-other-secret", str(now), body)
    elif tamper == "stale":
        timestamp = now - 301
        signature = sign_request(SIGNING_SECRET, str(timestamp), body)
    elif tamper == "future":
        timestamp = now + 301
        signature = sign_request(SIGNING_SECRET, str(timestamp), body)
    elif tamper == "body_changed":
        body = _command_body("examplesandboxus2r9t5w")
    elif tamper == "missing":
        signature = ""
    coveo_calls = len(e2e.coveo.requests())
    events = len(e2e.store.audit_events())
    response = e2e.slack.post_signed(
        body, "application/x-www-form-urlencoded", timestamp=timestamp, signature=signature
    )
    assert response.status == 401
    time.sleep(0.3)  # give a wrongly accepted request time to show its effects
    assert len(e2e.coveo.requests()) == coveo_calls
    assert len(e2e.store.audit_events()) == events
    assert e2e.slack.messages(CHANNEL) == []


def test_token_never_in_clear_in_logs_slack_or_database(
    e2e: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = e2e.tokens["admin_us"]
    e2e.link(ALICE, "admin_us")
    card = e2e.request_card(ALICE, PROD)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))
    # a refused token too
    e2e.link(ALICE, "expired")
    assert token not in caplog.text
    assert e2e.tokens["expired"] not in caplog.text
    for call in e2e.slack.calls():
        assert token not in str(call.params)
    for message in e2e.slack.messages(CHANNEL):
        assert token not in message.text and token not in str(message.blocks)
    for ephemeral in e2e.slack.ephemerals():
        assert token not in ephemeral.text and token not in str(ephemeral.blocks)
    e2e.store.close()
    for suffix in ("", "-wal", "-shm"):
        path = e2e.db_path.with_name(e2e.db_path.name + suffix)
        if path.exists():
            assert token.encode() not in path.read_bytes()


def test_bad_signature_never_logs_the_body(e2e: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # Bolt copies the root level into its loggers when the app is built; the CLI runs at INFO.
    caplog.set_level(logging.INFO, logger="slack_bolt.RequestVerification")
    token = e2e.tokens["admin_us"]
    body = urllib.parse.urlencode(
        {"payload": json.dumps({"type": "view_submission", "token_field": token})}
    ).encode()
    response = e2e.slack.post_signed(
        body,
        "application/x-www-form-urlencoded",
        signature=sign_request("wrong", str(int(time.time())), body),
    )
    assert response.status == 401
    assert "Invalid request signature" in caplog.text
    assert token not in caplog.text


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
        (b"payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
        (b"{]", "application/json"),
    ],
)
def test_malformed_bodies_get_a_client_error_not_a_crash(
    e2e: Harness, body: bytes, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = e2e.slack.post_signed(body, content_type, signature="v0=" + "0" * 64)
    assert 400 <= response.status < 500
    assert "Traceback" not in caplog.text


def test_token_typed_as_an_org_id_is_refused_and_never_stored_or_sent(e2e: Harness) -> None:
    e2e.link(ALICE, "admin_us")
    pasted = "xx27ea823a-e994-4d34-a4cb-1a2b3c4d5e6f"
    response = e2e.slack.send_command(ALICE, CHANNEL, pasted)
    assert "looks like an access token" in response.body
    assert pasted not in response.body
    time.sleep(0.3)
    assert e2e.coveo.requests(path_prefix="/rest") == []
    assert all(pasted not in str(ev) for ev in e2e.store.audit_events())


@pytest.mark.parametrize(
    "state",
    [
        {"values": []},
        {"values": {"token": "a-string"}},
        {
            "values": {
                "token": {"token_input": {"value": 5}},
                "region": {"region_select": {"selected_option": "us"}},
            }
        },
        "not-a-dict",
    ],
)
def test_odd_view_state_gets_an_inline_error_not_a_crash(e2e: Harness, state: object) -> None:
    import json

    e2e.slack.send_command(ALICE, CHANNEL, "link")
    view = e2e.slack.wait_for(lambda: e2e.slack.views(ALICE, open_only=True))[-1]
    payload = {
        "type": "view_submission",
        "team": {"id": "T0TEST0001"},
        "user": {"id": ALICE, "team_id": "T0TEST0001"},
        "api_app_id": "A0APP00001",
        "view": {
            "id": view.id,
            "type": "modal",
            "callback_id": "delete_org_link_modal",
            "state": state,
            "private_metadata": "{}",
        },
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    response = e2e.slack.post_signed(body, "application/x-www-form-urlencoded")
    assert response.status == 200
    assert "errors" in response.body
    assert e2e.store.get_link("T0TEST0001", ALICE) is None


def test_refused_non_ascii_token_after_a_link_causes_no_internal_error(
    e2e: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    e2e.link(ALICE, "admin_us")
    e2e.slack.wait_for(lambda: [t for t in e2e.ephemeral_texts(ALICE) if "Linked as" in t])
    response = e2e.link(ALICE, "tökén")
    assert response.status == 200
    time.sleep(0.5)
    assert "unexpected error" not in caplog.text
    assert not [t for t in e2e.ephemeral_texts(ALICE) if "Something went wrong" in t]
