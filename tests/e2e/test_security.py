"""End to end: forged and stale signatures, and secrets never stored or shown in clear."""

from __future__ import annotations

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
