"""The real ``delete-org-bot`` process: killed mid-DELETE (SIGKILL) and stopped gracefully
(SIGTERM) while a DELETE is in flight."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ALICE, CHANNEL, SIGNING_SECRET, launch_app_process, process_env

from bot.emulator.coveo import FakeCoveo
from bot.emulator.slack import FakeSlack
from handlers.ids import ACTION_CONFIRM, ACTION_REGION, ACTION_TOKEN, BLOCK_REGION, BLOCK_TOKEN

PROD = "exampleprodus4k7q2m"


@dataclass
class World:
    slack: FakeSlack
    coveo: FakeCoveo
    tokens: dict[str, str]
    env: dict[str, str]

    def launch(self) -> subprocess.Popen[str]:
        proc, port = launch_app_process(self.env)
        self.slack.app_url = f"http://127.0.0.1:{port}"
        return proc


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack, FakeCoveo() as coveo:
        tokens = coveo.seed_demo()
        slack.add_channel(CHANNEL, "general")
        policy = tmp_path / "policy.toml"  # these tests are about processes, not guardrails
        policy.write_text("[typed_confirmation]\ntypes = []\nproduct_types = []\n")
        env = process_env(
            slack,
            coveo,
            tmp_path,
            DELETE_ORG_SWEEP_INTERVAL="1",
            DELETE_ORG_POLICY=str(policy),
        )
        yield World(slack, coveo, tokens, env)


def _card_confirmed_while_coveo_holds_the_delete(world: World, hold: float) -> str:
    slack = world.slack
    slack.send_command(ALICE, CHANNEL, "link")
    view = slack.wait_for(lambda: slack.views(ALICE, open_only=True))[-1]
    slack.submit_view(
        ALICE,
        view.id,
        {
            BLOCK_TOKEN: {ACTION_TOKEN: world.tokens["admin_us"]},
            BLOCK_REGION: {ACTION_REGION: "us"},
        },
    )
    slack.send_command(ALICE, CHANNEL, PROD)
    card = slack.wait_for(lambda: slack.messages(CHANNEL, include_replies=False))[0]
    world.coveo.hang("DELETE", "/rest/organizations/", hold, then="process")
    slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    world.coveo.wait_for_requests(1, "DELETE", timeout=10)
    return card.ts


def test_sigkill_mid_delete_then_restart_reports_deleted(world: World) -> None:
    first = world.launch()
    try:
        card_ts = _card_confirmed_while_coveo_holds_the_delete(world, hold=2.0)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        # Coveo finishes the DELETE it was holding; the app is not there to hear the answer.
        world.slack.wait_for(lambda: world.coveo.organization(PROD) is None, timeout=10)
        assert world.slack.thread(CHANNEL, card_ts) == []
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    second = world.launch()
    try:
        reply = world.slack.wait_for(lambda: world.slack.thread(CHANNEL, card_ts), timeout=15)[0]
        assert "Deleted (confirmed after restart)" in reply.text
        assert len(world.coveo.deletes()) == 1  # never sent again
    finally:
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=20)
    assert second.returncode == 0, err


def test_sigterm_lets_the_in_flight_delete_finish_and_exits_zero(world: World) -> None:
    proc = world.launch()
    card_ts = _card_confirmed_while_coveo_holds_the_delete(world, hold=1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    reply = world.slack.thread(CHANNEL, card_ts)
    assert len(reply) == 1 and "204 No Content" in reply[0].text
    assert "Traceback" not in err
