"""Getting messages to people: Slack Web API first, the interaction's response_url as fallback.

Exception tree::

    DeliveryError    Slack refused or could not take a message; ``error`` is Slack's code

Where the app cannot post in a channel (``not_in_channel``, ``channel_not_found``: private
channels and DMs it is not in), Slack's ``response_url`` still works (slack-notes §7), so the
card and its outcome travel that way instead. Every post through a response_url first asks
:func:`handlers.response_url.usable` (30 minutes, 5 posts) and counts one use, so a URL that is
dead or used up is never posted to: the caller gets ``DeliveryError("response_url_expired")``
or ``("response_url_used_up")`` at once and takes another way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.clock import utcnow
from bot.logfields import log_fields
from handlers.response_url import MAX_USES, OUTCOME_USES, UrlBudget, usable, why_unusable
from storage import DeletionRequest

logger = logging.getLogger(__name__)

CANNOT_POST_HERE = frozenset({"not_in_channel", "channel_not_found"})
"""chat.postMessage errors after which the response_url is used instead."""
WEBHOOK_TIMEOUT = 10
"""Seconds allowed for one response_url post."""
DEAD_URL = "response_url_http_404"
"""How a response_url post fails when Slack considers the URL expired or used up: an HTTP
error, 404 (slack-notes §1, §4); the fake answers ``expired_url`` / ``used_url``. A replace of
a message that is gone (``message_not_found``) is not that."""

Blocks = list[dict[str, Any]]


TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
     "request_timeout", "team_added_to_org"}
)  # fmt: skip
"""Slack error codes worth retrying later (docs.slack.dev/reference/methods/chat.postMessage)."""


class DeliveryError(Exception):
    """Slack did not take a message. ``error`` is Slack's error code (or ``http_<status>``);
    ``transient`` is True when trying again later may work (rate limit, 5xx, network), with
    ``retry_after`` seconds when Slack said how long to wait."""

    def __init__(
        self, error: str, *, transient: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(f"Slack refused the message: {error}")
        self.error = error
        self.transient = transient
        self.retry_after = retry_after


def _as_delivery_error(error: SlackClientError) -> DeliveryError:
    if isinstance(error, SlackApiError):
        status = error.response.status_code
        code = str(error.response.get("error") or f"http_{status}")
        headers = error.response.headers or {}
        raw = headers.get("Retry-After") or headers.get("retry-after")
        retry_after = float(raw) if raw is not None and str(raw).strip().isdigit() else None
        transient = code in TRANSIENT_ERRORS or status == 429 or status >= 500
        return DeliveryError(code, transient=transient, retry_after=retry_after)
    return DeliveryError(type(error).__name__, transient=True)  # network-level failure


class UrlLedger(Protocol):
    """Where response_url budgets are kept (the store: ``storage/response_urls.py``)."""

    def response_url_budget(self, url: str) -> tuple[datetime, int] | None:
        """``(received_at, uses)`` of ``url``, or None when unknown."""

    def spend_response_url(self, url: str, now: datetime, limit: int) -> int | None:
        """Count one post through ``url`` unless it has had ``limit`` already; returns the
        uses so far, or None when nothing was counted."""

    def retire_response_url(self, url: str, uses: int) -> None:
        """Count ``url`` as having had ``uses`` posts (Slack said it is dead)."""


class Delivery:
    """Sends the app's messages. ``client`` is the bot's ``WebClient``; ``ledger`` keeps the
    budget of each response_url (None: no budget is kept or checked, as in unit tests);
    ``clock`` returns aware UTC."""

    def __init__(
        self,
        client: WebClient,
        *,
        ledger: UrlLedger | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.clock = clock

    def url_budget(self, url: str) -> UrlBudget | None:
        """What is left of ``url`` (see :mod:`handlers.response_url`), or None when no ledger
        is kept or the URL was never noted."""
        found = self.ledger.response_url_budget(url) if self.ledger is not None else None
        return UrlBudget(received_at=found[0], uses=found[1]) if found else None

    def url_usable(self, url: str | None, at: datetime, *, private: bool = False) -> bool:
        """Whether one more post through ``url`` sent at ``at`` will be accepted
        (:func:`handlers.response_url.usable`); False for no URL, True for an unknown one."""
        if not url:
            return False
        budget = self.url_budget(url)
        return budget is None or usable(budget, at, private=private)

    def _webhook(self, url: str, body: dict[str, Any], *, private: bool = False) -> None:
        """Post ``body`` through ``url`` if the rule allows it, counting one use.

        Raises:
            DeliveryError: the URL is dead or used up (nothing was sent), or Slack refused it.
        """
        if self.ledger is not None:
            now = self.clock()
            budget = self.url_budget(url)
            if budget is not None and not usable(budget, now, private=private):
                code = why_unusable(budget, private=private)
                logger.info("response_url not posted to (%s, %s uses)", code, budget.uses)
                raise DeliveryError(code)
            # Counted before sending (Slack may count a failed post too), and only while under
            # the limit, atomically: concurrent posts cannot both take the last allowed use.
            limit = MAX_USES - (OUTCOME_USES if private else 0)
            if self.ledger.spend_response_url(url, now, limit) is None:
                logger.info("response_url not posted to (response_url_used_up, raced)")
                raise DeliveryError("response_url_used_up")
        try:
            self._post(url, body)
        except DeliveryError as error:
            if error.error == DEAD_URL and self.ledger is not None:
                # Slack says it is expired or used up (slack-notes §1): never post to it again.
                self.ledger.retire_response_url(url, MAX_USES)
            raise

    def _post(self, url: str, body: dict[str, Any]) -> None:
        """The HTTP POST of ``body`` to the response_url (its answer checked)."""
        try:
            response = WebhookClient(url, timeout=WEBHOOK_TIMEOUT).send_dict(body)
        except (SlackClientError, OSError) as error:
            raise DeliveryError(f"response_url_{type(error).__name__}", transient=True) from error
        if response.status_code == 404 and "message_not_found" in str(response.body or ""):
            raise DeliveryError("response_url_message_not_found")  # the URL itself still works
        if response.status_code != 200:
            raise DeliveryError(
                f"response_url_http_{response.status_code}",
                transient=response.status_code == 429 or response.status_code >= 500,
            )

    def post_card(
        self,
        *,
        channel_id: str,
        text: str,
        blocks: Blocks,
        response_url: str | None,
        refit: Callable[[], tuple[str, Blocks]] | None = None,
    ) -> tuple[str, str | None]:
        """Post the preview card visibly in the channel.

        Returns ``("channel", ts)`` after chat.postMessage, or ``("response_url", None)`` when the
        app cannot post there and the command's response_url carried the card instead. Before
        that second way, ``refit()`` (when given) returns the ``(text, blocks)`` to post there
        instead (a card whose deadline fits the URL's life, :mod:`handlers.response_url`).

        Raises:
            DeliveryError: neither way worked.
        """
        try:
            result = self.client.chat_postMessage(channel=channel_id, text=text, blocks=blocks)
            return "channel", str(result["ts"])
        except SlackClientError as error:
            failure = _as_delivery_error(error)
            if failure.error not in CANNOT_POST_HERE or not response_url:
                raise failure from error
            logger.info(
                "chat.postMessage refused (%s); card goes via response_url",
                failure.error,
                extra=log_fields("card_via_response_url"),
            )
        if refit is not None:
            text, blocks = refit()
        self._webhook(
            response_url,
            {
                "response_type": "in_channel",
                "text": text,
                "blocks": blocks,
                "replace_original": False,
            },
        )
        return "response_url", None

    def update_card(
        self, request: DeletionRequest, *, text: str, blocks: Blocks, response_url: str | None
    ) -> None:
        """Replace the card's content (buttons removed when the blocks have none).

        ``response_url`` should come from a click on the card: only that one can replace a
        message posted through a response_url (slack-notes §4). A transient Web API failure is
        raised at once (to be retried later); a permanent one falls back to the response_url.

        Raises:
            DeliveryError: the card could not be updated either way.
        """
        first_error: DeliveryError | None = None
        if request.delivery == "channel" and request.card_ts:
            try:
                self.client.chat_update(
                    channel=request.channel_id, ts=request.card_ts, text=text, blocks=blocks
                )
                return
            except SlackClientError as error:
                first_error = _as_delivery_error(error)
                logger.warning(
                    "chat.update of card %s failed: %s",
                    request.id,
                    first_error.error,
                    extra=log_fields("card_update_failed", request),
                )
                if first_error.transient:
                    raise first_error from error
        if response_url is None:
            raise first_error or DeliveryError("no_way_to_update_card")
        self._webhook(
            response_url,
            {
                "replace_original": True,
                "response_type": "in_channel",
                "text": text,
                "blocks": blocks,
            },
        )

    def thread_reply(
        self, request: DeletionRequest, *, text: str, response_url: str | None
    ) -> None:
        """Reply in the card's thread (a new in-channel message if the card's ts is unknown).

        Raises:
            DeliveryError: neither chat.postMessage nor the response_url took it.
        """
        first_error: DeliveryError | None = None
        if request.delivery == "channel" and request.card_ts:
            try:
                self.client.chat_postMessage(
                    channel=request.channel_id, thread_ts=request.card_ts, text=text
                )
                return
            except SlackClientError as error:
                first_error = _as_delivery_error(error)
                logger.warning(
                    "thread reply for %s failed: %s",
                    request.id,
                    first_error.error,
                    extra=log_fields("thread_reply_failed", request),
                )
                if first_error.transient:
                    raise first_error from error
        if response_url is None:
            raise first_error or DeliveryError("no_way_to_reply")
        body: dict[str, Any] = {
            "response_type": "in_channel",
            "replace_original": False,
            "text": text,
        }
        if request.card_ts:
            body["thread_ts"] = request.card_ts
        self._webhook(response_url, body)

    def private(
        self,
        *,
        channel_id: str,
        user_id: str,
        text: str,
        blocks: Blocks | None = None,
        response_url: str | None = None,
    ) -> None:
        """Tell one user something only they see: via response_url when there is one (works in
        every conversation), else chat.postEphemeral.

        Raises:
            DeliveryError: Slack took it neither way.
        """
        body: dict[str, Any] = {
            "response_type": "ephemeral",
            "replace_original": False,
            "text": text,
        }
        if blocks:
            body["blocks"] = blocks
        if response_url:
            try:
                self._webhook(response_url, body, private=True)
                return
            except DeliveryError as error:
                logger.warning(
                    "ephemeral via response_url failed (%s); trying the Web API",
                    error.error,
                    extra=log_fields("ephemeral_via_response_url_failed"),
                )
        try:
            self.client.chat_postEphemeral(
                channel=channel_id, user=user_id, text=text, blocks=blocks
            )
        except SlackClientError as error:
            raise _as_delivery_error(error) from error

    def direct_message(self, *, user_id: str, text: str) -> None:
        """Post in the app's direct conversation with ``user_id``: the last resort when the
        card's channel cannot be reached, so the user still learns the outcome.

        ``chat.postMessage`` with ``channel`` = the user ID posts in the app's App Home
        **Messages** tab; it needs the ``chat:write`` scope (slack-notes §6 scopes table) and
        the manifest's ``features.app_home.messages_tab_enabled`` for the user to see it
        (slack-notes §6 ``app_home``). No ``conversations.open``, so no ``im:write``
        (slack-notes §7 says that scope is for opening the DM [I]).

        Raises:
            DeliveryError: Slack refused it too.
        """
        try:
            self.client.chat_postMessage(channel=user_id, text=text)
        except SlackClientError as error:
            raise _as_delivery_error(error) from error
