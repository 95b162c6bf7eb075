"""The sign-in callback with PostgreSQL gone: the browser gets a clear page, never "internal"."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest

from bot.crypto import TokenCipher
from handlers.deps import Deps
from handlers.oauth_callback import OAuthCallback
from storage import Store, pg_backend
from tests.pg import PgCluster, unreachable


def test_with_postgresql_unreachable_the_callback_page_says_so_and_logs_it(
    pg_cluster: PgCluster,
    pg_url: str,
    cipher: TokenCipher,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Not an ack path (a browser waits, not Slack): the long wait, shortened for the test.
    monkeypatch.setattr(pg_backend, "POOL_WAIT_SECONDS", 1.0)
    store = Store(pg_url, cipher)
    try:
        deps = Deps(
            store=store, coveo=cast(Any, None), delivery=cast(Any, None), confirm_timeout=60
        )
        callback = OAuthCallback(deps, cast(Any, None), notify=lambda actor, text: None)
        statuses: list[str] = []
        with unreachable(pg_cluster, pg_url), caplog.at_level(logging.WARNING):
            body = b"".join(
                callback(
                    {"QUERY_STRING": "state=st-not-real-1&code=code-not-real-1"},
                    lambda status, headers: statuses.append(status),
                )
            )
    finally:
        store.close()
    assert statuses == ["503 Service Unavailable"]
    assert b"cannot reach its database" in body and b"Nothing was linked" in body
    assert b"inside delete-org-bot" not in body  # not the "internal error" page
    assert "sign-in callback: database unreachable" in caplog.text
    assert "code-not-real-1" not in caplog.text and "st-not-real-1" not in caplog.text
