"""Background work: expiring cards nobody answered and settling requests a crashed
process left in ``deleting``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.coveo import (
    CoveoAPIError,
    CoveoError,
)
from bot.logfields import log_fields
from handlers import messages
from handlers.deletion.base import Outcome
from handlers.deletion.deleting import DeleteSteps
from handlers.messages import esc
from storage import (
    AWAITING_APPROVAL,
    DELETED,
    FAILED,
    UNKNOWN,
    DeletionRequest,
    LinkUnreadable,
)

logger = logging.getLogger(__name__)

SETTLE_SECONDS = 60
"""After a crash, an organization still present this long after the DELETE was sent is
reported "not deleted" (earlier, Coveo may still be processing that DELETE)."""


class UpkeepSteps(DeleteSteps):
    """The sweeper's passes."""

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

    def forget_old_response_urls(self) -> int:
        """Clear the stored response URLs of requests that finished more than
        ``deps.response_url_retention`` seconds ago (nothing when it is None); audit rows are
        never touched. Returns how many were cleared."""
        retention = self.deps.response_url_retention
        if retention is None:
            return 0
        cleared = self.store.forget_response_urls(self.deps.clock() - timedelta(seconds=retention))
        if cleared:
            logger.info(
                "cleared the response URLs of %d finished requests older than %d s",
                cleared,
                retention,
                extra=log_fields("response_urls_cleared"),
            )
        return cleared

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
