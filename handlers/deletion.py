"""The deletion workflow: preview → confirm or cancel or expire → one DELETE → outcome in thread.

Listeners call into :class:`DeletionFlow` after they have acked; the expiry sweeper calls
:meth:`DeletionFlow.expire_due`. Every state change goes through the store's compare-and-set
transitions, so a double click, a click racing the sweeper, or Confirm racing Cancel, can
never cause a second ``DELETE``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.coveo import (
    CoveoAPIError,
    CoveoError,
    CoveoProtocolError,
    CoveoUnavailable,
    Organization,
)
from bot.orgid import OrgRef
from bot.policy import OrgFacts
from handlers import blocks, messages, signin_blocks
from handlers.delivery import DeliveryError
from handlers.deps import Actor, Deps
from handlers.guard import Guard, Refusal, facts_of
from handlers.messages import esc, region_label
from handlers.outbox import Outbox
from handlers.tokens import NeedsRelink, RefreshUnavailable, Tokens
from storage import (
    AWAITING_APPROVAL,
    DELETED,
    FAILED,
    PENDING,
    UNKNOWN,
    DeletionRequest,
    Link,
    LinkUnreadable,
    LiveRequestExists,
)

logger = logging.getLogger(__name__)

SETTLE_SECONDS = 60
"""After a crash, an organization still present this long after the DELETE was sent is
reported "not deleted" (earlier, Coveo may still be processing that DELETE)."""


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


class DeletionFlow:
    """Runs every step of a deletion request. Methods are called after the Slack ack."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.store = deps.store
        self.coveo = deps.coveo
        self.delivery = deps.delivery
        self.outbox = Outbox(deps.store, deps.delivery, deps.clock, deps.instance_id)
        self.guard = Guard(deps.policy, deps.store, deps.groups, deps.clock)
        self.tokens = deps.tokens or Tokens(deps.store, None, deps.clock)

    # -- telling people ----------------------------------------------------------------------
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
            logger.warning("could not tell %s privately: %s", actor.user_id, error.error)

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

    # -- request -----------------------------------------------------------------------------
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

    def request(self, actor: Actor, ref: OrgRef) -> None:
        """Handle ``/delete-org <org-id>`` after the ack: look the organization up with the
        requester's own token and post the preview card (or say privately why not)."""
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
                expires_at=now + _seconds(self.deps.confirm_timeout),
            )
        except LiveRequestExists as clash:
            live = clash.existing
            self.tell(
                actor,
                messages.already_live(live.org_id, live.requester_id, live.channel_id, live.state),
            )
            return
        try:
            delivery, ts = self.delivery.post_card(
                channel_id=actor.channel_id,
                text=blocks.preview_fallback_text(request),
                blocks=blocks.build_preview_card(request, org, self._requirements(request)),
                response_url=actor.response_url,
            )
        except DeliveryError as error:
            logger.warning("preview card for %s not posted: %s", request.id, error.error)
            self.store.abandon(request.id, self.deps.clock(), f"card not posted: {error.error}")
            self.tell(actor, messages.card_not_posted(error.error, transient=error.transient))
            return
        self.store.attach_card(request.id, delivery=delivery, card_ts=ts)

    # -- clicks ------------------------------------------------------------------------------
    def _requirements(self, request: DeletionRequest) -> list[str]:
        policy = self.guard.policy()
        facts = facts_of(request)
        return blocks.requirement_lines(
            policy.typed_confirmation_rule(facts),
            policy.approval_rule(facts),
            self.guard.approvers_text(),
        )

    def _load_for_click(
        self, actor: Actor, request_id: str, message_ts: str | None, *, requester_only: bool = True
    ) -> DeletionRequest | None:
        request = self.store.get_request(request_id) if _plausible_id(request_id) else None
        if request is None or request.workspace != actor.workspace:
            self.tell(actor, messages.CARD_GONE)
            return None
        refreshed = self.store.note_click(
            request.id,
            response_url=actor.response_url,
            card_ts=message_ts if not request.card_ts else None,
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

    def cancel(self, actor: Actor, request_id: str, message_ts: str | None) -> None:
        """The requester clicked **Cancel**: pending → cancelled; card and thread say so."""
        request = self._load_for_click(actor, request_id, message_ts)
        if request is None:
            return
        cancelled = self.store.cancel(
            request.id, actor.user_id, self.deps.clock()
        ) or self.store.withdraw(request.id, actor.user_id, self.deps.clock())
        if cancelled is None:
            self._not_pending(actor, request.id)
            return
        self._announce(
            cancelled,
            card=f":no_entry_sign: Cancelled by <@{actor.user_id}>. Nothing was deleted.",
            thread=f"Cancelled by <@{actor.user_id}>. Nothing was deleted.",
            response_url=actor.response_url,
        )

    def confirm_requirements(
        self, actor: Actor, request_id: str
    ) -> tuple[str | None, str | None] | None:
        """For the Confirm ack: ``(typed_rule, approval_rule)`` when a modal must open first
        (the clicker is the requester, the card is still pending and a rule applies), else
        None. A cheap read; the decision is checked again after the modal."""
        request = self.store.get_request(request_id) if _plausible_id(request_id) else None
        if (
            request is None
            or request.workspace != actor.workspace
            or request.requester_id != actor.user_id
            or request.state != PENDING
            or request.expires_at <= self.deps.clock()
        ):
            return None
        policy = self.guard.policy()
        facts = facts_of(request)
        typed, approval = policy.typed_confirmation_rule(facts), policy.approval_rule(facts)
        return (typed, approval) if typed or approval else None

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

    def confirm(
        self,
        actor: Actor,
        request_id: str,
        message_ts: str | None,
        *,
        via_modal: bool = False,
        typed: str | None = None,
        reason: str | None = None,
    ) -> None:
        """The requester clicked **Confirm deletion** (or submitted the Confirm modal): every
        guardrail is checked again; then either the card waits for a second approver, or at
        most one ``DELETE`` is sent and the outcome goes on the card and in its thread."""
        request = self._load_for_click(actor, request_id, message_ts)
        if request is None:
            return
        facts = facts_of(request)
        refusal = self.guard.full(request.requester_id, request.channel_id, facts, fresh=True)
        if refusal is not None:
            self._refused_step(actor, request, refusal)
            return
        policy = self.guard.policy()
        typed_rule, approval_rule = (
            policy.typed_confirmation_rule(facts),
            policy.approval_rule(facts),
        )
        if (typed_rule or approval_rule) and not via_modal:
            return  # the ack opened the Confirm modal; its submission continues from here
        if typed_rule and typed != request.org_id:
            self.store.record_event(
                self.deps.clock(),
                "typed_confirmation_failed",
                workspace=request.workspace,
                actor_id=actor.user_id,
                request_id=request.id,
                org_id=request.org_id,
                region=request.region,
                detail=f"rule {typed_rule}",
            )
            self.tell(actor, messages.typed_mismatch(request.org_id))
            return
        if approval_rule:
            if not reason or not reason.strip():
                self.tell(actor, messages.REASON_REQUIRED)
                return
            self._ask_approval(actor, request, reason.strip(), approval_rule)
            return
        outcome = self._start_and_delete(
            actor, actor, request, self.store.start_deletion, f"<@{actor.user_id}>"
        )
        if outcome is not None and outcome.relink:
            self.prompt_link(actor, messages.RELINK, request.region)

    def _start_and_delete(
        self,
        decider: Actor,
        requester: Actor,
        request: DeletionRequest,
        start: Callable[..., DeletionRequest | None],
        by: str,
    ) -> Outcome | None:
        """Move the request to ``deleting`` with ``start`` (the store's compare-and-set, caps
        counted in the same write), then send the DELETE; None when the start was refused."""
        with self.deps.inflight.running(request.id):
            started = start(
                request.id,
                decider.user_id,
                self.deps.clock(),
                owner=self.deps.instance_id,
                limits=self.guard.limits(request.requester_id),
            )
            if started is None:
                self._not_started(decider, request)
                return None
            return self._run_delete(decider, requester, started, by)

    def _run_delete(
        self, decider: Actor, requester: Actor, started: DeletionRequest, by: str
    ) -> Outcome:
        """The request is ``deleting``: send the DELETE with the requester's token, record the
        outcome (always, even after an unexpected error) and announce it. ``decider`` clicked
        last (the requester, or the approver); ``by`` says who decided, in mrkdwn."""
        try:
            outcome = self._delete(requester, started, by)
        except Exception as error:  # noqa: BLE001 - the request must still get an outcome
            logger.exception("deletion %s failed unexpectedly", started.id)
            outcome = self._internal_failure(started, error)
        finished = self.store.finish(
            started.id,
            outcome=outcome.state,
            now=self.deps.clock(),
            actor_id=decider.user_id,
            http_status=outcome.http_status,
            coveo_request_id=outcome.request_id,
            error_code=outcome.code,
            error_detail=outcome.detail,
        )
        if finished is None:
            self._late_outcome(started, outcome, decider.response_url)
        else:
            self._conclude(by, finished, outcome, decider.response_url)
        return outcome

    def _late_outcome(
        self, started: DeletionRequest, outcome: Outcome, response_url: str | None
    ) -> None:
        """Coveo answered after the request was settled elsewhere (e.g. reconciled while this
        process was presumed dead): keep the settled state, but record and show the answer."""
        current = self.store.get_request(started.id) or started
        logger.warning(
            "request %s: late outcome %s after it was settled as %s",
            started.id,
            outcome.state,
            current.state,
        )
        self.store.record_event(
            self.deps.clock(),
            "late_outcome",
            workspace=current.workspace,
            request_id=current.id,
            org_id=current.org_id,
            region=current.region,
            http_status=outcome.http_status,
            coveo_request_id=outcome.request_id,
            detail=f"{outcome.state} after it was settled as {current.state}",
        )
        self.outbox.send(
            current,
            [
                (
                    "thread",
                    f"Late answer from Coveo (this request was already recorded as"
                    f" {current.state}): {outcome.text}",
                    None,
                )
            ],
            response_url,
        )

    def _internal_failure(self, request: DeletionRequest, error: Exception) -> Outcome:
        """An unexpected error after the request went to ``deleting``: record "unknown" (the
        DELETE may have been sent) so the request never stays stuck, and say what to check."""
        org_ref = f"`{esc(request.org_id)}`"
        text = (
            f":grey_question: Outcome unknown — an internal error interrupted the deletion of"
            f" {org_ref} ({type(error).__name__}; details are in the app's log).\n*Next step:*"
            f" check in the Administration Console whether {org_ref} still exists and report it"
            " in this thread. The app does not send the DELETE again by itself."
        )
        return Outcome(UNKNOWN, None, None, "INTERNAL_ERROR", type(error).__name__, text)

    # -- second approver ---------------------------------------------------------------------
    def _ask_approval(self, actor: Actor, request: DeletionRequest, reason: str, rule: str) -> None:
        now = self.deps.clock()
        deadline = now + timedelta(seconds=self.guard.policy().approval_timeout)
        waiting = self.store.await_approval(
            request.id, actor.user_id, now, reason=reason, approval_deadline=deadline
        )
        if waiting is None:
            self._not_pending(actor, request.id)
            return
        approvers = self.guard.approvers_text()
        self.outbox.send(
            waiting,
            [
                (
                    "card",
                    f"{waiting.org_id}: waiting for approval",
                    blocks.build_approval_card(waiting, approvers),
                ),
                (
                    "thread",
                    f"<@{actor.user_id}> confirmed; a second approver ({approvers}) must"
                    f" approve before {blocks.slack_date(deadline)} ({esc(rule)}).\n"
                    f"*Reason:* {esc(reason)}",
                    None,
                ),
            ],
            actor.response_url,
        )

    def _approver_check(self, actor: Actor, request: DeletionRequest) -> bool:
        """Tell and record why ``actor`` may not decide on this approval; True if they may."""
        why: str | None = None
        if actor.user_id == request.requester_id:
            why = messages.SELF_APPROVAL
        else:
            verdict = self.guard.is_approver(actor.user_id)
            if isinstance(verdict, Refusal):
                why = verdict.text
            elif not verdict:
                why = messages.not_an_approver(self.guard.approvers_text())
        if why is None:
            return True
        self.store.record_event(
            self.deps.clock(),
            "approval_refused",
            workspace=request.workspace,
            actor_id=actor.user_id,
            request_id=request.id,
            org_id=request.org_id,
            region=request.region,
            detail=why[:200],
        )
        self.tell(actor, why)
        return False

    def approve(self, actor: Actor, request_id: str, message_ts: str | None) -> None:
        """An approver clicked **Approve deletion**: checked against the policy and group
        membership now, then at most one ``DELETE`` with the requester's token."""
        request = self._load_for_click(actor, request_id, message_ts, requester_only=False)
        if request is None or not self._approver_check(actor, request):
            return
        refusal = self.guard.full(
            request.requester_id, request.channel_id, facts_of(request), fresh=True
        )
        if refusal is not None:
            self._refused_step(actor, request, refusal)
            return
        requester = Actor(
            request.workspace,
            request.team_id,
            request.requester_id,
            request.channel_id,
            actor.response_url,
        )
        by = f"<@{request.requester_id}> (approved by <@{actor.user_id}>)"
        self._start_and_delete(actor, requester, request, self.store.approve, by)

    def reject(self, actor: Actor, request_id: str, message_ts: str | None) -> None:
        """An approver clicked **Reject**: awaiting_approval → rejected; nothing is deleted."""
        request = self._load_for_click(actor, request_id, message_ts, requester_only=False)
        if request is None or not self._approver_check(actor, request):
            return
        rejected = self.store.reject(request.id, actor.user_id, self.deps.clock())
        if rejected is None:
            self._not_pending(actor, request.id)
            return
        self._announce(
            rejected,
            card=f":no_entry: Rejected by <@{actor.user_id}>. Nothing was deleted.",
            thread=f"Rejected by <@{actor.user_id}>. Nothing was deleted.",
            response_url=actor.response_url,
        )

    def _conclude(
        self, by: str, final: DeletionRequest, outcome: Outcome, response_url: str | None
    ) -> None:
        card_line = {
            DELETED: f":wastebasket: Deleted by {by}"
            f" {blocks.slack_date(self.deps.clock())}. {messages.BACKUP_NOTE}",
            FAILED: ":x: Not deleted. Details in the thread.",
            UNKNOWN: ":grey_question: Outcome unknown. Details in the thread.",
        }[outcome.state]
        self._announce(final, card=card_line, thread=outcome.text, response_url=response_url)

    def _delete(self, actor: Actor, request: DeletionRequest, by: str | None = None) -> Outcome:
        """Send the one DELETE (with the requester's token) and classify what happened; ``by``
        says who decided, in mrkdwn (default: the actor)."""
        by = by or f"<@{actor.user_id}>"
        try:
            link = self.store.get_link(request.workspace, request.requester_id)
            if link is not None and link.region == request.region:
                link = self.tokens.fresh(link)  # refreshed once, under the link's lock
        except LinkUnreadable:
            link = None
        except NeedsRelink as problem:
            link = None
            if problem.reason == "refresh refused":
                reason = "Coveo refused to renew your sign-in since the card was posted."
                return Outcome(
                    FAILED,
                    None,
                    None,
                    "REFRESH_REFUSED",
                    reason,
                    messages.link_problem_at_confirm(reason),
                    True,
                )
        except RefreshUnavailable:
            reason = "Coveo could not be reached to renew your sign-in, so nothing was sent."
            return Outcome(
                FAILED,
                None,
                None,
                "REFRESH_UNAVAILABLE",
                reason,
                f":x: Not deleted: {reason} Try again in a minute.",
            )
        if link is None or not link.usable:
            reason = "your Coveo link was removed or refused since the card was posted."
            return Outcome(
                FAILED,
                None,
                None,
                "NOT_LINKED",
                reason,
                messages.link_problem_at_confirm(reason),
                True,
            )
        if link.region != request.region:
            reason = "your linked token is now for another region than this card."
            return Outcome(
                FAILED,
                None,
                None,
                "REGION_CHANGED",
                reason,
                messages.link_problem_at_confirm(reason),
            )
        # Nothing else happens between the recorded `deleting` state and the DELETE: a Slack
        # round trip here would delay it (further clicks are already refused by that state).
        try:
            result = self.coveo.delete_organization(link.token, link.region, request.org_id)
        except CoveoAPIError as error:
            if error.status >= 500:
                return self._verify(link, request, error)
            if error.status == 401:
                self.store.mark_link_invalid(
                    request.workspace, request.requester_id, self.deps.clock(), "HTTP 401"
                )
            return self._failed(request, error)
        except CoveoUnavailable as error:
            if error.maybe_sent:
                return self._verify(link, request, error)
            return self._failed(request, error)
        except CoveoProtocolError as error:
            return self._verify(link, request, error)  # an answer came, unreadable: check
        except CoveoError as error:
            return self._failed(request, error)
        name = esc(request.org_name or request.org_id)
        rid = f" Coveo request ID: `{esc(result.request_id)}`." if result.request_id else ""
        text = (
            f":white_check_mark: `{result.status} No Content` — organization *{name}*"
            f" (`{esc(request.org_id)}`, region {region_label(request.region)}) was deleted by"
            f" {by}.{rid}\n{messages.BACKUP_NOTE}"
        )
        return Outcome(DELETED, result.status, result.request_id, None, None, text)

    def _failed(self, request: DeletionRequest, error: CoveoError) -> Outcome:
        explanation = messages.explain_coveo_error(
            error, org_id=request.org_id, region=request.region, deleting=True
        )
        state = UNKNOWN if explanation.code == "TIMEOUT" else FAILED
        head = ":grey_question: Outcome unknown" if state == UNKNOWN else ":x: Not deleted"
        text = f"{head} — `{esc(request.org_id)}`: {explanation.as_text()}"
        return Outcome(
            state,
            explanation.status,
            explanation.request_id,
            explanation.code,
            explanation.detail or explanation.summary,
            text,
            explanation.relink,
        )

    def _verify(self, link: Link, request: DeletionRequest, error: CoveoError) -> Outcome:
        """After a timeout or 5xx on DELETE, read the organization once to learn the truth;
        never send a second DELETE."""
        first = messages.explain_coveo_error(
            error, org_id=request.org_id, region=request.region, deleting=True
        )
        try:
            org = self.coveo.get_organization(link.token, link.region, request.org_id)
        except CoveoAPIError as check:
            if check.status == 404:
                text = (
                    f":white_check_mark: Deleted — `{esc(request.org_id)}`: the DELETE got no clear"
                    f" answer ({first.summary}), but a lookup shows the organization no longer"
                    f" exists. {messages.BACKUP_NOTE}"
                )
                return Outcome(
                    DELETED,
                    first.status,
                    check.request_id or first.request_id,
                    first.code,
                    "confirmed by lookup (404)",
                    text,
                )
            return self._unknown(request, first)
        except CoveoError:
            return self._unknown(request, first)
        if org.life_cycle_state == "DELETING":
            text = (
                f":white_check_mark: Deleted — `{esc(request.org_id)}`: Coveo reports the"
                f" organization as being deleted. {messages.BACKUP_NOTE}"
            )
            return Outcome(
                DELETED, first.status, first.request_id, first.code, "lifeCycleState DELETING", text
            )
        if not isinstance(error, CoveoAPIError):
            # No answer came back: the DELETE may still be running at Coveo, so an organization
            # that still exists now does not prove it will not be deleted.
            return self._unknown(request, first, still_there=True)
        text = (
            f":x: Not deleted — `{esc(request.org_id)}` still exists after the DELETE failed."
            f"\n{first.as_text()}"
        )
        detail = "still exists after: " + (first.detail or first.summary)
        return Outcome(
            FAILED, first.status, first.request_id, first.code or "NOT_DELETED", detail, text
        )

    def _unknown(
        self, request: DeletionRequest, first: messages.Explanation, *, still_there: bool = False
    ) -> Outcome:
        seen = (
            "a lookup right after still found the organization, but Coveo may still be"
            " processing the deletion"
            if still_there
            else "a follow-up lookup could not tell whether it still exists"
        )
        text = (
            f":grey_question: Outcome unknown — `{esc(request.org_id)}`: {first.summary}, and"
            f" {seen}.\n"
            f"*Next step:* check in the Administration Console whether `{esc(request.org_id)}`"
            " still exists and report it in this thread. Do not ask again blindly."
        )
        return Outcome(
            UNKNOWN, first.status, first.request_id, first.code or "UNKNOWN", first.summary, text
        )

    # -- expiry ------------------------------------------------------------------------------
    def announce_expired(self, request: DeletionRequest, response_url: str | None) -> None:
        """Turn an expired card into "Expired — nothing was deleted" and say so in its thread."""
        if request.approval_expires_at is not None:  # it was waiting for a second approver
            card = ":hourglass: Expired — nothing was deleted (not approved in time)."
            thread = "Expired — nothing was deleted. No approver approved in time."
        else:
            card = ":hourglass: Expired — nothing was deleted (not confirmed in time)."
            thread = "Expired — nothing was deleted. The requester did not confirm in time."
        self._announce(request, card=card, thread=thread, response_url=response_url)

    def expire_due(self) -> int:
        """Expire every pending request past its deadline; returns how many this call expired."""
        count = 0
        for due in self.store.due_for_expiry(self.deps.clock()):
            if due.state == AWAITING_APPROVAL:
                expired = self.store.expire_approval(due.id, self.deps.clock())
            else:
                expired = self.store.expire(due.id, self.deps.clock())
            if expired is not None:
                count += 1
                self.announce_expired(expired, expired.response_url)
        return count

    def _announce(
        self, request: DeletionRequest, *, card: str, thread: str, response_url: str | None
    ) -> None:
        """Update the card and reply in its thread, through the persisted outbox."""
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

    # -- crash recovery ----------------------------------------------------------------------
    def reconcile_orphans(self, owner_alive: Callable[[dict[str, Any] | None], bool]) -> int:
        """Settle requests left in ``deleting`` by a process that is gone (crash, SIGKILL):
        read the organization with the requester's token and record deleted, not deleted or
        unknown. Never sends a ``DELETE``. Returns how many it settled.

        ``owner_alive`` tells from the owner's instance row whether that process still runs.
        """
        settled = 0
        for request, owner in self.store.deleting_with_owners():
            mine = request.owner == self.deps.instance_id
            if request.id in self.deps.inflight or (not mine and owner_alive(owner)):
                continue
            claimed = (
                request
                if mine
                else self.store.claim_orphan(request.id, request.owner, self.deps.instance_id)
            )
            if claimed is None:
                continue
            outcome = self._recovered_outcome(claimed)
            if outcome is None:
                continue  # too early to tell; the next pass looks again
            finished = self.store.finish(
                claimed.id,
                outcome=outcome.state,
                now=self.deps.clock(),
                actor_id="system",
                http_status=outcome.http_status,
                coveo_request_id=outcome.request_id,
                error_code=outcome.code,
                error_detail=outcome.detail,
            )
            if finished is not None:
                settled += 1
                self._conclude(
                    f"<@{claimed.decided_by or claimed.requester_id}>", finished, outcome, None
                )
        return settled

    def _recovered_outcome(self, request: DeletionRequest) -> Outcome | None:
        org_ref = f"`{esc(request.org_id)}`"
        check = (
            f"*Next step:* check in the Administration Console whether {org_ref} still exists,"
            " and report it in this thread. The app never sends a DELETE again by itself."
        )
        try:
            link = self.store.get_link(request.workspace, request.requester_id)
        except LinkUnreadable:
            link = None
        if link is None:
            text = (
                f":grey_question: Outcome unknown — the app restarted while deleting {org_ref},"
                f" and the requester's Coveo link is gone, so it cannot check.\n{check}"
            )
            return Outcome(UNKNOWN, None, None, "RESTARTED", "no link to check with", text)
        try:
            org = self.coveo.get_organization(link.token, link.region, request.org_id)
        except CoveoAPIError as error:
            if error.status == 404:
                text = (
                    f":white_check_mark: Deleted (confirmed after restart) — {org_ref} no longer"
                    f" exists. The app restarted before Coveo's answer arrived.\n"
                    f"{messages.BACKUP_NOTE}"
                )
                return Outcome(
                    DELETED,
                    None,
                    error.request_id,
                    "RESTARTED",
                    "confirmed after restart (404)",
                    text,
                )
            explanation = messages.explain_coveo_error(
                error, org_id=request.org_id, region=request.region, deleting=False
            )
            text = (
                f":grey_question: Outcome unknown — the app restarted while deleting {org_ref},"
                f" and the check failed: {explanation.summary}.\n{check}"
            )
            return Outcome(
                UNKNOWN, error.status, error.request_id, "RESTARTED", explanation.summary, text
            )
        except CoveoError as error:
            text = (
                f":grey_question: Outcome unknown — the app restarted while deleting {org_ref},"
                f" and Coveo could not be reached to check ({type(error).__name__}).\n{check}"
            )
            return Outcome(UNKNOWN, None, None, "RESTARTED", type(error).__name__, text)
        if org.life_cycle_state == "DELETING":
            text = (
                f":white_check_mark: Deleted (confirmed after restart) — Coveo reports {org_ref}"
                f" as being deleted.\n{messages.BACKUP_NOTE}"
            )
            return Outcome(DELETED, None, None, "RESTARTED", "lifeCycleState DELETING", text)
        attempted = request.attempted_at or request.updated_at
        if self.deps.clock() - attempted < timedelta(seconds=SETTLE_SECONDS):
            return None  # Coveo may still be working on a DELETE sent moments before the crash
        text = (
            f":x: Not deleted — the app restarted while deleting {org_ref}, and the organization"
            f" still exists. Request a new card with `/delete-org {esc(request.org_id)}` if it"
            " should still be deleted."
        )
        return Outcome(
            FAILED, None, None, "RESTARTED", "not deleted (still exists after restart)", text
        )


def _seconds(value: int) -> timedelta:
    return timedelta(seconds=value)


def _plausible_id(request_id: str) -> bool:
    return (
        16 <= len(request_id) <= 64
        and all(c.isalnum() or c in "-_" for c in request_id)
        and request_id.isascii()
    )
