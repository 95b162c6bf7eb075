"""The one place unexpected errors end up: traceback logged, the user told what to do, no trace."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackClientError
from slack_sdk.webhook import WebhookClient

from handlers.messages import DATABASE_UNAVAILABLE, INTERNAL_ERROR
from storage import StoreUnavailable

logger = logging.getLogger(__name__)


def report_unexpected(error: BaseException, body: object) -> None:
    """Log ``error`` with its traceback and, when the payload has a ``response_url``, tell the
    user privately that something failed (never the traceback itself): the database is
    unreachable (``StoreUnavailable``), or something else went wrong."""
    logger.error("unexpected error in a listener", exc_info=error)
    url = body.get("response_url") if isinstance(body, dict) else None
    if isinstance(url, str) and url:
        try:
            WebhookClient(url, timeout=5).send(
                text=DATABASE_UNAVAILABLE
                if isinstance(error, StoreUnavailable)
                else INTERNAL_ERROR,
                response_type="ephemeral",
                replace_original=False,
            )
        except (SlackClientError, OSError) as send_error:
            logger.warning("could not tell the user about the error: %s", send_error)


def on_app_error(error: Exception, body: dict[str, Any]) -> None:
    """Bolt's global error handler (``app.error``): exceptions raised by ack functions."""
    report_unexpected(error, body)


def guarded(work: Callable[..., None]) -> Callable[..., None]:
    """Wrap a lazy listener so its exceptions reach :func:`report_unexpected`: Bolt would
    otherwise log only the message of an exception raised after the ack."""

    @functools.wraps(work)
    def wrapper(**kwargs: Any) -> None:
        try:
            work(**kwargs)
        except Exception as error:  # noqa: BLE001 - the one catch-all: logged with traceback
            report_unexpected(error, kwargs.get("body"))

    return wrapper
