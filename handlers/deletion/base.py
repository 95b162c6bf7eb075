"""What every step of the deletion workflow shares: telling people, the link check,
loading a request for a click, and announcing a card's end."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.logfields import log_fields
from bot.orgid import OrgRef
from handlers import blocks, messages, signin_blocks
from handlers.delivery import DeliveryError
from handlers.deps import Actor, Deps
from handlers.guard import Guard, Refusal
from handlers.outbox import Outbox
from handlers.response_url import UrlBudget, capped_timeout
from handlers.tokens import NeedsRelink, RefreshUnavailable, Tokens
from storage import (
    AWAITING_APPROVAL,
    PENDING,
    DeletionRequest,
    Link,
    LinkUnreadable,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How a confirmed deletion ended: ``state`` is deleted, failed or unknown."""

    state: str
    http_status: int | None
    request_id: str | None
    code: str | None
    detail: str | None
    text: str
    relink: bool = False


def seconds(value: int) -> timedelta:
    """``value`` seconds as a timedelta."""
    return timedelta(seconds=value)


def plausible_request_id(request_id: str) -> bool:
    """Whether a request ID taken from a button value has the shape of ours (16 to 64
    ASCII letters, digits, ``-`` or ``_``) before it is looked up."""
    return (
        16 <= len(request_id) <= 64
        and all(c.isalnum() or c in "-_" for c in request_id)
        and request_id.isascii()
    )


class FlowBase:
    """Shared state and helpers of the workflow's steps."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.store = deps.store
        self.coveo = deps.coveo
        self.delivery = deps.delivery
        self.outbox = Outbox(deps.store, deps.delivery, deps.clock, deps.instance_id)
        self.guard = Guard(deps.policy, deps.store, deps.groups, deps.clock)
        self.tokens = deps.tokens or Tokens(deps.store, None, deps.clock)

    def fitting_timeout(
        self, requested: int, response_url: str | None, now: datetime, *, posts_before: int
    ) -> tuple[int, UrlBudget]:
        """Seconds (at most ``requested``) a card that only ``response_url`` reaches may wait,
        so that ``posts_before`` posts now and its end still go through that URL
        (:func:`handlers.response_url.capped_timeout`), and the URL's budget (a fresh one when
        the URL was never noted)."""
        known = self.delivery.url_budget(response_url) if response_url else None
        budget = known or UrlBudget(received_at=now, uses=0)
        capped = capped_timeout(
            requested, budget, now, self.deps.sweep_interval, posts_before=posts_before
        )
        return capped, budget

    def tell(self, actor: Actor, text: str, block_list: list[blocks.Block] | None = None) -> None:
        """Send ``actor`` a private message; a delivery failure is logged, never raised."""
        try:
            self.delivery.private(
                channel_id=actor.channel_id,
                user_id=actor.user_id,
                text=text,
                blocks=block_list,
                response_url=actor.response_url,
            )
        except DeliveryError as error:
            logger.warning(
                "could not tell %s privately: %s",
                actor.user_id,
                error.error,
                extra=log_fields("private_message_failed", where=actor),
            )

    def prompt_link(self, actor: Actor, reason: str, region: str | None = None) -> None:
        """Private message saying why the user must (re)link, with the way to do it: with an
        OAuth client, **Sign in with Coveo** for ``region`` (or a region choice when unknown)
        and the paste option; without one, how to get a token and **Link Coveo account**."""
        self.tell(actor, reason, self.link_prompt_blocks(actor, reason, region))

    def link_prompt_blocks(
        self, actor: Actor, reason: str | None, region: str | None
    ) -> list[blocks.Block]:
        """The blocks of :meth:`prompt_link`; a sign-in for ``region`` starts here (its state
        is stored, valid 10 minutes)."""
        if not self.tokens.sign_in_enabled:
            return blocks.build_link_prompt(reason or messages.NOT_LINKED)
        if region is None:
            return signin_blocks.build_region_choice(reason)
        url, expires_at = self.tokens.start_sign_in(
            workspace=actor.workspace,
            team_id=actor.team_id,
            user_id=actor.user_id,
            region=region,
            channel_id=actor.channel_id,
            response_url=actor.response_url,
        )
        return signin_blocks.build_sign_in(url, region, expires_at, reason)

    def usable_link(self, actor: Actor) -> Link | None:
        """The actor's link if it can be used now (an expired token refreshed first, when it
        can be); otherwise prompt them to (re)link, or say Coveo is unreachable → None."""
        try:
            link = self.store.get_link(actor.workspace, actor.user_id)
            if link is None:
                self.prompt_link(actor, messages.NOT_LINKED)
                return None
            return self.tokens.fresh(link)
        except LinkUnreadable:
            self.prompt_link(actor, messages.LINK_UNREADABLE)
        except NeedsRelink as problem:
            refused = problem.reason == "refresh refused"
            self.prompt_link(
                actor,
                messages.REFRESH_REFUSED if refused else messages.RELINK,
                link.region if link is not None else None,
            )
        except RefreshUnavailable:
            self.tell(actor, messages.REFRESH_UNAVAILABLE)
        return None

    def _refuse(
        self, actor: Actor, ref: OrgRef, region: str | None, text: str, **audit: object
    ) -> None:
        self.store.record_event(
            self.deps.clock(),
            "refused",
            workspace=actor.workspace,
            actor_id=actor.user_id,
            org_id=ref.org_id,
            region=region,
            http_status=audit.get("http_status"),  # type: ignore[arg-type]
            coveo_request_id=audit.get("coveo_request_id"),  # type: ignore[arg-type]
            detail=str(audit.get("detail") or "")[:500] or None,
        )
        self.tell(actor, text)

    def _load_for_click(
        self, actor: Actor, request_id: str, message_ts: str | None, *, requester_only: bool = True
    ) -> DeletionRequest | None:
        request = self.store.get_request(request_id) if plausible_request_id(request_id) else None
        if request is None or request.workspace != actor.workspace:
            self.tell(actor, messages.CARD_GONE)
            return None
        refreshed = self.store.note_click(
            request.id,
            response_url=actor.response_url,
            card_ts=message_ts if not request.card_ts else None,
            now=self.deps.clock(),
        )
        if refreshed is None:  # pragma: no cover - rows are never deleted
            return None
        if requester_only and actor.user_id != refreshed.requester_id:
            self.store.record_event(
                self.deps.clock(),
                "click_refused",
                workspace=actor.workspace,
                actor_id=actor.user_id,
                request_id=refreshed.id,
                org_id=refreshed.org_id,
                region=refreshed.region,
                detail="only the requester can decide",
            )
            self.tell(actor, messages.ONLY_REQUESTER.format(requester=refreshed.requester_id))
            return None
        return refreshed

    def _not_pending(self, actor: Actor, request_id: str) -> None:
        now = self.deps.clock()
        current = self.store.get_request(request_id)
        if current is None:  # pragma: no cover - rows are never deleted
            return
        if current.state == PENDING and current.expires_at <= now:
            expired = self.store.expire(current.id, now)
            if expired is not None:
                self.announce_expired(expired, actor.response_url)
            self.tell(actor, messages.expired_at_click(current.org_id))
            return
        approval_deadline = current.approval_expires_at
        if current.state == AWAITING_APPROVAL and approval_deadline and approval_deadline <= now:
            expired = self.store.expire_approval(current.id, now)
            if expired is not None:
                self.announce_expired(expired, actor.response_url)
            self.tell(actor, messages.approval_expired(current.org_id))
            return
        if current.state in (PENDING, AWAITING_APPROVAL):  # lost a race; nothing to say
            self.tell(actor, messages.CARD_GONE)
            return
        self.tell(actor, messages.not_pending(current.state, current.org_id))

    def _not_started(self, actor: Actor, request: DeletionRequest) -> None:
        """The atomic start was refused: a cap filled up meanwhile, or the state moved on."""
        current = self.store.get_request(request.id)
        if current is not None and current.state in (PENDING, AWAITING_APPROVAL):
            refusal = self.guard.caps(request.requester_id)
            if refusal is not None:
                self._refused_step(actor, request, refusal)
                return
        self._not_pending(actor, request.id)

    def _refused_step(self, actor: Actor, request: DeletionRequest, refusal: Refusal) -> None:
        self.store.record_event(
            self.deps.clock(),
            "refused",
            workspace=request.workspace,
            actor_id=actor.user_id,
            request_id=request.id,
            org_id=request.org_id,
            region=request.region,
            detail=f"rule {refusal.rule}",
        )
        self.tell(actor, refusal.text)

    def announce_expired(self, request: DeletionRequest, response_url: str | None) -> None:
        """Turn an expired card into "Expired — nothing was deleted" and say so in its thread."""
        if request.approval_expires_at is not None:  # it was waiting for a second approver
            card = ":hourglass: Expired — nothing was deleted (not approved in time)."
            thread = "Expired — nothing was deleted. No approver approved in time."
        else:
            card = ":hourglass: Expired — nothing was deleted (not confirmed in time)."
            thread = "Expired — nothing was deleted. The requester did not confirm in time."
        self._announce(request, card=card, thread=thread, response_url=response_url)

    def _announce(
        self, request: DeletionRequest, *, card: str, thread: str, response_url: str | None
    ) -> None:
        """Update the card and reply in its thread, through the persisted outbox."""
        logger.info("request ended: %s", request.state, extra=log_fields(request.state, request))
        self.outbox.send(
            request,
            [
                (
                    "card",
                    f"{request.org_id}: {request.state}",
                    blocks.build_final_card(request, card),
                ),
                ("thread", thread, None),
            ],
            response_url,
        )
