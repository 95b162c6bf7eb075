"""Socket Mode end to end: the real app (app factory + the handler ``delete-org-bot`` runs, and
once the real process) connected over a real WebSocket on 127.0.0.1 to the fake Socket Mode
server, with the fake Slack Web API and the fake Coveo over HTTP.

The SDK's ping interval is 1 s here (``DELETE_ORG_SOCKET_PING_INTERVAL``) so a reset is noticed
within about a second instead of ten."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from conftest import ALICE, BOB, CHANNEL, launch_app_process, process_env
from cryptography.fernet import Fernet
from pg import PgCluster, unreachable
from replicas import replica_database

from bot.app import Runtime, create_app
from bot.config import load_config
from bot.emulator.coveo import FakeCoveo
from bot.emulator.slack import FakeSlack, Message
from bot.emulator.socket_mode import APP_TOKEN, Ack, FakeSocketMode
from bot.socket_mode import OnceSocketModeHandler, socket_mode_handler
from handlers.ids import (
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_REGION,
    ACTION_TOKEN,
    BLOCK_REGION,
    BLOCK_TOKEN,
    VIEW_LINK,
)
from handlers.messages import LINK_DATABASE_UNAVAILABLE

ORG = "exampleprodus4k7q2m"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")


@dataclass
class Replica:
    runtime: Runtime
    handler: OnceSocketModeHandler

    def stop(self) -> None:
        self.handler.close()  # type: ignore[no-untyped-call]
        self.runtime.close()


@dataclass
class World:
    slack: FakeSlack
    coveo: FakeCoveo
    socket: FakeSocketMode
    tokens: dict[str, str]
    environ: dict[str, str]
    replicas: list[Replica] = field(default_factory=list)

    def start_replica(self) -> Replica:
        """One more app process on the same database, connected over Socket Mode."""
        http = httpx.Client(timeout=httpx.Timeout(connect=1.0, read=3.0, write=1.0, pool=1.0))
        runtime = create_app(load_config(self.environ), http=http)
        runtime.start(upkeep=False)
        handler = socket_mode_handler(runtime)
        handler.connect()  # type: ignore[no-untyped-call]
        self.replicas.append(Replica(runtime, handler))
        self.socket.wait_for_connection(len(self.replicas))
        return self.replicas[-1]

    def link_form(self, user: str = ALICE) -> str:
        """``/delete-org link``; the id of the link form it opens."""
        self.slack.send_command(user, CHANNEL, "link")
        return self.slack.wait_for(
            lambda: [
                v.id
                for v in self.slack.views(user, open_only=True)
                if v.view.get("callback_id") == VIEW_LINK
            ]
        )[-1]

    def link(self, user: str = ALICE) -> None:
        self.submit_link_form(self.link_form(user), user)

    def submit_link_form(self, view_id: str, user: str = ALICE) -> None:
        self.slack.submit_view(
            user,
            view_id,
            {
                BLOCK_TOKEN: {ACTION_TOKEN: self.tokens["admin_us"]},
                BLOCK_REGION: {ACTION_REGION: "us"},
            },
        )

    def card(self) -> Message:
        return self.slack.wait_for(lambda: self.slack.messages(CHANNEL, include_replies=False))[0]

    def cards(self) -> list[Message]:
        return self.slack.messages(CHANNEL, include_replies=False)

    def click(self, action_id: str, *, user: str = ALICE) -> Ack:
        card = self.card()
        self.slack.click(user, channel_id=CHANNEL, message_ts=card.ts, action_id=action_id)
        return self.socket.acks()[-1]

    def last_envelope(self, kind: str) -> dict[str, Any]:
        return self.socket.envelopes(kind)[-1]

    def settle(self) -> None:
        """Wait for the work every replica runs after its acks (no more envelopes after this)."""
        for replica in self.replicas:
            replica.runtime.executor.shutdown(wait=True)

    def outcome(self) -> str:
        card = self.card()
        return self.slack.wait_for(lambda: self.slack.thread(CHANNEL, card.ts), timeout=10)[0].text


def _environ(slack: FakeSlack, coveo: FakeCoveo, tmp_path: Path) -> dict[str, str]:
    policy = tmp_path / "policy.toml"  # about the transport, not the guardrails
    policy.write_text("[typed_confirmation]\ntypes = []\nproduct_types = []\n")
    return {
        "SLACK_BOT_TOKEN": "xoxb-test-not-a-real-token",
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "COVEO_PLATFORM_URL": coveo.url,
        "DELETE_ORG_DB": str(tmp_path / "socket.db"),
        "DELETE_ORG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DELETE_ORG_POLICY": str(policy),
        "DELETE_ORG_SOCKET_PING_INTERVAL": "1",
    }


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # slack_sdk's built-in Socket Mode client sends even 127.0.0.1 through a proxy from the
    # environment (it does not read NO_PROXY): keep any out of these tests.
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with FakeSlack(signing_secret="unused-in-socket-mode") as slack, FakeCoveo() as coveo:
        slack.add_channel(CHANNEL, "general")
        slack.add_user(ALICE, "alice")
        slack.add_user(BOB, "bob")
        tokens = coveo.seed_demo()
        with FakeSocketMode(slack) as socket:
            socket.attach()
            world = World(slack, coveo, socket, tokens, _environ(slack, coveo, tmp_path))
            try:
                yield world
            finally:
                # The SDK's close() waits for its reader's 3 s socket timeout; the fake closing
                # the connections at the same time ends that wait at once.
                stopping = [
                    threading.Thread(target=replica.stop, name="stop-replica")
                    for replica in world.replicas
                ]
                for thread in stopping:
                    thread.start()
                socket.stop()
                for thread in stopping:
                    thread.join(timeout=30)


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_the_real_process_links_requests_confirms_and_deletes_once(
    world: World, tmp_path: Path, level: str
) -> None:
    """``delete-org-bot`` itself (cli.run's Socket Mode branch): apps.connections.open with the
    app token, the whole flow through envelopes, every envelope acked once, exit 0 on SIGTERM;
    neither the app token nor the socket URL in the log, even at DEBUG."""
    env = process_env(world.slack, world.coveo, tmp_path, **world.environ, LOG_LEVEL=level)
    env.pop("SLACK_SIGNING_SECRET")  # not needed in Socket Mode
    for name in PROXY_VARIABLES:
        env.pop(name, None)
    proc, _port = launch_app_process(env)
    try:
        world.socket.wait_for_connection(1, timeout=15)
        world.link()
        world.slack.wait_for(
            lambda: [e for e in world.slack.ephemerals(ALICE) if "Linked as" in e.text]
        )
        world.slack.send_command(ALICE, CHANNEL, ORG)
        assert ORG in str(world.card().blocks)
        ack = world.click(ACTION_CONFIRM)
        assert ack.payload is None  # a click is acked without payload
        outcome = world.outcome()
        assert "204 No Content" in outcome
        assert len(world.coveo.deletes(ORG)) == 1
        assert world.coveo.organization(ORG) is None
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    opens = world.slack.calls("apps.connections.open")
    assert len(opens) == 1 and opens[0].token == APP_TOKEN
    sent = [e["envelope_id"] for e in world.socket.sent()]
    assert sorted(a.envelope_id for a in world.socket.acks()) == sorted(sent)
    assert "Traceback" not in err
    assert APP_TOKEN not in err and "ticket=" not in err  # the token and the socket URL's


def test_cancel_click_ends_the_card_without_a_delete(world: World) -> None:
    world.start_replica()
    world.link()
    world.slack.send_command(ALICE, CHANNEL, ORG)
    world.card()
    ack = world.click(ACTION_CANCEL)
    assert ack.payload is None
    assert "Cancelled by" in world.outcome()
    assert world.coveo.deletes() == []
    assert "actions" not in [b["type"] for b in world.card().blocks]


def test_a_redelivered_command_and_click_are_handled_once(world: World) -> None:
    """Same envelope_id, retry_attempt 1: the recorded ack is sent again; no second card, no
    "already has a card" message, no second DELETE, no "already being deleted" message."""
    world.start_replica()
    world.link()
    world.slack.send_command(ALICE, CHANNEL, ORG)
    world.card()
    command = world.last_envelope("slash_commands")
    first_ack = world.socket.acks(command["envelope_id"])[0]
    again = world.socket.redeliver(command["envelope_id"])
    assert isinstance(again, Ack) and again.payload == first_ack.payload
    assert world.socket.sent()[-1]["retry_attempt"] == 1

    world.click(ACTION_CONFIRM)
    click = world.last_envelope("interactive")
    assert "204 No Content" in world.outcome()
    world.socket.redeliver(click["envelope_id"])
    world.socket.redeliver(click["envelope_id"])
    assert world.socket.sent()[-1]["retry_attempt"] == 2

    world.settle()
    assert len(world.cards()) == 1
    assert len(world.coveo.deletes(ORG)) == 1
    card = world.card()
    assert len(world.slack.thread(CHANNEL, card.ts)) == 1
    texts = [e.text for e in world.slack.ephemerals(ALICE)]
    assert not [t for t in texts if "no second card" in t or "already being deleted" in t]


def test_a_redelivery_reaching_another_replica_is_handled_once(world: World) -> None:
    """Two processes on one database, each with its connection: Slack redelivers on the other
    one. The envelope record is in the shared database, so the second replica does not act."""
    world.start_replica()
    world.start_replica()
    world.link()
    world.slack.send_command(ALICE, CHANNEL, ORG)  # on the newest connection, replica 2
    world.card()
    command = world.last_envelope("slash_commands")
    world.socket.redeliver(command["envelope_id"], connection=1)
    world.click(ACTION_CONFIRM)
    click = world.last_envelope("interactive")
    ack = world.socket.redeliver(click["envelope_id"], connection=1)
    assert isinstance(ack, Ack) and ack.connection == 1
    assert "204 No Content" in world.outcome()
    world.settle()
    assert len(world.cards()) == 1
    assert len(world.coveo.deletes(ORG)) == 1
    texts = [e.text for e in world.slack.ephemerals(ALICE)]
    assert not [t for t in texts if "no second card" in t or "already being deleted" in t]


def test_a_duplicate_click_with_a_new_envelope_still_sends_one_delete(world: World) -> None:
    """What holds without the envelope record (a double click is two envelopes): the
    compare-and-set ``pending → deleting`` lets one click through; the other is told."""
    world.start_replica()
    world.start_replica()
    world.link()
    world.slack.send_command(ALICE, CHANNEL, ORG)
    card = world.card()
    world.coveo.hang("DELETE", "/rest/organizations/", 1.0, then="process")
    form = world.slack.build_click(
        ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM
    )
    body = json.loads(urllib.parse.parse_qs(form.decode())["payload"][0])
    world.socket.deliver("interactive", body, connection=1)
    world.socket.deliver("interactive", body, connection=2)
    assert "204 No Content" in world.outcome()
    assert len(world.coveo.deletes(ORG)) == 1
    world.slack.wait_for(
        lambda: [e for e in world.slack.ephemerals(ALICE) if "already being deleted" in e.text]
    )


@pytest.mark.parametrize("fault", ["reset", "refresh_requested", "warning"])
def test_the_click_after_a_reconnect_mid_card_works(world: World, fault: str) -> None:
    world.start_replica()
    world.link()
    world.slack.send_command(ALICE, CHANNEL, ORG)
    world.card()
    if fault == "reset":
        world.socket.reset()
    else:
        world.socket.disconnect(fault)
    world.socket.wait_for_connection(2)
    assert world.socket.opens == 2
    ack = world.click(ACTION_CONFIRM)
    assert ack.connection == 2
    assert "204 No Content" in world.outcome()
    assert len(world.coveo.deletes(ORG)) == 1
    world.slack.wait_for(lambda: world.socket.connections() == [2])  # the old one closed


def test_a_command_sent_during_a_silent_drop_is_lost_until_the_sdk_notices(world: World) -> None:
    """The README's silent drop, at a 1 s ping interval: the command goes into the dead
    connection and is never acked (the user sees Slack's error after 3 s); nothing happens;
    slack_sdk replaces the connection after more than 4 intervals without a pong; the same
    command then works."""
    world.start_replica()
    world.link()
    world.socket.silence()
    world.socket.ack_timeout = 3.0  # Slack's ack window
    with pytest.raises(TimeoutError):
        world.slack.send_command(ALICE, CHANNEL, ORG)
    world.socket.ack_timeout = 10.0
    world.socket.wait_for_connection(2)
    assert world.socket.opens == 2
    assert world.cards() == [] and world.coveo.requests("GET", "/rest/organizations/") == []
    world.slack.send_command(ALICE, CHANNEL, ORG)
    assert ORG in str(world.card().blocks)


def test_an_app_home_event_and_its_redeliveries_publish_the_home_once(world: World) -> None:
    """The Events API is where Slack does redeliver (``retry_attempt``): ``app_home_opened``
    over Socket Mode publishes the Home once, however often the envelope comes again."""
    world.start_replica()
    world.slack.open_home(ALICE)
    world.slack.wait_for(lambda: world.slack.homes(ALICE))
    event = world.last_envelope("events_api")
    assert event["retry_attempt"] == 0
    world.socket.redeliver(event["envelope_id"], reason="http_timeout")
    world.socket.redeliver(event["envelope_id"], reason="http_timeout")
    assert [a.payload for a in world.socket.acks(event["envelope_id"])] == [None, None, None]
    world.settle()  # the publishing runs after the ack: let it end
    assert len(world.slack.homes(ALICE)) == 1
    assert len(world.slack.calls("views.publish")) == 1


def test_two_processes_on_postgresql_card_by_one_click_and_redelivery_by_the_other(
    world: World, tmp_path: Path, pg_url: str
) -> None:
    """Two real ``delete-org-bot`` processes (instances A and B) in Socket Mode on one
    PostgreSQL database, as on two hosts: the card is posted by A, Slack sends the click to
    B (the newest connection) → one DELETE; the command redelivered to B and the click
    redelivered to A are each recognised from the shared envelope record: no second card, no
    second DELETE, no "already" message. Both exit 0 on SIGTERM."""
    env = {
        **process_env(world.slack, world.coveo, tmp_path),
        **world.environ,
        **replica_database("postgresql", tmp_path, pg_url=pg_url),
    }
    env.pop("SLACK_SIGNING_SECRET")  # not needed in Socket Mode
    for name in PROXY_VARIABLES:
        env.pop(name, None)
    logs = {name: tmp_path / f"socket-{name}.log" for name in ("A", "B")}
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        procs["A"], _ = launch_app_process(env, log=logs["A"])
        world.socket.wait_for_connection(1, timeout=15)
        world.link()  # on A: the only connection
        world.slack.wait_for(
            lambda: [e for e in world.slack.ephemerals(ALICE) if "Linked as" in e.text]
        )
        world.slack.send_command(ALICE, CHANNEL, ORG)
        card = world.card()
        command = world.last_envelope("slash_commands")
        procs["B"], _ = launch_app_process(env, log=logs["B"])
        world.socket.wait_for_connection(2, timeout=15)
        world.socket.redeliver(command["envelope_id"], connection=2)
        ack = world.click(ACTION_CONFIRM)
        assert ack.connection == 2  # B
        click = world.last_envelope("interactive")
        assert "204 No Content" in world.outcome()
        again = world.socket.redeliver(click["envelope_id"], connection=1)
        assert isinstance(again, Ack) and again.connection == 1  # A
        time.sleep(1.0)  # time for a second DELETE or message, were one coming
        assert len(world.coveo.deletes(ORG)) == 1
        assert [m.ts for m in world.cards()] == [card.ts]
        assert len(world.slack.thread(CHANNEL, card.ts)) == 1
        texts = [e.text for e in world.slack.ephemerals(ALICE)]
        assert not [t for t in texts if "no second card" in t or "already" in t], texts
        with psycopg.connect(pg_url) as conn:
            live = conn.execute("SELECT id FROM instances WHERE stopped_at IS NULL").fetchall()
        assert len(live) == 2  # two instance ids
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(timeout=30)
    for name, proc in procs.items():
        assert proc.returncode == 0, logs[name].read_text()
        assert "Traceback" not in logs[name].read_text()


def test_with_postgresql_unreachable_the_link_form_is_answered_within_slacks_3_seconds(
    pg_cluster: PgCluster, pg_url: str, world: World
) -> None:
    """The envelope claim, the form's ack and the recording of that ack each need the
    database: they share one ack path, so with PostgreSQL gone the form still gets its
    inline error within Slack's 3 s (not three waits of 1.5 s, nor no ack at all). (The
    database is asked for before ``world``: the replica stops before it is dropped.)"""
    world.environ.update(DELETE_ORG_DB="", DELETE_ORG_DATABASE_URL=pg_url)
    world.start_replica()
    view = world.link_form()
    with unreachable(pg_cluster, pg_url):
        world.submit_link_form(view)
        ack = world.socket.acks()[-1]
    assert ack.elapsed < 3.0
    assert ack.payload == {
        "response_action": "errors",
        "errors": {BLOCK_TOKEN: LINK_DATABASE_UNAVAILABLE},
    }
    world.settle()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM links").fetchone() == (0,)
