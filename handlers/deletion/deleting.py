"""Starting a deletion and sending its one ``DELETE``; turning Coveo's answer (or its
absence) into an outcome and concluding the request."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.coveo import (
    CoveoAPIError,
    CoveoError,
    CoveoProtocolError,
    CoveoUnavailable,
)
from bot.logfields import log_fields
from handlers import blocks, messages
from handlers.deletion.base import FlowBase, Outcome
from handlers.deps import Actor
from handlers.errors import OutcomeNotRecorded
from handlers.messages import esc, region_label
from handlers.tokens import NeedsRelink, RefreshUnavailable
from storage import (
    DELETED,
    FAILED,
    UNKNOWN,
    DeletionRequest,
    Link,
    LinkUnreadable,
    StoreUnavailable,
)

logger = logging.getLogger(__name__)


class DeleteSteps(FlowBase):
    """From the compare-and-set start to the concluded outcome."""

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
            logger.info(
                "deletion started by %s; sending the DELETE",
                decider.user_id,
                extra=log_fields("approved" if started.approver_id else "confirmed", started),
            )
            return self._run_delete(decider, requester, started, by)

    def _run_delete(
        self, decider: Actor, requester: Actor, started: DeletionRequest, by: str
    ) -> Outcome:
        """The request is ``deleting``: send the DELETE with the requester's token, record the
        outcome (always, even after an unexpected error) and announce it. ``decider`` clicked
        last (the requester, or the approver); ``by`` says who decided, in mrkdwn.

        Raises:
            OutcomeNotRecorded: the database went away before the outcome was written.
        """
        try:
            outcome = self._delete(requester, started, by)
        except Exception as error:  # noqa: BLE001 - the request must still get an outcome
            logger.exception(
                "deletion %s failed unexpectedly",
                started.id,
                extra=log_fields("deletion_error", started),
            )
            outcome = self._internal_failure(started, error)
        try:
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
        except StoreUnavailable as error:
            # The DELETE may have been sent: "nothing was deleted" could be untrue. The request
            # stays ``deleting`` (no longer in flight): recovery settles it once the database
            # is back, by reading the organization.
            status = outcome.http_status
            answer = f"Coveo answered HTTP {status}" if status else "no answer from Coveo"
            raise OutcomeNotRecorded(started.org_id, answer) from error
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
            extra=log_fields("late_outcome", current),
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
