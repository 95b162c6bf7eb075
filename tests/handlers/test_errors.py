"""The one catch-all: the user is told privately what happened, in words they can act on."""

from __future__ import annotations

from typing import Any

import pytest

from handlers import errors
from handlers.messages import DATABASE_UNAVAILABLE, INTERNAL_ERROR
from storage import StoreUnavailable

HOOK = "https://hooks.slack.com/actions/T0TEST0001/1/fake-errors-hook"


class RecordingWebhook:
    sent: list[dict[str, Any]] = []

    def __init__(self, url: str, timeout: int) -> None:
        assert url == HOOK

    def send(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            StoreUnavailable("PostgreSQL at postgresql://bot:***@db/delorg is unreachable"),
            DATABASE_UNAVAILABLE,
        ),
        (
            errors.OutcomeNotRecorded("acmeprod1", "Coveo answered HTTP 204"),
            "delete-org-bot cannot reach its database, so the outcome of deleting `acmeprod1`"
            " is not recorded yet (Coveo answered HTTP 204). Nothing more is sent to Coveo:"
            " once the database is back, the app reads the organization and posts the outcome"
            " in the card's thread.",
        ),
        (RuntimeError("boom"), INTERNAL_ERROR),
    ],
    ids=["database-unreachable", "outcome-not-recorded", "anything-else"],
)
def test_the_user_is_told_whether_the_database_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: Exception, text: str
) -> None:
    RecordingWebhook.sent = []
    monkeypatch.setattr(errors, "WebhookClient", RecordingWebhook)
    errors.report_unexpected(error, {"response_url": HOOK})
    assert [sent["text"] for sent in RecordingWebhook.sent] == [text]
    assert RecordingWebhook.sent[0]["response_type"] == "ephemeral"
    assert "unexpected error in a listener" in caplog.text  # logged, with its traceback


def test_with_the_database_gone_the_user_is_told_directly_without_waiting_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The response_url budget lives in the database that failed: reading it would wait for
    the pool's timeout again before the fallback post."""

    class NoDelivery:
        def private(self, **kwargs: Any) -> None:
            raise AssertionError("the budget in the unreachable database was consulted")

    RecordingWebhook.sent = []
    monkeypatch.setattr(errors, "WebhookClient", RecordingWebhook)
    for error in (
        StoreUnavailable("PostgreSQL at postgresql://bot:***@db/delorg is unreachable"),
        errors.OutcomeNotRecorded("acmeprod1", "no answer from Coveo"),
    ):
        errors.report_unexpected(error, {"response_url": HOOK}, NoDelivery())  # type: ignore[arg-type]
    assert len(RecordingWebhook.sent) == 2
