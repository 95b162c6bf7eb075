"""Tests for bot.emulator.slack.FakeSlack over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.emulator.slack import (
    RESPONSE_URL_MAX_USES,
    AppResponse,
    FakeSlack,
    sign_request,
)

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-not-a-real-token"
USER = "U0ALICE001"
PUB = "C0PUBLIC01"
PRIV = "C0PRIVATE1"
OUTSIDE = "C0OUTSIDE1"
SECRET_ROOM = "C0SECRET01"
DM = "D0DM000001"

BUTTONS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Delete *acme*?"}},
    {
        "type": "actions",
        "block_id": "confirm_block",
        "elements": [
            {
                "type": "button",
                "action_id": "confirm",
                "text": {"type": "plain_text", "text": "Confirm"},
                "value": "acme",
                "style": "danger",
            },
            {
                "type": "button",
                "action_id": "cancel",
                "text": {"type": "plain_text", "text": "Cancel"},
                "value": "acme",
            },
        ],
    },
]

MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "link_token",
    "private_metadata": json.dumps({"channel_id": PUB}),
    "title": {"type": "plain_text", "text": "Link"},
    "submit": {"type": "plain_text", "text": "Save"},
    "blocks": [
        {
            "type": "input",
            "block_id": "token_block",
            "label": {"type": "plain_text", "text": "Token"},
            "element": {"type": "plain_text_input", "action_id": "token_input"},
        },
        {
            "type": "input",
            "block_id": "region_block",
            "label": {"type": "plain_text", "text": "Region"},
            "element": {
                "type": "static_select",
                "action_id": "region_select",
                "options": [
                    {"text": {"type": "plain_text", "text": "US"}, "value": "us"},
                    {"text": {"type": "plain_text", "text": "EU"}, "value": "eu"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "note_block",
            "optional": True,
            "label": {"type": "plain_text", "text": "Note"},
            "element": {"type": "plain_text_input", "action_id": "note_input"},
        },
    ],
}


# --------------------------------------------------------------------------------------
# A tiny recording "app" that checks Slack signatures
# --------------------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes
    form: dict[str, str]

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.form["payload"])
        return data


Responder = Callable[[Received], tuple[int, str, str]]


@dataclass
class RecordingApp:
    """HTTP server standing in for the Bolt app: verifies the signature, records bodies."""

    requests: list[Received] = field(default_factory=list)
    responder: Responder = lambda _r: (200, "text/plain", "")
    verifier: SignatureVerifier = field(default_factory=lambda: SignatureVerifier(SECRET))

    def handle(self, headers: dict[str, str], raw: bytes) -> tuple[int, str, str]:
        if not self.verifier.is_valid_request(raw, headers):
            return 401, "application/json", '{"error": "invalid request"}'
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        received = Received(headers=headers, raw=raw, form=form)
        self.requests.append(received)
        return self.responder(received)


def _serve_recording_app(app: RecordingApp) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            assert self.path == "/slack/events"
            status, ctype, body = app.handle(headers, raw)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    return server, thread


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(signing_secret=SECRET) as fs:
        fs.add_user(USER, "alice")
        fs.add_channel(PUB, "general")
        fs.add_channel(PRIV, "ops", kind="private")
        fs.add_channel(OUTSIDE, "random", bot_is_member=False)
        fs.add_channel(SECRET_ROOM, "hidden", kind="private", bot_is_member=False)
        fs.add_channel(DM, "alice", kind="im", bot_is_member=False)
        yield fs


@pytest.fixture
def app(fake: FakeSlack) -> Iterator[RecordingApp]:
    recording = RecordingApp()
    server, thread = _serve_recording_app(recording)
    fake.app_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield recording
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=fake.api_url)


def api_error(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value.response["error"], info.value.response.status_code


def respond_json(data: dict[str, Any]) -> Responder:
    return lambda _r: (200, "application/json", json.dumps(data))


# --------------------------------------------------------------------------------------
# Web API
# --------------------------------------------------------------------------------------


def test_urls_and_auth_test(fake: FakeSlack, client: WebClient) -> None:
    assert fake.api_url == fake.url + "/api/"
    assert fake.url.startswith("http://127.0.0.1:")
    result = client.auth_test()
    assert result["user_id"] == "U0BOT00001"
    assert result["team_id"] == "T0TEST0001"
    assert result["bot_id"] == "B0BOT00001"
    assert result["is_enterprise_install"] is False

    bad = WebClient(token="xoxb-wrong", base_url=fake.api_url)
    assert api_error(bad.auth_test) == ("invalid_auth", 200)
    calls = fake.calls("auth.test")
    assert [c.token for c in calls] == [TOKEN, "xoxb-wrong"]
    assert all(c.at > 0 for c in calls)

    assert api_error(lambda: client.api_call("no.such.method"))[0] == "unknown_method"


def test_post_message_threads_and_ordering(fake: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel=PUB, text="hello", blocks=BUTTONS)
    assert first["ok"] and first["channel"] == PUB
    assert first["ts"] == "1700000000.000100"
    assert first["message"]["bot_id"] == "B0BOT00001"
    assert first["message"]["blocks"] == BUTTONS
    reply = client.chat_postMessage(channel=PUB, text="in thread", thread_ts=first["ts"])
    assert reply["message"]["thread_ts"] == first["ts"]
    # replying to a reply lands in the same thread
    nested = client.chat_postMessage(channel=PUB, text="nested", thread_ts=reply["ts"])
    assert nested["message"]["thread_ts"] == first["ts"]
    second = client.chat_postMessage(channel=PRIV, text="private ok")
    assert float(second["ts"]) > float(nested["ts"]) > float(reply["ts"]) > float(first["ts"])

    assert [m.text for m in fake.messages(PUB)] == ["hello", "in thread", "nested"]
    assert [m.text for m in fake.messages(PUB, include_replies=False)] == ["hello"]
    assert [m.text for m in fake.thread(PUB, first["ts"])] == ["in thread", "nested"]
    stored = fake.message(PUB, first["ts"])
    assert stored.bot and stored.user is None and stored.via == "api" and not stored.edited
    assert stored.thread_ts is None
    call = fake.calls("chat.postMessage")[0]
    assert call.params["channel"] == PUB and call.params["blocks"] == BUTTONS
    assert call.token == TOKEN
    with pytest.raises(LookupError):
        fake.message(PUB, "1.2")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C0UNKNOWN0", "text": "x"}, "channel_not_found"),
        ({"channel": SECRET_ROOM, "text": "x"}, "channel_not_found"),
        ({"channel": DM, "text": "x"}, "channel_not_found"),
        ({"channel": OUTSIDE, "text": "x"}, "not_in_channel"),
        ({"channel": PUB}, "no_text"),
        ({"channel": PUB, "text": "", "blocks": []}, "no_text"),
        ({"channel": PUB, "text": "x", "blocks": [{"text": "no type"}]}, "invalid_blocks"),
        ({"channel": PUB, "text": "x", "thread_ts": "1600000000.000001"}, "thread_not_found"),
    ],
)
def test_post_message_errors(
    fake: FakeSlack, client: WebClient, kwargs: dict[str, Any], error: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # slack_sdk warns about missing text
        assert api_error(lambda: client.chat_postMessage(**kwargs)) == (error, 200)
    assert fake.messages(kwargs["channel"]) == []


def test_archived_channel(fake: FakeSlack, client: WebClient) -> None:
    fake.set_channel(PUB, archived=True)
    assert api_error(lambda: client.chat_postMessage(channel=PUB, text="x"))[0] == "is_archived"
    fake.set_channel(OUTSIDE, bot_is_member=True)
    assert client.chat_postMessage(channel=OUTSIDE, text="joined")["ok"]


def test_chat_update_and_delete(fake: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=PUB, text="pending", blocks=BUTTONS)
    updated = client.chat_update(channel=PUB, ts=posted["ts"], text="done")
    assert updated["ts"] == posted["ts"] and updated["text"] == "done"
    stored = fake.message(PUB, posted["ts"])
    assert stored.text == "done" and stored.edited and stored.blocks == BUTTONS
    client.chat_update(channel=PUB, ts=posted["ts"], text="done", blocks=[])
    assert fake.message(PUB, posted["ts"]).blocks == []

    human = fake.post_user_message(USER, PUB, "hi bot")
    assert api_error(lambda: client.chat_update(channel=PUB, ts=human.ts, text="x")) == (
        "cant_update_message",
        200,
    )
    assert api_error(lambda: client.chat_update(channel=PUB, ts="1.000001", text="x"))[0] == (
        "message_not_found"
    )
    assert api_error(lambda: client.chat_update(channel=OUTSIDE, ts=posted["ts"], text="x"))[0] == (
        "not_in_channel"
    )

    # form-encoded body with JSON-encoded blocks, token as a form field
    form_client = WebClient(base_url=fake.api_url)
    result = form_client.api_call(
        "chat.update",
        params={
            "token": TOKEN,
            "channel": PUB,
            "ts": posted["ts"],
            "text": "form",
            "blocks": json.dumps(BUTTONS[:1]),
        },
    )
    assert result["ok"]
    assert fake.message(PUB, posted["ts"]).blocks == BUTTONS[:1]
    last = fake.calls("chat.update")[-1]
    assert last.token == TOKEN and "token" not in last.params
    assert last.params["blocks"] == BUTTONS[:1]

    assert client.chat_delete(channel=PUB, ts=posted["ts"])["ok"]
    assert [m.ts for m in fake.messages(PUB)] == [human.ts]
    assert api_error(lambda: client.chat_delete(channel=PUB, ts=human.ts))[0] == (
        "cant_delete_message"
    )


def test_post_ephemeral(fake: FakeSlack, client: WebClient) -> None:
    result = client.chat_postEphemeral(channel=PUB, user=USER, text="only you", blocks=BUTTONS)
    assert result["message_ts"]
    (eph,) = fake.ephemerals(USER)
    assert eph.channel == PUB and eph.text == "only you" and eph.ts == result["message_ts"]
    assert eph.blocks == BUTTONS and eph.thread_ts is None
    assert eph.response_url.startswith(fake.url + "/hooks/")
    assert fake.ephemerals(channel_id=PRIV) == []
    assert fake.messages(PUB) == []
    err = api_error(lambda: client.chat_postEphemeral(channel=OUTSIDE, user=USER, text="x"))
    assert err == ("not_in_channel", 200)
    err = api_error(lambda: client.chat_postEphemeral(channel=DM, user=USER, text="x"))
    assert err == ("channel_not_found", 200)


def test_conversations_and_users_info(fake: FakeSlack, client: WebClient) -> None:
    info = client.conversations_info(channel=OUTSIDE)["channel"]
    assert info["name"] == "random" and info["is_member"] is False
    assert api_error(lambda: client.conversations_info(channel=SECRET_ROOM))[0] == (
        "channel_not_found"
    )
    assert client.users_info(user=USER)["user"]["name"] == "alice"
    assert api_error(lambda: client.users_info(user="U0NOBODY01"))[0] == "user_not_found"


def test_fail_method(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_method("chat.postMessage", "ratelimited", retry_after=7)
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=PUB, text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] in ("7", ["7"])
    assert client.chat_postMessage(channel=PUB, text="x")["ok"]

    fake.fail_method("chat.postMessage", "fatal_error", times=2, status=500, channel=PRIV)
    assert client.chat_postMessage(channel=PUB, text="unaffected")["ok"]
    assert api_error(lambda: client.chat_postMessage(channel=PRIV, text="x")) == (
        "fatal_error",
        500,
    )
    assert api_error(lambda: client.chat_postMessage(channel=PRIV, text="x"))[0] == "fatal_error"
    assert client.chat_postMessage(channel=PRIV, text="x")["ok"]
    # canned failures win over auth and are still recorded
    fake.fail_method("auth.test", "account_inactive")
    bad = WebClient(token="xoxb-wrong", base_url=fake.api_url)
    assert api_error(bad.auth_test)[0] == "account_inactive"
    assert len(fake.calls("chat.postMessage")) == 6


# --------------------------------------------------------------------------------------
# Slash commands (client side) and views
# --------------------------------------------------------------------------------------


def test_send_command_payload_and_signature(fake: FakeSlack, app: RecordingApp) -> None:
    response = fake.send_command(USER, PUB, "acme &lt;prod&gt;")
    assert response.status == 200 and response.body == "" and response.kind == "command"
    (req,) = app.requests
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    ts = req.headers["x-slack-request-timestamp"]
    assert abs(int(ts) - time.time()) < 5
    assert req.headers["x-slack-signature"] == sign_request(SECRET, ts, req.raw)
    form = req.form
    assert form["command"] == "/delete-org"
    assert form["text"] == "acme &lt;prod&gt;"
    assert form["user_id"] == USER and form["user_name"] == "alice"
    assert form["channel_id"] == PUB and form["channel_name"] == "general"
    assert form["team_id"] == "T0TEST0001" and form["team_domain"]
    assert form["is_enterprise_install"] == "false"
    assert form["api_app_id"] and form["token"] and form["trigger_id"]
    assert "enterprise_id" not in form
    assert form["response_url"].startswith(fake.url + "/hooks/")
    assert fake.app_responses() == [response]
    assert fake.ephemerals() == [] and fake.messages(PUB) == []

    fake.send_command(USER, DM, "x", command="/other", enterprise_id="E0ORG00001")
    form = app.requests[-1].form
    assert form["command"] == "/other" and form["enterprise_id"] == "E0ORG00001"
    assert form["channel_name"] == "directmessage"
    with pytest.raises(LookupError):
        fake.send_command(USER, "C0NOPE0001", "x")


def test_command_ack_bodies(fake: FakeSlack, app: RecordingApp) -> None:
    app.responder = lambda _r: (200, "text/plain;charset=utf-8", "Working on it")
    fake.send_command(USER, SECRET_ROOM, "acme")
    (eph,) = fake.ephemerals(USER, SECRET_ROOM)
    assert eph.text == "Working on it" and eph.blocks == []

    app.responder = respond_json({"text": "Confirm?", "blocks": BUTTONS})
    fake.send_command(USER, PUB, "acme")
    assert fake.ephemerals(USER, PUB)[0].blocks == BUTTONS

    app.responder = respond_json({"response_type": "in_channel", "text": "Public!"})
    fake.send_command(USER, OUTSIDE, "acme")
    (msg,) = fake.messages(OUTSIDE)
    assert msg.text == "Public!" and msg.bot and msg.via == "response_url"

    app.responder = lambda _r: (500, "text/plain", "boom")
    assert fake.send_command(USER, PUB, "acme").status == 500
    assert len(fake.ephemerals(USER, PUB)) == 1
    assert [r.status for r in fake.app_responses()] == [200, 200, 200, 500]


def test_views_open_update_and_trigger_rules(
    fake: FakeSlack, app: RecordingApp, client: WebClient
) -> None:
    opened: list[dict[str, Any]] = []

    def open_modal(req: Received) -> tuple[int, str, str]:
        data = client.views_open(trigger_id=req.form["trigger_id"], view=MODAL).data
        assert isinstance(data, dict)
        opened.append(data)
        return 200, "text/plain", ""

    app.responder = open_modal
    fake.send_command(USER, PUB, "link")
    view = opened[0]["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "link_token"
    assert view["private_metadata"] == MODAL["private_metadata"] and view["hash"]
    (ov,) = fake.views(USER)
    assert ov.id == view["id"] and ov.view == MODAL and not ov.closed
    trigger = app.requests[0].form["trigger_id"]
    assert ov.trigger_id == trigger

    assert api_error(lambda: client.views_open(trigger_id=trigger, view=MODAL))[0] == (
        "exchanged_trigger_id"
    )
    assert api_error(lambda: client.views_open(trigger_id="123.456.abc", view=MODAL))[0] == (
        "invalid_trigger_id"
    )
    app.responder = lambda _r: (200, "text/plain", "")
    fake.send_command(USER, PUB, "link")
    fresh = app.requests[-1].form["trigger_id"]
    fake.advance_clock(3.5)
    assert api_error(lambda: client.views_open(trigger_id=fresh, view=MODAL))[0] == (
        "expired_trigger_id"
    )

    new_view = {**MODAL, "title": {"type": "plain_text", "text": "Linked"}}
    updated = client.views_update(view_id=ov.id, view=new_view, hash=view["hash"])
    assert updated["view"]["title"]["text"] == "Linked"
    assert fake.views()[0].view == new_view
    assert api_error(lambda: client.views_update(view_id=ov.id, view=MODAL, hash="stale"))[0] == (
        "hash_conflict"
    )
    assert api_error(lambda: client.views_update(view_id="V0NOPE", view=MODAL))[0] == "not_found"


def _open_modal(fake: FakeSlack, app: RecordingApp, client: WebClient) -> str:
    def open_modal(req: Received) -> tuple[int, str, str]:
        client.views_open(trigger_id=req.form["trigger_id"], view=MODAL)
        return 200, "text/plain", ""

    app.responder = open_modal
    fake.send_command(USER, PUB, "link")
    return fake.views(USER, open_only=True)[-1].id


def test_submit_view_payload_and_response_actions(
    fake: FakeSlack, app: RecordingApp, client: WebClient
) -> None:
    view_id = _open_modal(fake, app, client)
    app.responder = respond_json(
        {"response_action": "errors", "errors": {"token_block": "Token looks wrong"}}
    )
    response = fake.submit_view(
        USER,
        view_id,
        {"token_block": {"token_input": "abc"}, "region_block": {"region_select": "eu"}},
    )
    assert response.status == 200 and response.kind == "view_submission"
    payload = app.requests[-1].payload
    assert payload["type"] == "view_submission"
    assert payload["user"]["id"] == USER and payload["user"]["team_id"] == "T0TEST0001"
    assert payload["team"]["id"] == "T0TEST0001" and payload["trigger_id"]
    assert payload["api_app_id"] and payload["token"]
    view = payload["view"]
    assert view["id"] == view_id and view["type"] == "modal"
    assert view["callback_id"] == "link_token" and view["hash"] and view["team_id"]
    assert json.loads(view["private_metadata"]) == {"channel_id": PUB}
    values = view["state"]["values"]
    assert values["token_block"]["token_input"] == {"type": "plain_text_input", "value": "abc"}
    assert values["region_block"]["region_select"] == {
        "type": "static_select",
        "selected_option": {"text": {"type": "plain_text", "text": "EU"}, "value": "eu"},
    }
    assert values["note_block"]["note_input"] == {"type": "plain_text_input", "value": None}
    assert "channel" not in payload and "response_url" not in payload
    assert fake.view_errors(view_id) == {"token_block": "Token looks wrong"}
    assert not fake.view(view_id).closed

    updated = {**MODAL, "title": {"type": "plain_text", "text": "Step 2"}}
    app.responder = respond_json({"response_action": "update", "view": updated})
    fake.submit_view(USER, view_id, {"token_block": {"token_input": "good"}})
    assert fake.view(view_id).view == updated and not fake.view(view_id).closed
    assert fake.view_errors(view_id) == {}

    app.responder = lambda _r: (200, "text/plain", "")
    fake.submit_view(USER, view_id, {"token_block": {"token_input": "good"}})
    assert fake.view(view_id).closed
    with pytest.raises(LookupError):
        fake.submit_view(USER, view_id, {})

    second = _open_modal(fake, app, client)
    app.responder = respond_json({"response_action": "clear"})
    fake.submit_view(USER, second, {"token_block": {"token_input": "x"}})
    assert fake.views(USER, open_only=True) == []


# --------------------------------------------------------------------------------------
# Clicks and response_url
# --------------------------------------------------------------------------------------


def test_click_payload_on_channel_message(
    fake: FakeSlack, app: RecordingApp, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel=PUB, text="Delete acme?", blocks=BUTTONS)
    response = fake.click(USER, channel_id=PUB, message_ts=posted["ts"], action_id="confirm")
    assert response.status == 200 and response.kind == "block_actions"
    req = app.requests[-1]
    assert list(req.form) == ["payload"]
    payload = req.payload
    assert payload["type"] == "block_actions"
    assert payload["user"] == {
        "id": USER,
        "username": "alice",
        "name": "alice",
        "team_id": "T0TEST0001",
    }
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": PUB,
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": PUB, "name": "general"}
    assert payload["team"]["id"] == "T0TEST0001" and payload["enterprise"] is None
    assert payload["is_enterprise_install"] is False and payload["trigger_id"]
    assert payload["state"] == {"values": {}}
    message = payload["message"]
    assert message["ts"] == posted["ts"] and message["text"] == "Delete acme?"
    assert message["blocks"] == BUTTONS and message["bot_id"] == "B0BOT00001"
    assert "thread_ts" not in message
    (action,) = payload["actions"]
    assert action["action_id"] == "confirm" and action["block_id"] == "confirm_block"
    assert action["value"] == "acme" and action["type"] == "button"
    assert action["text"]["text"] == "Confirm" and action["action_ts"]

    # thread reply carries thread_ts; missing message/action raise LookupError
    reply = client.chat_postMessage(
        channel=PUB, text="again", blocks=BUTTONS, thread_ts=posted["ts"]
    )
    fake.click(USER, channel_id=PUB, message_ts=reply["ts"], action_id="cancel")
    assert app.requests[-1].payload["message"]["thread_ts"] == posted["ts"]
    with pytest.raises(LookupError):
        fake.click(USER, channel_id=PUB, message_ts=posted["ts"], action_id="nope")
    with pytest.raises(LookupError):
        fake.click(USER, channel_id=PUB, message_ts="1.000001", action_id="confirm")


def test_click_response_url_replace_delete_and_thread(
    fake: FakeSlack, app: RecordingApp, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel=PUB, text="Delete acme?", blocks=BUTTONS)
    fake.click(USER, channel_id=PUB, message_ts=posted["ts"], action_id="confirm")
    hook = WebhookClient(app.requests[-1].payload["response_url"])

    assert hook.send(text="Deleting...", replace_original=True).status_code == 200
    msg = fake.message(PUB, posted["ts"])
    assert msg.text == "Deleting..." and msg.blocks == [] and msg.edited

    result = hook.send_dict(
        {
            "response_type": "in_channel",
            "replace_original": False,
            "thread_ts": posted["ts"],
            "text": "acme deleted",
        }
    )
    assert result.status_code == 200 and result.body == "ok"
    (reply,) = fake.thread(PUB, posted["ts"])
    assert reply.text == "acme deleted" and reply.via == "response_url" and reply.bot

    hook.send(text="only for you")
    assert [e.text for e in fake.ephemerals(USER, PUB)] == ["only for you"]

    assert hook.send(delete_original=True).status_code == 200
    with pytest.raises(LookupError):
        fake.message(PUB, posted["ts"])
    assert hook.send(text="x").status_code == 200  # 5th use
    used = hook.send(text="x")
    assert (used.status_code, used.body) == (404, "used_url")


def test_click_on_ephemeral(fake: FakeSlack, app: RecordingApp) -> None:
    app.responder = respond_json({"text": "Confirm?", "blocks": BUTTONS})
    fake.send_command(USER, SECRET_ROOM, "acme")  # bot not a member: ack body still works
    (eph,) = fake.ephemerals(USER)
    app.responder = lambda _r: (200, "text/plain", "")
    fake.click(USER, channel_id=SECRET_ROOM, message_ts=eph.ts, action_id="cancel", ephemeral=True)
    payload = app.requests[-1].payload
    assert "message" not in payload
    assert payload["container"]["is_ephemeral"] is True
    assert payload["container"]["message_ts"] == eph.ts
    assert fake.ephemerals(USER)[0].response_url == payload["response_url"]

    hook = WebhookClient(payload["response_url"])
    assert hook.send(text="Cancelled", replace_original=True).status_code == 200
    (eph,) = fake.ephemerals(USER)
    assert eph.text == "Cancelled" and eph.blocks == []
    assert hook.send(delete_original=True).status_code == 200
    assert fake.ephemerals(USER) == []
    with pytest.raises(LookupError):
        fake.click(USER, channel_id=SECRET_ROOM, message_ts=eph.ts, action_id="x", ephemeral=True)


def test_command_response_url_semantics_and_limits(fake: FakeSlack, app: RecordingApp) -> None:
    fake.send_command(USER, DM, "acme")  # a DM the bot is not in
    hook = WebhookClient(app.requests[-1].form["response_url"])

    assert hook.send(text="ephemeral by default").status_code == 200
    assert hook.send(text="public", response_type="in_channel").status_code == 200
    # replace_original has no effect on a slash command's response_url: a new message
    assert hook.send(text="replaced?", replace_original=True, response_type="in_channel").body == (
        "ok"
    )
    assert [e.text for e in fake.ephemerals(USER, DM)] == ["ephemeral by default"]
    assert [m.text for m in fake.messages(DM)] == ["public", "replaced?"]
    assert all(m.via == "response_url" and not m.edited for m in fake.messages(DM))
    bad = hook.send_dict({"response_type": "in_channel"})
    assert (bad.status_code, bad.body) == (400, "no_text")
    assert hook.send(text="4").status_code == 200
    assert hook.send(text="5").status_code == 200
    assert RESPONSE_URL_MAX_USES == 5
    used = hook.send(text="6")
    assert (used.status_code, used.body) == (404, "used_url")

    fake.send_command(USER, PUB, "acme")
    hook2 = WebhookClient(app.requests[-1].form["response_url"])
    fake.advance_clock(29 * 60)
    assert hook2.send(text="still valid").status_code == 200
    fake.expire_response_urls()
    expired = hook2.send(text="late")
    assert (expired.status_code, expired.body) == (404, "expired_url")
    unknown = WebhookClient(fake.url + "/hooks/nope").send(text="x")
    assert unknown.status_code == 404


def test_post_signed_forged_and_stale(fake: FakeSlack, app: RecordingApp) -> None:
    body = b"command=%2Fdelete-org&text=acme"
    ok = fake.post_signed(body, "application/x-www-form-urlencoded")
    assert ok.status == 200
    forged = fake.post_signed(body, "application/x-www-form-urlencoded", signature="v0=deadbeef")
    assert forged.status == 401 and forged.json() == {"error": "invalid request"}
    stale = fake.post_signed(
        body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 600
    )
    assert stale.status == 401
    assert [r.status for r in fake.app_responses()] == [200, 401, 401]
    assert all(r.kind == "raw" for r in fake.app_responses())
    assert len(app.requests) == 1


def test_wait_for_and_errors_without_app(fake: FakeSlack) -> None:
    assert fake.wait_for(lambda: 42) == 42
    assert fake.wait_for(lambda: fake.channels()[0].id) == PUB
    with pytest.raises(AssertionError, match="within"):
        fake.wait_for(lambda: fake.messages(PUB)[0], timeout=0.1)
    with pytest.raises(RuntimeError):
        fake.send_command(USER, PUB, "x")  # app_url not set


def test_response_object_helpers() -> None:
    response = AppResponse(status=200, body='{"a": 1}', headers={})
    assert response.json() == {"a": 1}
    with pytest.raises(ValueError):
        FakeSlack(signing_secret="")
    fs = FakeSlack(signing_secret=SECRET)
    with pytest.raises(RuntimeError):
        _ = fs.url
    fs.stop()  # stopping a never-started fake is harmless


# --------------------------------------------------------------------------------------
# End to end with a real Bolt app
# --------------------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_with_real_bolt_app(fake: FakeSlack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from slack_bolt import App
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    executor = ThreadPoolExecutor(max_workers=2)
    bolt = App(
        signing_secret=SECRET,
        client=WebClient(token=TOKEN, base_url=fake.api_url),
        listener_executor=executor,
    )

    @bolt.command("/delete-org")
    def on_command(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        ack()
        respond(text=f"Delete {command['text']}?", blocks=BUTTONS)

    @bolt.action("confirm")
    def on_confirm(ack: Any, respond: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        respond(text="Deleted", replace_original=True)
        respond(
            text="acme deleted",
            response_type="in_channel",
            replace_original=False,
            thread_ts=body["container"]["message_ts"],
        )
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @bolt.view("link_token")
    def on_submit(ack: Any, view: dict[str, Any]) -> None:
        token = view["state"]["values"]["token_block"]["token_input"]["value"]
        if token != "good":
            ack(response_action="errors", errors={"token_block": "bad token"})
        else:
            ack()

    server: WSGIServer = make_server(
        "127.0.0.1", 0, SlackRequestHandler(bolt), handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        fake.app_url = f"http://127.0.0.1:{server.server_address[1]}"
        assert fake.calls("auth.test")  # Bolt checked the token at construction
        assert fake.send_command(USER, OUTSIDE, "acme").status == 200
        eph = fake.wait_for(lambda: fake.ephemerals(USER, OUTSIDE)[0])
        assert eph.text == "Delete acme?"

        # Bolt answers a posted message via chat.postMessage too
        posted = WebClient(token=TOKEN, base_url=fake.api_url).chat_postMessage(
            channel=PUB, text="Delete acme?", blocks=BUTTONS
        )
        assert (
            fake.click(USER, channel_id=PUB, message_ts=posted["ts"], action_id="confirm").status
            == 200
        )
        fake.wait_for(lambda: fake.thread(PUB, posted["ts"]))
        assert fake.message(PUB, posted["ts"]).text == "Deleted"
        view = fake.wait_for(lambda: fake.views(USER, open_only=True)[0])

        assert (
            fake.submit_view(USER, view.id, {"token_block": {"token_input": "bad"}}).status == 200
        )
        assert fake.view_errors(view.id) == {"token_block": "bad token"}
        fake.submit_view(USER, view.id, {"token_block": {"token_input": "good"}})
        assert fake.view(view.id).closed

        forged = fake.post_signed(
            b"payload=%7B%7D", "application/x-www-form-urlencoded", signature="v0=00"
        )
        assert forged.status == 401
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        executor.shutdown(wait=True)


def test_direct_message_to_a_user_id_is_recorded(fake: FakeSlack, client: WebClient) -> None:
    result = client.chat_postMessage(channel=USER, text="your card expired")
    assert result["channel"] == "D" + USER[1:]
    (dm,) = fake.direct_messages(USER)
    assert (dm.user, dm.text, dm.ts) == (USER, "your card expired", result["ts"])
    assert fake.messages(DM) == []  # not a channel message
    assert api_error(lambda: client.chat_postMessage(channel="U0NOBODY01", text="x")) == (
        "channel_not_found",
        200,
    )
    fake.fail_method("chat.postMessage", "messages_tab_disabled", channel=USER)
    assert api_error(lambda: client.chat_postMessage(channel=USER, text="y"))[0] == (
        "messages_tab_disabled"
    )
    assert len(fake.direct_messages()) == 1


def test_response_url_life_and_uses_are_configurable_and_posts_recorded(
    fake: FakeSlack, app: RecordingApp
) -> None:
    with FakeSlack(signing_secret=SECRET, response_url_ttl=60, response_url_max_uses=2) as short:
        short.add_user(USER, "alice")
        short.add_channel(PUB, "general")
        short.app_url = fake.app_url
        short.send_command(USER, PUB, "acme")
        hook = WebhookClient(app.requests[-1].form["response_url"])
        assert hook.send(text="1").status_code == 200
        assert hook.send(text="2").status_code == 200
        assert (hook.send(text="3").body) == "used_url"
        short.send_command(USER, PUB, "acme")
        late = WebhookClient(app.requests[-1].form["response_url"])
        short.advance_clock(61)
        assert (late.send(text="late").status_code, late.send(text="x").body) == (
            404,
            "expired_url",
        )
        posts = short.hook_posts()
        assert {p.channel for p in posts} == {PUB}
        assert [(p.kind, p.uses_before, p.status, p.body) for p in posts] == [
            ("command", 0, 200, "ok"),
            ("command", 1, 200, "ok"),
            ("command", 2, 404, "used_url"),
            ("command", 0, 404, "expired_url"),
            ("command", 0, 404, "expired_url"),
        ]
