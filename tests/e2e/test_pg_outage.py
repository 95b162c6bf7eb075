"""PostgreSQL lost and back, with two real app processes on it; PostgreSQL unreachable when
a process starts; and the forms answered within Slack's 3 s while it is unreachable.

The outage test stops and starts a cluster of its own (``tests/pg.py`` helpers), never the
suite's shared one, so no other test's database is touched whatever happens here. The form
tests make their own database on the shared cluster unreachable (``tests/pg.py``
``unreachable``: it refuses connections and its sessions are cut), then reachable again."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import (
    ALICE,
    APP_SCRIPT,
    CHANNEL,
    Harness,
    build_harness,
    link_through_slack,
    process_env,
)
from pg import PgCluster, start_cluster, stop_cluster, unreachable
from replicas import Replicas, replica_database, replicas

from bot.cli import main
from bot.emulator.coveo import FakeCoveo, FakeOrganization
from bot.emulator.slack import FakeSlack, Message
from handlers.ids import (
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_REGION,
    ACTION_TOKEN,
    ACTION_TYPED,
    BLOCK_REGION,
    BLOCK_TOKEN,
    BLOCK_TYPED,
    VIEW_CONFIRM,
    VIEW_LINK,
)
from handlers.messages import (
    CONFIRM_DATABASE_UNAVAILABLE,
    DATABASE_UNAVAILABLE,
    LINK_DATABASE_UNAVAILABLE,
)

PROD = "exampleprodus4k7q2m"
OTHER = "outageorg2x7k"


@pytest.fixture
def own_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster for this test alone (a few seconds to make), stopped afterwards."""
    cluster = start_cluster()
    if cluster is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


def _card(pair: Replicas, org_id: str, *, on: str) -> Message:
    before = len(pair.slack.messages(CHANNEL, include_replies=False))
    pair.proxy.send_next_to(on)
    assert pair.slack.send_command(ALICE, CHANNEL, org_id).status == 200
    return pair.slack.wait_for(
        lambda: pair.slack.messages(CHANNEL, include_replies=False)[before:], timeout=10
    )[0]


def _told(pair: Replicas, words: str, timeout: float = 30) -> str:
    """The first private message to Alice containing ``words`` (waiting up to ``timeout``)."""
    return pair.slack.wait_for(
        lambda: [e.text for e in pair.slack.ephemerals(ALICE) if words in e.text], timeout=timeout
    )[0]


def test_a_postgresql_restart_mid_run_loses_nothing_and_both_replicas_carry_on(
    own_cluster: PgCluster, tmp_path: Path
) -> None:
    url = own_cluster.url("postgres")
    with replicas(tmp_path, replica_database("postgresql", tmp_path, pg_url=url)) as pair:
        pair.coveo.add_organization(FakeOrganization(OTHER, "Outage test", "us"))
        token = pair.world.tokens["admin_us"]
        assert link_through_slack(pair.slack, ALICE, CHANNEL, token).status == 200
        card = _card(pair, PROD, on="A")
        # A sends the DELETE; Coveo holds it while the database goes away.
        pair.coveo.hang("DELETE", "/rest/organizations/", 1.0, then="process")
        pair.proxy.send_next_to("A")
        pair.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
        pair.coveo.wait_for_requests(1, "DELETE", timeout=10)
        own_cluster.stop()
        try:
            # Meanwhile Alice asks B for another card: B cannot read or write anything.
            pair.proxy.send_next_to("B")
            answers: list[object] = []

            def ask() -> None:  # an error is recorded, not raised in the thread
                try:
                    answers.append(pair.slack.send_command(ALICE, CHANNEL, OTHER).status)
                except OSError as error:
                    answers.append(error)

            asking = threading.Thread(target=ask, daemon=True)
            asking.start()
            not_recorded = _told(pair, "not recorded yet")
            unavailable = _told(pair, DATABASE_UNAVAILABLE)
        finally:
            own_cluster.start()
        asking.join(timeout=30)
        assert answers == [200]  # acked at once: what needs the database runs after the ack
        assert f"deleting `{PROD}`" in not_recorded and "Coveo answered HTTP 204" in not_recorded
        assert "nothing was deleted" not in not_recorded  # the DELETE did go out
        assert "Traceback" not in not_recorded + unavailable
        # Back: A settles its own request by reading the organization (gone), posts it once,
        # within seconds (the pool's reconnection delay does not grow with the outage).
        reply = pair.slack.wait_for(lambda: pair.slack.thread(CHANNEL, card.ts), timeout=8)[0]
        assert "Deleted" in reply.text
        # The same processes serve new work: B posts the card, A takes the click.
        other = _card(pair, OTHER, on="B")
        pair.proxy.send_next_to("A")
        pair.slack.click(ALICE, channel_id=CHANNEL, message_ts=other.ts, action_id=ACTION_CANCEL)
        assert (
            "Cancelled"
            in pair.slack.wait_for(lambda: pair.slack.thread(CHANNEL, other.ts), timeout=10)[0].text
        )
        assert len(pair.coveo.deletes()) == 1
        assert [m.text for m in pair.slack.thread(CHANNEL, card.ts)] == [reply.text]
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT org_id, state FROM deletion_requests ORDER BY created_at"
        ).fetchall()
    assert rows == [(PROD, "deleted"), (OTHER, "cancelled")]  # nothing half-written
    assert main(["audit", "verify"], environ={"DELETE_ORG_DATABASE_URL": url}) == 0
    for name in ("A", "B"):
        assert pair.returncodes[name] == 0, pair.log(name)


def test_postgresql_unreachable_at_start_up_is_one_clear_line_and_a_non_zero_exit(
    tmp_path: Path,
) -> None:
    with FakeSlack(signing_secret="s3cr3t-not-used") as slack, FakeCoveo() as coveo:
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        env = process_env(
            slack,
            coveo,
            tmp_path,
            DELETE_ORG_DB="",
            DELETE_ORG_DATABASE_URL=f"postgresql://bot:pw-not-real-7c1d@127.0.0.1:{port}/delorg",
        )
        done = subprocess.run(
            [str(APP_SCRIPT)], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    (line,) = [text for text in done.stderr.splitlines() if "cannot start" in text]
    assert line.startswith(
        f"delete-org-bot: cannot start: cannot use PostgreSQL at"
        f" postgresql://bot:***@127.0.0.1:{port}/delorg: "
    ), line
    assert "check DELETE_ORG_DATABASE_URL" in line
    assert "pw-not-real-7c1d" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr + done.stdout


def _on_postgresql(tmp_path: Path, pg_url: str) -> Iterator[Harness]:
    """The in-process harness (real app over HTTP) on the test's PostgreSQL database, with
    the built-in policy (typed confirmation for Production organizations)."""
    (tmp_path / "policy.toml").write_text("")
    return build_harness(tmp_path, DELETE_ORG_DB="", DELETE_ORG_DATABASE_URL=pg_url)


def _open_view(e2e: Harness, callback_id: str) -> str:
    return e2e.slack.wait_for(
        lambda: [
            v.id
            for v in e2e.slack.views(ALICE, open_only=True)
            if v.view.get("callback_id") == callback_id
        ]
    )[-1]


def test_with_postgresql_unreachable_the_link_form_says_so_in_time_and_saves_nothing(
    tmp_path: Path, pg_cluster: PgCluster, pg_url: str
) -> None:
    harness = _on_postgresql(tmp_path, pg_url)
    e2e = next(harness)
    try:
        with unreachable(pg_cluster, pg_url):
            # The modal still opens within the trigger_id's 3 s (without the linked region).
            assert e2e.slack.send_command(ALICE, CHANNEL, "link").status == 200
            view = _open_view(e2e, VIEW_LINK)
            answer = e2e.slack.submit_view(
                ALICE,
                view,
                {
                    BLOCK_TOKEN: {ACTION_TOKEN: e2e.tokens["admin_us"]},
                    BLOCK_REGION: {ACTION_REGION: "us"},
                },
            )
        assert answer.status == 200
        assert answer.elapsed < 3.0  # Slack's limit (the database wait is 1.5 s)
        assert e2e.slack.view_errors(view) == {BLOCK_TOKEN: LINK_DATABASE_UNAVAILABLE}
    finally:
        harness.close()  # drains the lazy listeners, on the reachable database
    assert e2e.slack.ephemerals(ALICE) == []  # no "Linked as", no error message either
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM links").fetchone() == (0,)
        assert (
            conn.execute("SELECT event FROM audit_events WHERE event = 'linked'").fetchall() == []
        )


def test_with_postgresql_unreachable_the_confirm_form_says_so_in_time_and_nothing_is_deleted(
    tmp_path: Path, pg_cluster: PgCluster, pg_url: str
) -> None:
    harness = _on_postgresql(tmp_path, pg_url)
    e2e = next(harness)
    try:
        assert e2e.link(ALICE, "admin_us").status == 200
        card = e2e.request_card(ALICE, PROD)
        e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
        view = _open_view(e2e, VIEW_CONFIRM)
        with unreachable(pg_cluster, pg_url):
            answer = e2e.slack.submit_view(ALICE, view, {BLOCK_TYPED: {ACTION_TYPED: PROD}})
        assert answer.status == 200
        assert answer.elapsed < 3.0
        assert e2e.slack.view_errors(view) == {BLOCK_TYPED: CONFIRM_DATABASE_UNAVAILABLE}
    finally:
        # Reachable again before the lazy listener of the submission is drained: it must not
        # carry out the Confirm the form said had not happened.
        harness.close()
    assert e2e.coveo.deletes() == []
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT state FROM deletion_requests").fetchall() == [("pending",)]
