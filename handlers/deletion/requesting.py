"""``/delete-org <org-id>``: the preview lookup with the requester's own token, and
the card."""

from __future__ import annotations

import logging

from bot.config import CONFIRM_TIMEOUT_RANGE
from bot.coveo import (
    CoveoAPIError,
    CoveoError,
    Organization,
)
from bot.logfields import log_fields
from bot.orgid import OrgRef
from bot.policy import OrgFacts
from handlers import blocks, messages
from handlers.deletion.base import FlowBase, seconds
from handlers.delivery import DeliveryError
from handlers.deps import Actor
from handlers.guard import facts_of
from handlers.messages import esc
from handlers.notice import DelayedNotice
from handlers.response_url import OUTCOME_USES, why_unusable
from storage import (
    PENDING,
    DeletionRequest,
    Link,
    LiveRequestExists,
)

logger = logging.getLogger(__name__)


LOOKUP_NOTICE_DELAY = 1.0
"""Seconds the Coveo lookup of ``/delete-org <id>`` may take before the requester is told
"Looking up…" (a faster lookup just answers)."""


class RequestSteps(FlowBase):
    """From the slash command to the posted card."""

    def request(self, actor: Actor, ref: OrgRef) -> None:
        """Handle ``/delete-org <org-id>`` after the ack: look the organization up with the
        requester's own token and post the preview card (or say privately why not)."""
        if actor.response_url:  # its 30 minutes and 5 posts start now (handlers.response_url)
            self.store.note_response_url(actor.response_url, self.deps.clock())
        link = self.usable_link(actor)
        if link is None:
            return
        if ref.region_hint and ref.region_hint != link.region:
            self._refuse(
                actor,
                ref,
                link.region,
                messages.region_mismatch(ref.region_hint, link.region),
                detail="admin console URL of another region",
            )
            return
        refusal = self.guard.requester(actor.user_id, actor.channel_id)
        if refusal is not None:
            self._refuse(actor, ref, link.region, refusal.text, detail=f"rule {refusal.rule}")
            return
        live = self.store.live_request_for_org(ref.org_id, link.region)
        if live is not None and live.state == PENDING and live.expires_at <= self.deps.clock():
            expired = self.store.expire(live.id, self.deps.clock())
            if expired is not None:  # its card must say so before a new one replaces it
                self.announce_expired(expired, None)
            live = None
        if live is not None:
            self.tell(
                actor,
                messages.already_live(live.org_id, live.requester_id, live.channel_id, live.state),
            )
            return
        try:
            notice = DelayedNotice(
                lambda: self.tell(actor, messages.looking_up(ref.org_id)), LOOKUP_NOTICE_DELAY
            )
            with notice:
                org = self.coveo.get_organization(link.token, link.region, ref.org_id)
        except CoveoError as error:
            self._preview_failed(actor, ref, link, error)
            return
        if org.id != ref.org_id:
            self._refuse(
                actor,
                ref,
                link.region,
                f"Coveo answered with organization `{esc(org.id)}` for `{esc(ref.org_id)}`;"
                " refusing to go on. Nothing was deleted.",
                detail="id mismatch",
            )
            return
        if not org.deletable_state:
            text = messages.not_deletable(org.id, org.read_only, org.life_cycle_state)
            self._refuse(actor, ref, link.region, text, detail="organization read-only or paused")
            return
        facts = OrgFacts(org.id, org.type, org.product_type)
        refusal = self.guard.organization(facts) or self.guard.caps(actor.user_id)
        if refusal is not None:
            self._refuse(actor, ref, link.region, refusal.text, detail=f"rule {refusal.rule}")
            return
        self._create_and_post(actor, link, org)

    def _preview_failed(self, actor: Actor, ref: OrgRef, link: Link, error: CoveoError) -> None:
        explanation = messages.explain_coveo_error(
            error, org_id=ref.org_id, region=link.region, deleting=False
        )
        if isinstance(error, CoveoAPIError) and error.status == 401:
            self.store.mark_link_invalid(
                actor.workspace, actor.user_id, self.deps.clock(), "HTTP 401"
            )
        text = f"Could not preview `{esc(ref.org_id)}`: " + explanation.as_text()
        self.store.record_event(
            self.deps.clock(),
            "refused",
            workspace=actor.workspace,
            actor_id=actor.user_id,
            org_id=ref.org_id,
            region=link.region,
            http_status=explanation.status,
            coveo_request_id=explanation.request_id,
            detail=explanation.summary,
        )
        if explanation.relink:
            self.prompt_link(actor, text, link.region)
        else:
            self.tell(actor, text)

    def _create_and_post(self, actor: Actor, link: Link, org: Organization) -> None:
        now = self.deps.clock()
        try:
            request = self.store.create_request(
                workspace=actor.workspace,
                team_id=actor.team_id,
                requester_id=actor.user_id,
                channel_id=actor.channel_id,
                org_id=org.id,
                org_name=org.display_name,
                org_type=org.type,
                org_product_type=org.product_type,
                region=link.region,
                response_url=actor.response_url,
                now=now,
                expires_at=now + seconds(self.deps.confirm_timeout),
            )
        except LiveRequestExists as clash:
            live = clash.existing
            self.tell(
                actor,
                messages.already_live(live.org_id, live.requester_id, live.channel_id, live.state),
            )
            return
        requirements = self._requirements(request)

        def refit() -> tuple[str, list[blocks.Block]]:
            nonlocal request
            request, note = self._fit_to_response_url(request, actor.response_url)
            lines = [*requirements, note] if note else requirements
            return (
                blocks.preview_fallback_text(request),
                blocks.build_preview_card(request, org, lines),
            )

        try:
            delivery, ts = self.delivery.post_card(
                channel_id=actor.channel_id,
                text=blocks.preview_fallback_text(request),
                blocks=blocks.build_preview_card(request, org, requirements),
                response_url=actor.response_url,
                refit=refit,
            )
        except DeliveryError as error:
            logger.warning(
                "preview card for %s not posted: %s",
                request.id,
                error.error,
                extra=log_fields("card_not_posted", request),
            )
            self.store.abandon(request.id, self.deps.clock(), f"card not posted: {error.error}")
            self.tell(actor, messages.card_not_posted(error.error, transient=error.transient))
            return
        self.store.attach_card(request.id, delivery=delivery, card_ts=ts)
        logger.info(
            "preview card posted (%s) for %s",
            delivery,
            request.requester_id,
            extra=log_fields("requested", request),
        )

    def _fit_to_response_url(
        self, request: DeletionRequest, response_url: str | None
    ) -> tuple[DeletionRequest, str | None]:
        """The card goes through the command's response_url (the app is not in the channel):
        bring its deadline forward so that its expiry, sent up to a sweep interval later and
        maybe retried, still reaches the card before the URL dies
        (:func:`handlers.response_url.capped_timeout`). Returns the request as it now stands
        and the line that says so on the card (None when the deadline already fitted).

        Raises:
            DeliveryError: the URL has less than the shortest timeout (10 s) or too few posts
                left for a card and its end (``response_url_expired`` / ``_used_up``).
        """
        now = self.deps.clock()
        requested = int((request.expires_at - now).total_seconds())
        capped, budget = self.fitting_timeout(requested, response_url, now, posts_before=1)
        if capped >= requested:
            return request, None
        if capped < CONFIRM_TIMEOUT_RANGE[0]:  # no card worth posting: say why instead
            raise DeliveryError(why_unusable(budget, posts=1 + OUTCOME_USES))
        shortened = self.store.shorten_expiry(
            request.id,
            now + seconds(capped),
            now,
            detail=(
                f"card posted through response_url: confirmable {capped} s instead of"
                f" {self.deps.confirm_timeout} s (Slack keeps a response_url 30 minutes)"
            ),
        )
        if shortened is None:  # pragma: no cover - nobody else can decide on an unposted card
            return request, None
        logger.info(
            "request %s: card via response_url, deadline brought forward to %s s",
            request.id,
            capped,
        )
        return shortened, messages.shortened_card_note(capped, self.deps.confirm_timeout)

    def _requirements(self, request: DeletionRequest) -> list[str]:
        policy = self.guard.policy()
        facts = facts_of(request)
        return blocks.requirement_lines(
            policy.typed_confirmation_rule(facts),
            policy.approval_rule(facts),
            self.guard.approvers_text(),
        )
