"""Guardrails applied at every step (card, Confirm, approval): freeze, who and where,
protected organizations, and rate caps. Pure decisions over the policy and the store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.policy import OrgFacts, Policy, PolicyHolder
from bot.wording import plural
from handlers.blocks import slack_date
from handlers.groups import GroupDirectory, GroupLookupError
from handlers.ids import COMMAND
from handlers.messages import esc
from storage import DeletionRequest, Store

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Refusal:
    """Why a step is refused: ``rule`` names the policy rule, ``text`` tells the user what
    refused and what they can do."""

    rule: str
    text: str


def _named(rule: str, reason: str) -> Refusal:
    """A policy refusal whose text always names the rule, as the audit log does."""
    return Refusal(rule, f"{reason} Nothing was deleted. _(Policy rule: {esc(rule)})_")


def facts_of(request: DeletionRequest) -> OrgFacts:
    """The organization facts a stored request keeps for policy matching."""
    return OrgFacts(request.org_id, request.org_type, request.org_product_type)


class Guard:
    """Evaluates the guardrails; ``groups`` resolves Slack user group membership."""

    def __init__(
        self,
        policy: PolicyHolder,
        store: Store,
        groups: GroupDirectory | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.policy_holder = policy
        self.store = store
        self.groups = groups
        self.clock = clock

    def policy(self) -> Policy:
        """The policy in force now (reloaded if its file changed)."""
        return self.policy_holder.current()

    def groups_of(self, user_id: str, *, fresh: bool = False) -> frozenset[str]:
        """The policy's user groups that ``user_id`` is in.

        Raises:
            GroupLookupError: Slack could not tell (callers refuse: fail closed).
        """
        wanted = self.policy().usergroups()
        if not wanted or self.groups is None:
            return frozenset()
        return self.groups.groups_of(user_id, wanted, fresh=fresh)

    def frozen(self) -> Refusal | None:
        """Refusal while an admin has frozen deletions."""
        state = self.store.freeze_state()
        if state is None:
            return None
        by_user, reason, since = state
        why = f": {esc(reason)}" if reason else ""
        return Refusal(
            "freeze",
            f":snowflake: Deletions are frozen by <@{by_user}> since {slack_date(since)}{why}."
            f" Nothing was deleted. An admin can lift it with `{COMMAND} unfreeze`.",
        )

    def requester(self, user_id: str, channel_id: str, *, fresh: bool = False) -> Refusal | None:
        """Freeze, then the requesters and channels rules, for ``user_id`` in ``channel_id``."""
        frozen = self.frozen()
        if frozen is not None:
            return frozen
        try:
            groups = self.groups_of(user_id, fresh=fresh)
        except GroupLookupError as error:
            return Refusal(
                "usergroups",
                f"Slack did not say who is in user group <!subteam^{error.group}>"
                f" ({esc(error.error)}), so the policy cannot be checked. Nothing was deleted;"
                " try again in a minute.",
            )
        decision = self.policy().check_requester(user_id, groups, channel_id)
        if decision.allowed:
            return None
        return _named(decision.rule or "policy", decision.reason)

    def organization(self, org: OrgFacts) -> Refusal | None:
        """Protected organizations."""
        decision = self.policy().check_protected(org)
        if decision.allowed:
            return None
        return _named(decision.rule or "protected", decision.reason)

    def caps(self, requester_id: str) -> Refusal | None:
        """Per-user and global limits on deletions per hour and per day."""
        caps = self.policy().caps
        now = self.clock()
        checks = [
            (caps.per_user_per_hour, HOUR, requester_id, "caps.per_user_per_hour", "you", "hour"),
            (caps.per_user_per_day, DAY, requester_id, "caps.per_user_per_day", "you", "day"),
            (caps.global_per_hour, HOUR, None, "caps.global_per_hour", "everyone", "hour"),
            (caps.global_per_day, DAY, None, "caps.global_per_day", "everyone", "day"),
        ]
        for limit, window, user, rule, who, unit in checks:
            if limit is None:
                continue
            attempts = self.store.attempts_since(now - window, user)
            if len(attempts) >= limit:
                resets = attempts[len(attempts) - limit] + window
                return Refusal(
                    rule,
                    f"The limit of {plural(limit, 'deletion')} per {unit} for {who} is reached"
                    f" ({rule})."
                    f" Nothing was deleted. It frees up {slack_date(resets)}.",
                )
        return None

    def limits(self, requester_id: str) -> list[tuple[int, datetime, str | None]]:
        """The caps as ``(limit, since, requester or None)`` for the store's atomic check."""
        caps = self.policy().caps
        now = self.clock()
        found: list[tuple[int, datetime, str | None]] = []
        for limit, window, user in (
            (caps.per_user_per_hour, HOUR, requester_id),
            (caps.per_user_per_day, DAY, requester_id),
            (caps.global_per_hour, HOUR, None),
            (caps.global_per_day, DAY, None),
        ):
            if limit is not None:
                found.append((limit, now - window, user))
        return found

    def full(
        self, requester_id: str, channel_id: str, org: OrgFacts, *, fresh: bool = False
    ) -> Refusal | None:
        """Every rule, in order: freeze, requester and channel, protected, caps."""
        return (
            self.requester(requester_id, channel_id, fresh=fresh)
            or self.organization(org)
            or self.caps(requester_id)
        )

    def approvers_text(self) -> str:
        """Who may approve, as Slack mentions (user groups and users)."""
        policy = self.policy()
        names = [f"<!subteam^{g}>" for g in sorted(policy.approvers.usergroups)]
        names += [f"<@{u}>" for u in sorted(policy.approvers.users)]
        return ", ".join(names) or "nobody (the policy names no approvers)"

    def is_approver(self, user_id: str) -> bool | Refusal:
        """Approver per the policy (fresh group lookup), or a Refusal if Slack cannot say."""
        try:
            groups = self.groups_of(user_id, fresh=True)
        except GroupLookupError as error:
            return Refusal(
                "usergroups",
                f"Slack did not say who is in <!subteam^{error.group}>; try again in a minute.",
            )
        return self.policy().is_approver(user_id, groups)

    def is_admin(self, user_id: str) -> bool:
        """Admin per the policy (fresh group lookup; False if Slack cannot say)."""
        try:
            groups = self.groups_of(user_id, fresh=True)
        except GroupLookupError:
            return False
        return self.policy().is_admin(user_id, groups)
