"""Getting messages to people: Slack Web API first, the interaction's response_url as fallback.

Exception tree::

    DeliveryError    Slack refused or could not take a message; ``error`` is Slack's code

Where the app cannot post in a channel (``not_in_channel``, ``channel_not_found``: private
channels and DMs it is not in), Slack's ``response_url`` still works (slack-notes §7), so the
card and its outcome travel that way instead.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from storage import DeletionRequest

logger = logging.getLogger(__name__)

CANNOT_POST_HERE = frozenset({"not_in_channel", "channel_not_found"})
"""chat.postMessage errors after which the response_url is used instead."""
WEBHOOK_TIMEOUT = 10
"""Seconds allowed for one response_url post."""

Blocks = list[dict[str, Any]]


class DeliveryError(Exception):
    """Slack did not take a message. ``error`` is Slack's error code (or ``http_<status>``)."""

    def __init__(self, error: str) -> None:
        super().__init__(f"Slack refused the message: {error}")
        self.error = error


def _slack_error(error: SlackClientError) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error") or f"http_{error.response.status_code}")
    return type(error).__name__


class Delivery:
    """Sends the app's messages. ``client`` is the bot's ``WebClient``."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def _webhook(self, url: str, body: dict[str, Any]) -> None:
        try:
            response = WebhookClient(url, timeout=WEBHOOK_TIMEOUT).send_dict(body)
        except (SlackClientError, OSError) as error:
            raise DeliveryError(f"response_url_{type(error).__name__}") from error
        if response.status_code != 200:
            raise DeliveryError(f"response_url_http_{response.status_code}")

    def post_card(
        self, *, channel_id: str, text: str, blocks: Blocks, response_url: str | None
    ) -> tuple[str, str | None]:
        """Post the preview card visibly in the channel.

        Returns ``("channel", ts)`` after chat.postMessage, or ``("response_url", None)`` when the
        app cannot post there and the command's response_url carried the card instead.

        Raises:
            DeliveryError: neither way worked.
        """
        try:
            result = self.client.chat_postMessage(channel=channel_id, text=text, blocks=blocks)
            return "channel", str(result["ts"])
        except SlackClientError as error:
            code = _slack_error(error)
            if code not in CANNOT_POST_HERE or not response_url:
                raise DeliveryError(code) from error
            logger.info("chat.postMessage refused (%s); posting the card via response_url", code)
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
        message posted through a response_url (slack-notes §4).

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
                first_error = DeliveryError(_slack_error(error))
                logger.warning("chat.update of card %s failed: %s", request.id, first_error.error)
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
                first_error = DeliveryError(_slack_error(error))
                logger.warning("thread reply for %s failed: %s", request.id, first_error.error)
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
                self._webhook(response_url, body)
                return
            except DeliveryError as error:
                logger.warning(
                    "ephemeral via response_url failed (%s); trying the Web API", error.error
                )
        try:
            self.client.chat_postEphemeral(
                channel=channel_id, user=user_id, text=text, blocks=blocks
            )
        except SlackClientError as error:
            raise DeliveryError(_slack_error(error)) from error
