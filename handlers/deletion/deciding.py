"""The clicks on a card: Confirm (with its requirements), Cancel, and a second
approver's Approve or Reject."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.logfields import log_fields
from bot.policy import MIN_APPROVAL_TIMEOUT
from handlers import blocks, messages
from handlers.deletion.base import plausible_request_id
from handlers.deletion.deleting import DeleteSteps
from handlers.deps import Actor
from handlers.guard import Refusal, facts_of
from handlers.messages import esc
from storage import (
    PENDING,
    DeletionRequest,
)

logger = logging.getLogger(__name__)


class DecisionSteps(DeleteSteps):
    """What each click on a card does."""

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
        request = self.store.get_request(request_id) if plausible_request_id(request_id) else None
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

    def _ask_approval(self, actor: Actor, request: DeletionRequest, reason: str, rule: str) -> None:
        now = self.deps.clock()
        requested = window = self.guard.policy().approval_timeout
        if request.delivery == "response_url":  # the wait and its end go through this click's URL
            fitted, _ = self.fitting_timeout(window, actor.response_url, now, posts_before=2)
            window = max(fitted, MIN_APPROVAL_TIMEOUT)  # shorter still: the DM path tells
            window = min(window, requested)
        deadline = now + timedelta(seconds=window)
        waiting = self.store.await_approval(
            request.id, actor.user_id, now, reason=reason, approval_deadline=deadline
        )
        if waiting is None:
            self._not_pending(actor, request.id)
            return
        note = ""
        if window < requested:
            self.store.record_event(
                now,
                "expiry_shortened",
                workspace=request.workspace,
                actor_id=actor.user_id,
                request_id=request.id,
                org_id=request.org_id,
                region=request.region,
                detail=(
                    f"approval window of a response_url card: {window} s instead of"
                    f" {requested} s (Slack keeps a response_url 30 minutes)"
                ),
            )
            note = "\n" + messages.shortened_approval_note(window, requested)
        logger.info(
            "waiting for a second approver (%s)",
            rule,
            extra=log_fields("confirmed_awaiting_approval", waiting),
        )
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
                    f"*Reason:* {esc(reason)}{note}",
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
