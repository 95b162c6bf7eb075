"""Persisted outbox for card updates and thread replies: retried with backoff, survives restarts.

Transient Slack failures (``ratelimited`` with its ``Retry-After``, 5xx, network) are retried
later by the sweeper; permanent ones have already fallen back to the response_url inside
:class:`~handlers.delivery.Delivery`, and if that fails too the requester gets the outcome in a
private message, or else by direct message (recorded in the audit table either way, as the
outcome always is).

A retry is never planned on a response_url that will be dead by then
(:func:`handlers.response_url.usable`): where the card can only be reached through that URL
(the app is not in the channel), the item is given up at once and the requester told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.logfields import log_fields
from handlers.delivery import Delivery, DeliveryError
from handlers.messages import card_unreachable
from storage import DeletionRequest, OutboxItem, Store

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
"""Tries of one item before it is given up (then the requester is told privately)."""
LEASE_SECONDS = 60.0
"""How long a claimed item is reserved for the process sending it."""
BASE_BACKOFF = 2.0
MAX_BACKOFF = 300.0

Item = tuple[str, str, list[dict[str, Any]] | None]


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 2, 4, 8 … capped at 300."""
    return float(min(MAX_BACKOFF, BASE_BACKOFF * 2**attempts))


class Outbox:
    """Queues deliveries in SQLite, then sends them now or on a later sweep."""

    def __init__(
        self, store: Store, delivery: Delivery, clock: Callable[[], datetime], owner: str
    ) -> None:
        self.store = store
        self.delivery = delivery
        self.clock = clock
        self.owner = owner

    def send(
        self, request: DeletionRequest, items: Sequence[Item], response_url: str | None
    ) -> None:
        """Record ``(kind, text, blocks)`` items for the request, then try to send them now."""
        ids = self.store.enqueue(request.id, items, self.clock())
        claimed = self.store.claim_outbox(self.owner, self.clock(), LEASE_SECONDS, ids=ids)
        self._deliver(claimed, response_url)

    def deliver_due(self) -> int:
        """Send every item whose retry time has come; returns how many were tried."""
        claimed = self.store.claim_outbox(self.owner, self.clock(), LEASE_SECONDS)
        self._deliver(claimed, None)
        return len(claimed)

    def _deliver(self, items: Sequence[OutboxItem], response_url: str | None) -> None:
        for item in items:
            request = self.store.get_request(item.request_id)
            if request is None:  # pragma: no cover - requests are never deleted
                self.store.outbox_done(item.id, self.clock(), status="dead", error="no request")
                continue
            url = response_url or request.response_url
            if item.kind == "card" and self.store.newer_card_queued(item):
                self.store.outbox_done(item.id, self.clock(), status="superseded")
                continue
            try:
                if item.kind == "card":
                    self.delivery.update_card(
                        request, text=item.text, blocks=item.blocks or [], response_url=url
                    )
                else:
                    self.delivery.thread_reply(request, text=item.text, response_url=url)
            except DeliveryError as error:
                now = self.clock()
                wait = (
                    error.retry_after if error.retry_after is not None else backoff(item.attempts)
                )
                retry_at = now + timedelta(seconds=wait)
                if (
                    error.transient
                    and request.delivery == "response_url"
                    and not self.delivery.url_usable(url, retry_at)
                ):
                    logger.info(
                        "outbox item %s: %s, and no retry before the response_url dies",
                        item.id,
                        error.error,
                    )
                    error = DeliveryError("response_url_expired")
                if error.transient and item.attempts + 1 < MAX_ATTEMPTS:
                    logger.info(
                        "outbox item %s (%s) failed with %s; retrying in %.0f s",
                        item.id,
                        item.kind,
                        error.error,
                        wait,
                        extra=log_fields("slack_delivery_retry", request),
                    )
                    self.store.outbox_retry_at(item.id, now, retry_at, error.error)
                else:
                    self._give_up(request, item, error, url)
                continue
            self.store.outbox_done(item.id, self.clock(), status="sent")

    def _give_up(
        self, request: DeletionRequest, item: OutboxItem, error: DeliveryError, url: str | None
    ) -> None:
        logger.warning(
            "outbox item %s (%s) given up: %s",
            item.id,
            item.kind,
            error.error,
            extra=log_fields("slack_delivery_failed", request),
        )
        self.store.outbox_done(item.id, self.clock(), status="dead", error=error.error)
        self.store.record_event(
            self.clock(),
            "slack_delivery_failed",
            workspace=request.workspace,
            request_id=request.id,
            org_id=request.org_id,
            region=request.region,
            detail=f"{item.kind}: {error.error}",
        )
        if item.kind != "thread":
            return  # the card's state is also in the thread reply, told privately below
        text = card_unreachable(request.org_id, request.channel_id, error.error, item.text)
        try:
            self.delivery.private(
                channel_id=request.channel_id,
                user_id=request.requester_id,
                text=text,
                response_url=url,
            )
            return
        except DeliveryError as private_error:
            logger.warning(
                "private outcome message failed: %s",
                private_error.error,
                extra=log_fields("private_message_failed", request),
            )
        try:
            self.delivery.direct_message(user_id=request.requester_id, text=text)
        except DeliveryError as dm_error:
            logger.error(
                "request %s: outcome %s could not be delivered to anyone (%s); it is in the"
                " audit table",
                request.id,
                request.state,
                dm_error.error,
                extra=log_fields("outcome_undelivered", request),
            )
            self._record_direct(
                request, "direct_message_failed", f"{dm_error.error} after {error.error}"
            )
            return
        logger.info(
            "request %s: card unreachable (%s); requester %s told by direct message",
            request.id,
            error.error,
            request.requester_id,
        )
        self._record_direct(request, "told_by_direct_message", f"card unreachable: {error.error}")

    def _record_direct(self, request: DeletionRequest, event: str, detail: str) -> None:
        """Audit the last-resort direct message to the requester (sent or failed)."""
        self.store.record_event(
            self.clock(),
            event,
            workspace=request.workspace,
            actor_id=request.requester_id,
            request_id=request.id,
            org_id=request.org_id,
            region=request.region,
            detail=detail[:500],
        )
