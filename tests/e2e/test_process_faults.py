"""The real ``delete-org-bot`` process: killed mid-DELETE (SIGKILL) and stopped gracefully
(SIGTERM) while a DELETE is in flight."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ALICE, CHANNEL, link_through_slack
from replicas import World, process_world

from handlers.ids import ACTION_CONFIRM

PROD = "exampleprodus4k7q2m"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with process_world(tmp_path) as fakes:
        yield fakes


def _card_confirmed_while_coveo_holds_the_delete(world: World, hold: float) -> str:
    slack = world.slack
    link_through_slack(slack, ALICE, CHANNEL, world.tokens["admin_us"])
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
