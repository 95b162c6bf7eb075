"""The response_url budgets on a real SQLite file: first time kept, posts counted, a URL Slack
called dead retired, old ones pruned, and never the URL itself in the file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

from storage import Store

T0 = datetime(2026, 12, 3, 9, 0, 0, tzinfo=UTC)
URL = "https://hooks.slack.com/commands/T1/123/not-a-real-secret"


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


def test_the_url_itself_is_never_in_the_file(store: Store) -> None:
    store.note_response_url(URL, T0)
    store.spend_response_url(URL, T0, 5)
    store.close()
    with closing(sqlite3.connect(store.path)) as conn:
        rows = conn.execute("SELECT * FROM response_url_uses").fetchall()
    assert len(rows) == 1 and URL not in repr(rows) and "not-a-real-secret" not in repr(rows)


def test_spending_stops_at_the_limit_even_when_posts_race(store: Store) -> None:
    """Check and count are one statement: 12 threads racing for a limit of 3 get exactly 3
    uses (a check-then-count let concurrent private posts eat the outcome's reserved posts)."""
    from concurrent.futures import ThreadPoolExecutor

    store.note_response_url(URL, T0)
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda _: store.spend_response_url(URL, T0, 3), range(12)))
    assert sorted(r for r in results if r is not None) == [1, 2, 3]
    assert results.count(None) == 9
    assert store.response_url_budget(URL) == (T0, 3)
