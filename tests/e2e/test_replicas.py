"""Two real app processes (replicas A and B, each its own instance id) on one shared database
behind one address: whichever replica a request reaches, a confirmed card causes one DELETE and
one outcome, a replica killed mid-DELETE is settled by the other, and two sweepers expire each
card once. Run once per shared store in ``replicas.BACKENDS``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ALICE, CHANNEL, link_through_slack
from replicas import BACKENDS, Replicas, replica_database, replicas

from bot.emulator.coveo import FakeOrganization
from bot.emulator.slack import Message
from handlers.ids import ACTION_CONFIRM

PROD = "exampleprodus4k7q2m"
SWEEP = 1.0
"""Seconds between sweeper passes in every replica (``DELETE_ORG_SWEEP_INTERVAL``)."""


@pytest.fixture(params=BACKENDS)
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment pointing both replicas at one database of each backend."""
    backend = str(request.param)
    pg_url = str(request.getfixturevalue("pg_url")) if backend == "postgresql" else None
    return replica_database(backend, tmp_path, pg_url=pg_url)


@pytest.fixture
def pair(shared_db: dict[str, str], tmp_path: Path) -> Iterator[Replicas]:
    with replicas(tmp_path, shared_db) as started:
        yield started


def _link_alice(pair: Replicas) -> None:
    """Alice links her admin token (the form reaches whichever replica is next)."""
    assert (
        link_through_slack(pair.slack, ALICE, CHANNEL, pair.world.tokens["admin_us"]).status == 200
    )


def _card(pair: Replicas, org_id: str, *, on: str) -> Message:
    """Have replica ``on`` post the preview card of ``org_id`` for Alice."""
    slack = pair.slack
    before = len(slack.messages(CHANNEL, include_replies=False))
    pair.proxy.send_next_to(on)
    assert slack.send_command(ALICE, CHANNEL, org_id).status == 200
    assert pair.proxy.routed[-1] == on
    return slack.wait_for(lambda: slack.messages(CHANNEL, include_replies=False)[before:])[0]


def _settled(pair: Replicas, seconds: float = 2 * SWEEP + 0.5) -> None:
    """Give both replicas time for a second outcome, if one were coming (two sweeps)."""
    time.sleep(seconds)


def test_card_posted_by_a_confirmed_through_b_sends_one_delete(pair: Replicas) -> None:
    _link_alice(pair)
    card = _card(pair, PROD, on="A")
    click = pair.slack.build_click(
        ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM
    )
    pair.proxy.send_next_to("B")
    assert pair.slack.send_interaction(click).status == 200
    assert pair.proxy.routed[-1] == "B"
    reply = pair.slack.wait_for(lambda: pair.slack.thread(CHANNEL, card.ts), timeout=10)[0]
    assert "204 No Content" in reply.text
    # Slack redelivers the same click, to A this time: A sees the request B settled.
    pair.proxy.send_next_to("A")
    assert pair.slack.send_interaction(click).status == 200
    pair.slack.wait_for(lambda: [e for e in pair.slack.ephemerals(ALICE) if "already" in e.text])
    _settled(pair)
    assert len(pair.coveo.deletes(PROD)) == 1
    assert [m.text for m in pair.slack.thread(CHANNEL, card.ts)] == [reply.text]


def test_twenty_concurrent_confirms_split_across_both_send_one_delete(pair: Replicas) -> None:
    _link_alice(pair)
    card = _card(pair, PROD, on="A")
    body = pair.slack.build_click(
        ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM
    )
    routed_before = {name: pair.proxy.count(name) for name in ("A", "B")}
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: pair.slack.send_interaction(body).status, range(20)))
    assert statuses == [200] * 20
    assert {name: pair.proxy.count(name) - routed_before[name] for name in ("A", "B")} == {
        "A": 10,
        "B": 10,
    }
    pair.slack.wait_for(lambda: pair.slack.thread(CHANNEL, card.ts), timeout=10)
    pair.slack.wait_for(
        lambda: len([e for e in pair.slack.ephemerals(ALICE) if "already" in e.text]) == 19,
        timeout=10,
    )
    _settled(pair)
    assert len(pair.coveo.deletes(PROD)) == 1
    thread = pair.slack.thread(CHANNEL, card.ts)
    assert len(thread) == 1 and "204 No Content" in thread[0].text


def test_sigkill_of_a_mid_delete_is_settled_by_b_and_posted_once(
    shared_db: dict[str, str], request: pytest.FixtureRequest
) -> None:
    if shared_db.get("DELETE_ORG_DATABASE_URL"):
        # On PostgreSQL only the heartbeat counts (bot.sweeper.owner_checker): B may settle
        # A's request once A's heartbeat is STALE_AFTER_SECONDS (120 s) old, too long here.
        pytest.skip("PostgreSQL: A is found dead only after 120 s without a heartbeat")
    pair: Replicas = request.getfixturevalue("pair")
    _link_alice(pair)
    card = _card(pair, PROD, on="A")
    hold = 2.0
    pair.coveo.hang("DELETE", "/rest/organizations/", hold, then="process")
    pair.proxy.send_next_to("A")
    pair.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    pair.coveo.wait_for_requests(1, "DELETE", timeout=10)
    pair.kill("A")
    killed_at = time.monotonic()
    # Coveo finishes the DELETE it holds; A is gone. B finds A dead at its next upkeep pass
    # (same host: A's PID is gone; another host: A's heartbeat goes stale), claims the
    # request, and reads the organization: gone, so deleted. It never sends the DELETE again.
    reply = pair.slack.wait_for(lambda: pair.slack.thread(CHANNEL, card.ts), timeout=15)[0]
    took = time.monotonic() - killed_at
    assert "Deleted (confirmed after restart)" in reply.text
    assert took < hold + 3 * SWEEP + 2, took
    _settled(pair)
    assert len(pair.coveo.deletes()) == 1
    assert len(pair.slack.thread(CHANNEL, card.ts)) == 1
    pair.stop()
    assert pair.returncodes["B"] == 0, pair.log("B")
    assert "Traceback" not in pair.log("B")


def test_both_sweepers_post_one_expired_per_card(shared_db: dict[str, str], tmp_path: Path) -> None:
    # 10 s is the shortest confirm timeout the app accepts; both replicas sweep every second.
    # Each card update takes Slack 0.5 s, so one sweeper's pass over the cards outlasts the
    # interval and the other's passes run meanwhile: both try to expire the same cards.
    with replicas(
        tmp_path,
        shared_db,
        slow_slack={"/api/chat.update": 0.5},
        DELETE_ORG_CONFIRM_TIMEOUT="10",
    ) as pair:
        orgs = [f"expireorg{n}x7k" for n in range(4)]
        for org in orgs:
            pair.coveo.add_organization(FakeOrganization(org, f"Expiring {org}", "us"))
        _link_alice(pair)
        cards = [_card(pair, org, on=("A", "B")[n % 2]) for n, org in enumerate(orgs)]
        for card in cards:
            pair.slack.wait_for(
                lambda card=card: pair.slack.thread(CHANNEL, card.ts), timeout=10 + 5 * SWEEP
            )
        _settled(pair)
        for card in cards:
            thread = [m.text for m in pair.slack.thread(CHANNEL, card.ts)]
            assert len(thread) == 1 and "Expired" in thread[0], thread
            assert "Expired — nothing was deleted" in str(
                pair.slack.message(CHANNEL, card.ts).blocks
            )
        # no second "Expired" posted as a new message either, and nothing deleted
        assert len(pair.slack.messages(CHANNEL, include_replies=False)) == len(cards)
        expired_updates = [
            c for c in pair.slack.calls("chat.update") if "Expired" in str(c.params.get("blocks"))
        ]
        assert sorted(c.params["ts"] for c in expired_updates) == sorted(c.ts for c in cards)
        assert pair.coveo.deletes() == []
