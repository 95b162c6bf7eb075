"""App Home and operator queries on real SQLite: a user's recent requests, outbox depth, live cards."""

from __future__ import annotations

from datetime import timedelta

from storage import DELETED, Store
from tests.test_storage import ALICE, BOB, T0, new_request


def test_recent_requests_are_the_users_own_newest_first_and_limited(store: Store) -> None:
    made = [
        new_request(store, org_id=f"aliceorg{i}", now=T0 + timedelta(minutes=i)) for i in range(12)
    ]
    new_request(store, org_id="boborg1", requester=BOB, now=T0 + timedelta(hours=1))

    recent = store.recent_requests_for_user(ALICE, 10)

    assert [r.id for r in recent] == [r.id for r in reversed(made)][:10]
    assert all(r.requester_id == ALICE for r in recent)
    assert [r.org_id for r in store.recent_requests_for_user(BOB, 10)] == ["boborg1"]
    assert store.recent_requests_for_user("U0NOBODY001", 10) == []


def test_recent_requests_include_finished_ones_with_their_outcome(store: Store) -> None:
    request = new_request(store)
    store.start_deletion(request.id, ALICE, T0 + timedelta(minutes=1))
    store.finish(
        request.id,
        outcome=DELETED,
        now=T0 + timedelta(minutes=2),
        actor_id=ALICE,
        http_status=204,
        coveo_request_id="coveo-req-1",
    )
    (only,) = store.recent_requests_for_user(ALICE, 10)
    assert only.state == DELETED


def test_recent_requests_limit_is_clamped(store: Store) -> None:
    for i in range(3):
        new_request(store, org_id=f"aliceorg{i}", now=T0 + timedelta(minutes=i))
    assert len(store.recent_requests_for_user(ALICE, 0)) == 1
    assert len(store.recent_requests_for_user(ALICE, 10_000)) == 3


def test_outbox_pending_counts_only_pending_items_and_dates_the_oldest(store: Store) -> None:
    assert store.outbox_pending() == (0, None)
    request = new_request(store)
    first, second = store.enqueue(request.id, [("card", "a", None), ("thread", "b", None)], T0)
    store.enqueue(request.id, [("thread", "c", None)], T0 + timedelta(minutes=3))
    store.outbox_done(first, T0 + timedelta(minutes=4), status="sent")

    count, oldest = store.outbox_pending()

    assert count == 2
    assert oldest == T0 and oldest.tzinfo is not None
    store.outbox_done(second, T0 + timedelta(minutes=5), status="dead", error="x")
    assert store.outbox_pending() == (1, T0 + timedelta(minutes=3))


def test_live_request_count_counts_pending_awaiting_and_deleting(store: Store) -> None:
    assert store.live_request_count() == 0
    pending = new_request(store, org_id="org1")
    deleting = new_request(store, org_id="org2")
    store.start_deletion(deleting.id, ALICE, T0 + timedelta(minutes=1))
    cancelled = new_request(store, org_id="org3")
    store.cancel(cancelled.id, ALICE, T0 + timedelta(minutes=1))
    assert pending.state == "pending"
    assert store.live_request_count() == 2
