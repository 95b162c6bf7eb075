"""The real ``delete-org-bot`` process with LOG_FORMAT=json at DEBUG, through a whole flow
(Sign in with Coveo, /delete-org, Confirm, the DELETE, a cancelled card): every stderr line is
one JSON object, the flow's lines carry their context, and no secret appears anywhere."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from conftest import ALICE, APP_SCRIPT, CHANNEL, SIGNING_SECRET, process_env
from cryptography.fernet import Fernet

from bot.config import OAUTH_CALLBACK_PATH
from bot.crypto import TokenCipher
from bot.emulator import browser
from bot.emulator.coveo import FakeCoveo
from bot.emulator.coveo_oauth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from bot.emulator.harness import sign_in_url
from bot.emulator.slack import FakeSlack
from handlers.ids import ACTION_CANCEL, ACTION_CONFIRM, ACTION_SIGN_IN_REGION
from storage import Store

PROD = "exampleprodus4k7q2m"
SANDBOX = "examplesandboxus2r9t5w"
FLOW_EVENTS = {"requested", "confirmed", "deleted", "cancelled"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_action(slack: FakeSlack, action_id: str) -> list[Any]:
    return [e for e in slack.ephemerals(ALICE) if action_id in json.dumps(e.blocks)]


def _sign_in(slack: FakeSlack) -> str:
    """Link ALICE with Sign in with Coveo (region US, identity admin_us); returns the code."""
    slack.send_command(ALICE, CHANNEL, "link")
    choice = slack.wait_for(lambda: _with_action(slack, ACTION_SIGN_IN_REGION + "us"))[-1]
    slack.click(
        ALICE,
        channel_id=CHANNEL,
        message_ts=choice.ts,
        action_id=ACTION_SIGN_IN_REGION + "us",
        ephemeral=True,
    )
    url = slack.wait_for(
        lambda: [u for e in slack.ephemerals(ALICE) if (u := sign_in_url(e.blocks))]
    )[-1]
    with httpx.Client(trust_env=False, timeout=10) as client:
        page = browser.open_page(client, url)
        index = next(
            i for i, c in enumerate(page.choices) if c.fields.get("identity") == "admin_us"
        )
        final = browser.choose(client, page, index)
    assert "Linked as" in final.text, final.text
    return parse_qs(urlsplit(final.url).query)["code"][0]


def test_json_logs_of_a_whole_flow_parse_carry_context_and_hold_no_secret(
    tmp_path: Path,
) -> None:
    key = Fernet.generate_key().decode()
    port = _free_port()
    public_url = f"http://127.0.0.1:{port}"
    policy = tmp_path / "policy.toml"
    policy.write_text("[typed_confirmation]\ntypes = []\nproduct_types = []\n")
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack, FakeCoveo() as coveo:
        tokens = coveo.seed_demo()
        slack.add_channel(CHANNEL, "general")
        coveo.oauth.register_client(
            DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, [public_url + OAUTH_CALLBACK_PATH]
        )
        env = process_env(
            slack,
            coveo,
            tmp_path,
            LOG_FORMAT="json",
            LOG_LEVEL="DEBUG",
            PORT=str(port),
            PUBLIC_URL=public_url,
            COVEO_OAUTH_CLIENT_ID=DEMO_CLIENT_ID,
            COVEO_OAUTH_CLIENT_SECRET=DEMO_CLIENT_SECRET,
            DELETE_ORG_ENCRYPTION_KEY=key,
            DELETE_ORG_POLICY=str(policy),
            DELETE_ORG_SWEEP_INTERVAL="1",
        )
        proc = subprocess.Popen(
            [str(APP_SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if httpx.get(public_url + "/healthz", trust_env=False).text == "ok":
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "app did not start"
                time.sleep(0.05)
            slack.app_url = public_url
            code = _sign_in(slack)
            slack.send_command(ALICE, CHANNEL, PROD)
            card = slack.wait_for(lambda: slack.messages(CHANNEL, include_replies=False))[0]
            slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
            reply = slack.wait_for(lambda: slack.thread(CHANNEL, card.ts), timeout=10)[0]
            assert "No Content" in reply.text
            slack.send_command(ALICE, CHANNEL, SANDBOX)
            second = slack.wait_for(lambda: slack.messages(CHANNEL, include_replies=False)[1:])[0]
            slack.click(ALICE, channel_id=CHANNEL, message_ts=second.ts, action_id=ACTION_CANCEL)
            slack.wait_for(lambda: slack.thread(CHANNEL, second.ts), timeout=10)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        store = Store(Path(env["DELETE_ORG_DB"]), TokenCipher([key]))
        try:
            link = store.get_link(slack.team_id, ALICE)
            assert link is not None
            refresh = store.oauth.read_refresh_token(slack.team_id, ALICE)
        finally:
            store.close()

    assert proc.returncode == 0, err[-2000:]
    records = [json.loads(line) for line in err.splitlines()]  # every line is one object
    assert records and all(isinstance(r, dict) and "message" in r for r in records)
    assert any(r["level"] == "DEBUG" for r in records)
    assert not any("redacted" in r for r in records)  # the filter's marker is no field

    flow = [r for r in records if r.get("event") in FLOW_EVENTS]
    assert {r["event"] for r in flow} == FLOW_EVENTS
    for record in flow:
        assert record["request_id"] and record["workspace"] == slack.team_id, record
        assert record["org_id"] in (PROD, SANDBOX), record
    deleted = next(r for r in flow if r["event"] == "deleted")
    assert deleted["org_id"] == PROD and deleted["message"] == "request ended: deleted"

    secrets = {
        "bot token": env["SLACK_BOT_TOKEN"],
        "signing secret": SIGNING_SECRET,
        "encryption key": key,
        "OAuth client secret": DEMO_CLIENT_SECRET,
        "OAuth code": code,
        "Coveo access token": link.token,
        "refresh token": refresh or "",
        **{f"demo token {name}": value for name, value in tokens.items()},
        "response URL": "/hooks/",  # every response URL of the fake Slack has this path
    }
    raw = out + err
    leaked = [name for name, value in secrets.items() if value and value in raw]
    assert leaked == []
