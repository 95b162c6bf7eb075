"""The one place unexpected errors end up: traceback logged, the user told what to do, no trace."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.logfields import log_fields
from handlers.delivery import Delivery, DeliveryError
from handlers.messages import DATABASE_UNAVAILABLE, INTERNAL_ERROR, OUTCOME_NOT_RECORDED, esc
from storage import StorageError, StoreUnavailable

logger = logging.getLogger(__name__)


class OutcomeNotRecorded(Exception):
    """A request went to ``deleting`` (so its DELETE may have been sent), but the database
    went away before the outcome was written (raised from the ``StoreUnavailable``). The
    request stays ``deleting``: once the database is back, crash recovery settles it by
    reading the organization (never a second DELETE). ``org_id`` and ``answer`` (``Coveo
    answered HTTP 204``, ``no answer from Coveo``) are shown to the user."""

    def __init__(self, org_id: str, answer: str) -> None:
        super().__init__(f"the outcome of the DELETE of {org_id} ({answer}) was not recorded")
        self.org_id = org_id
        self.answer = answer


def _user_text(error: BaseException) -> str:
    """What the user is told about ``error`` (never its message or traceback)."""
    if isinstance(error, OutcomeNotRecorded):
        return OUTCOME_NOT_RECORDED.format(org=esc(error.org_id), answer=esc(error.answer))
    return DATABASE_UNAVAILABLE if isinstance(error, StoreUnavailable) else INTERNAL_ERROR


def report_unexpected(error: BaseException, body: object, delivery: Delivery | None = None) -> None:
    """Log ``error`` with its traceback and, when the payload has a ``response_url``, tell the
    user privately that something failed (never the traceback itself): the database is
    unreachable (``StoreUnavailable``), Coveo's answer to a DELETE could not be recorded
    (:class:`OutcomeNotRecorded`), or something else went wrong. With ``delivery``, that
    post obeys the response_url rule (``handlers.response_url``) like every other."""
    logger.error(
        "unexpected error in a listener", exc_info=error, extra=log_fields("listener_error")
    )
    text = _user_text(error)
    url = body.get("response_url") if isinstance(body, dict) else None
    if not isinstance(url, str) or not url:
        return
    if delivery is not None and not isinstance(error, StoreUnavailable | OutcomeNotRecorded):
        # (With the database gone, the response_url's budget, kept in it, cannot be read
        # either: waiting for it would only delay the answer. Post once, directly.)
        try:
            delivery.private(channel_id="", user_id="", text=text, response_url=url)
            return
        except DeliveryError as send_error:
            logger.warning("could not tell the user about the error: %s", send_error.error)
            return
        except StorageError as store_error:
            # The response_url's budget lives in the database that just failed: post once
            # directly rather than leave the user with no answer.
            logger.warning(
                "response_url budget unreadable (%s); telling the user directly",
                type(store_error).__name__,
                extra=log_fields("response_url_budget_unreadable"),
            )
    try:
        WebhookClient(url, timeout=5).send(
            text=text,
            response_type="ephemeral",
            replace_original=False,
        )
    except (SlackClientError, OSError) as send_error:
        logger.warning(
            "could not tell the user about the error: %s",
            send_error,
            extra=log_fields("private_message_failed"),
        )


def on_app_error(error: Exception, body: dict[str, Any]) -> None:
    """Bolt's global error handler (``app.error``): exceptions raised by ack functions."""
    report_unexpected(error, body)


def error_handler(delivery: Delivery) -> Callable[[Exception, dict[str, Any]], None]:
    """:func:`on_app_error` telling the user through ``delivery`` (so under the response_url
    rule); Bolt injects ``error`` and ``body`` by name."""

    def on_error(error: Exception, body: dict[str, Any]) -> None:
        report_unexpected(error, body, delivery)

    return on_error


def guarded(work: Callable[..., None], delivery: Delivery | None = None) -> Callable[..., None]:
    """Wrap a lazy listener so its exceptions reach :func:`report_unexpected` (telling the user
    through ``delivery`` when given): Bolt would otherwise log only the message of an exception
    raised after the ack."""

    @functools.wraps(work)
    def wrapper(**kwargs: Any) -> None:
        try:
            work(**kwargs)
        except Exception as error:  # noqa: BLE001 - the one catch-all: logged with traceback
            report_unexpected(error, kwargs.get("body"), delivery)

    return wrapper
