"""The response_url budgets on a real SQLite file and on PostgreSQL: first time kept, posts
counted, a URL Slack called dead retired, old ones pruned, and never the URL itself stored."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.crypto import TokenCipher
from storage import Store
from tests.backends import raw_rows

T0 = datetime(2026, 12, 3, 9, 0, 0, tzinfo=UTC)
URL = "https://hooks.slack.com/commands/T1/123/not-a-real-secret"


@pytest.fixture
def store_target(both_backends: Path | str) -> Path | str:
    return both_backends


def test_noting_keeps_the_first_time_and_spending_counts(store: Store) -> None:
    assert store.response_url_budget(URL) is None
    store.note_response_url(URL, T0)
    store.note_response_url(URL, T0 + timedelta(minutes=5))  # a redelivery: first time kept
    assert store.response_url_budget(URL) == (T0, 0)
    assert store.spend_response_url(URL, T0 + timedelta(seconds=1), 5) == 1
    assert store.spend_response_url(URL, T0 + timedelta(seconds=2), 5) == 2
    assert store.response_url_budget(URL) == (T0, 2)


def test_an_unknown_url_is_noted_at_its_first_post(store: Store) -> None:
    assert store.spend_response_url(URL, T0, 5) == 1
    assert store.response_url_budget(URL) == (T0, 1)


def test_retire_and_prune(store: Store) -> None:
    store.note_response_url(URL, T0)
    store.retire_response_url(URL, 5)
    store.retire_response_url(URL, 3)  # never lowers the count
    assert store.response_url_budget(URL) == (T0, 5)
    other = URL + "-other"
    store.note_response_url(other, T0 + timedelta(days=2))
    assert store.prune_response_urls(T0 + timedelta(days=1)) == 1
    assert store.response_url_budget(URL) is None
    assert store.response_url_budget(other) is not None


def test_the_url_itself_is_never_in_the_database(store: Store, store_target: Path | str) -> None:
    store.note_response_url(URL, T0)
    store.spend_response_url(URL, T0, 5)
    store.close()
    rows = raw_rows(store_target, "SELECT * FROM response_url_uses")
    assert len(rows) == 1 and URL not in repr(rows) and "not-a-real-secret" not in repr(rows)


def _spend_at_once(location: Path | str, cipher: TokenCipher, limit: int, *, noted: bool) -> Any:
    """12 threads on two replicas (two stores: two connection pools on PostgreSQL) spending
    ``URL`` at once with ``limit``; returns each thread's answer and the budget after."""
    stores = [Store(location, cipher), Store(location, cipher)]
    if noted:
        stores[0].note_response_url(URL, T0)
    results: list[int | None] = [None] * 12
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def spend(index: int) -> None:
        start.wait()
        try:
            results[index] = stores[index % 2].spend_response_url(URL, T0, limit)
        except BaseException as error:  # asserted on below
            errors.append(error)

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    budget = stores[1].response_url_budget(URL)
    for store in stores:
        store.close()
    assert [repr(error) for error in errors] == []
    return results, budget


def test_spending_stops_at_the_limit_even_when_posts_race(
    store_target: Path | str, cipher: TokenCipher
) -> None:
    """Check and count are one statement: 12 threads on two replicas racing for a limit of 3
    get exactly 3 uses (a check-then-count let concurrent private posts eat the outcome's
    reserved posts)."""
    results, budget = _spend_at_once(store_target, cipher, 3, noted=True)
    assert sorted(r for r in results if r is not None) == [1, 2, 3]
    assert results.count(None) == 9
    assert budget == (T0, 3)


def test_racing_first_posts_on_an_unknown_url_count_once_each(
    store_target: Path | str, cipher: TokenCipher
) -> None:
    """No note first: the racing posts' inserts collide on the key, the losers count on the
    winner's row (``ON CONFLICT … DO UPDATE``), none fails, the limit holds."""
    results, budget = _spend_at_once(store_target, cipher, 5, noted=False)
    assert sorted(r for r in results if r is not None) == [1, 2, 3, 4, 5]
    assert budget == (T0, 5)
