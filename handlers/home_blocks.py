"""Block Kit builders of the App Home tab (pure functions, no I/O): the user's link, their last
requests, what the policy lets them do, the freeze, and for admins the outbox and live cards.

Slack limits kept here (docs.slack.dev/reference/block-kit/blocks,
docs.slack.dev/surfaces/app-home): a Home view holds at most 100 blocks, a section's text at
most 3,000 characters and a header's at most 150. Every echoed value (organization names and
IDs, Coveo identities, the freeze reason) goes through :func:`handlers.messages.esc`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.policy import Policy
from bot.wording import plural
from handlers.blocks import Block, context, link_button, section, slack_date
from handlers.ids import (
    ACTION_OPEN_LINK,
    ACTION_SIGN_IN_REGION,
    ACTION_UNLINK,
    COMMAND,
    VIEW_HOME,
)
from handlers.messages import esc, esc_clip, region_label
from handlers.signin_blocks import build_region_choice, build_sign_in
from storage import (
    AWAITING_APPROVAL,
    CANCELLED,
    DELETED,
    DELETING,
    EXPIRED,
    FAILED,
    PENDING,
    REJECTED,
    UNKNOWN,
    DeletionRequest,
    Link,
)

MAX_BLOCKS = 100
"""Slack's limit of blocks in one Home view (views.publish answers ``invalid_arguments``)."""
MAX_TEXT = 3000
"""Slack's limit of characters in a section's text."""
RECENT_LIMIT = 10
"""How many of the user's requests the Home lists."""

OUTCOMES: dict[str, tuple[str, str]] = {
    PENDING: (":hourglass_flowing_sand:", "waiting for your confirmation"),
    AWAITING_APPROVAL: (":busts_in_silhouette:", "waiting for a second approver"),
    DELETING: (":arrows_counterclockwise:", "deleting"),
    DELETED: (":white_check_mark:", "deleted"),
    FAILED: (":x:", "failed"),
    UNKNOWN: (":grey_question:", "outcome unknown (check in Coveo)"),
    CANCELLED: (":no_entry_sign:", "cancelled"),
    EXPIRED: (":clock3:", "expired"),
    REJECTED: (":no_entry:", "rejected"),
}
"""How each request state reads on the Home (emoji, words)."""

_CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{2,30}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,9}$")


@dataclass(frozen=True)
class SignInOffer:
    """A sign-in just started from the Home: the private **Sign in with Coveo** URL, its region
    and when its single-use state expires (aware UTC)."""

    url: str
    region: str
    expires_at: datetime


@dataclass(frozen=True)
class AdminStats:
    """What admins see: ``outbox`` is ``(pending count, oldest queued at or None)``;
    ``live_cards`` counts requests pending, awaiting approval or deleting."""

    outbox: tuple[int, datetime | None]
    live_cards: int


@dataclass(frozen=True)
class HomeFacts:
    """Everything the Home shows, gathered by the listener (``handlers/home.py``).

    ``link`` is None when not linked; ``link_unreadable`` is True when a stored token cannot be
    decrypted (the user must relink). ``groups`` are the policy's user groups the user is in,
    None when Slack could not say. ``freeze`` is ``(by_user, reason, since)`` or None.
    ``admin`` is set only for admins. ``workspace_url`` is ``auth.test``'s ``url``
    (``https://acme.slack.com/``), used to link each card; None: no links. ``now`` is aware UTC.
    """

    user_id: str
    now: datetime
    policy: Policy
    link: Link | None = None
    link_unreadable: bool = False
    sign_in_enabled: bool = False
    sign_in: SignInOffer | None = None
    requests: Sequence[DeletionRequest] = field(default_factory=tuple)
    groups: frozenset[str] | None = frozenset()
    freeze: tuple[str, str | None, datetime] | None = None
    admin: AdminStats | None = None
    workspace_url: str | None = None


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text[:150], "emoji": True}


def _header(text: str) -> Block:
    return {"type": "header", "text": _plain(text)}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "action_id": action_id, "text": _plain(text)}
    button["value"] = value
    if style:
        button["style"] = style
    return button


def unlink_button() -> Block:
    """**Unlink** (danger), with Slack's confirm dialog: the app forgets the token."""
    button = _button("Unlink", ACTION_UNLINK, "unlink", "danger")
    button["confirm"] = {
        "title": _plain("Unlink your Coveo account?"),
        "text": {
            "type": "mrkdwn",
            "text": "The app forgets your Coveo token. Nothing is deleted; link again to"
            " request or confirm deletions.",
        },
        "confirm": _plain("Unlink"),
        "deny": _plain("Keep it"),
        "style": "danger",
    }
    return button


def relink_button(link: Link | None, sign_in_enabled: bool, *, primary: bool) -> Block:
    """**Relink**: the link form (pasted tokens), or a new sign-in for the link's region."""
    style = "primary" if primary else None
    if sign_in_enabled and link is not None:
        return _button("Relink", ACTION_SIGN_IN_REGION + link.region, link.region, style)
    return _button("Relink", ACTION_OPEN_LINK, "relink", style)


def archive_link(workspace_url: str | None, channel_id: str, ts: str | None) -> str | None:
    """The web address of a message, ``https://acme.slack.com/archives/C0123/p1700000000000100``
    (the ``ts`` without its dot), or None when any part is missing or malformed. Opening it
    shows the card and its thread. Slack prints this form as a message's permalink
    (docs.slack.dev/reference/methods/chat.getPermalink); building it saves one call per card."""
    if not workspace_url or not ts or not _TS.match(ts) or not _CHANNEL_ID.match(channel_id):
        return None
    if not re.match(r"^https://[A-Za-z0-9.-]+/$", workspace_url):
        return None
    seconds, _, fraction = ts.partition(".")
    return f"{workspace_url}archives/{channel_id}/p{seconds}{fraction.ljust(6, '0')[:6]}"


def link_state(link: Link, now: datetime) -> str:
    """``active``, ``expired`` (past its expiry and not refreshed by itself) or ``invalid``."""
    if not link.usable:
        return "invalid"
    if link.expires_at is not None and link.expires_at <= now and not link.refreshable:
        return "expired"
    return "active"


def _link_lines(link: Link, now: datetime) -> list[str]:
    how = "Sign in with Coveo" if link.auth_kind == "oauth" else "pasted access token"
    who = link.coveo_email or link.coveo_username
    lines = [
        f"*Linked as* {esc_clip(who, 200)} · *Region* {region_label(link.region)} · *How* {how}",
        f"*Coveo identity:* {esc_clip(link.coveo_username, 200)}",
        f"*Linked* {slack_date(link.linked_at)}",
    ]
    state = link_state(link, now)
    if link.expires_at is None:
        lines.append("*Expiry:* unknown (Coveo did not say)")
    elif state == "expired":
        lines.append(f":warning: *Expired* {slack_date(link.expires_at)}: relink to continue.")
    elif link.refreshable and link.expires_at <= now:
        lines.append("*Expiry:* renewed automatically at the next use")
    else:
        renew = " (renewed automatically)" if link.refreshable else ""
        lines.append(f"*Expires* {slack_date(link.expires_at)}{renew}")
    if state == "invalid":
        lines.append(":warning: Coveo refused this token since it was linked: relink to continue.")
    return lines


def build_link_section(facts: HomeFacts) -> list[Block]:
    """The user's link: status and identity, with Link, or Relink and Unlink (or, right after
    a region was picked here, the private **Sign in with Coveo** button)."""
    blocks: list[Block] = [_header("Your Coveo account")]
    if facts.sign_in is not None:
        offer = facts.sign_in
        return blocks + build_sign_in(offer.url, offer.region, offer.expires_at)
    link = facts.link
    if link is None:
        reason = (
            ":warning: Your stored token cannot be read any more (the app's key changed)."
            " Link your account again."
            if facts.link_unreadable
            else "You have not linked a Coveo account: link it to request deletions."
        )
        if facts.sign_in_enabled:
            return blocks + build_region_choice(reason)
        return blocks + [
            section(reason),
            {"type": "actions", "block_id": "home_link", "elements": [link_button()]},
        ]
    healthy = link_state(link, facts.now) == "active"
    buttons = [relink_button(link, facts.sign_in_enabled, primary=not healthy), unlink_button()]
    return blocks + [
        section("\n".join(_link_lines(link, facts.now))),
        {"type": "actions", "block_id": "home_link", "elements": buttons},
    ]


def request_line(request: DeletionRequest, workspace_url: str | None) -> str:
    """One request: outcome, organization, when it last changed, and a link to its card."""
    emoji, words = OUTCOMES.get(request.state, (":grey_question:", esc(request.state)))
    name = f" ({esc_clip(request.org_name, 80)})" if request.org_name else ""
    detail = ""
    if request.state == FAILED and request.error_code:
        detail = f": {esc_clip(request.error_code, 80)}"
    url = archive_link(workspace_url, request.channel_id, request.card_ts)
    if url:
        where = f"<{url}|card and thread>"
    elif request.delivery == "channel" and _CHANNEL_ID.match(request.channel_id):
        where = f"in <#{request.channel_id}>"
    else:
        where = "card posted privately"
    return (
        f"{emoji} `{esc_clip(request.org_id, 80)}`{name} · *{words}*{detail}"
        f" · {region_label(request.region)} · {slack_date(request.updated_at)} · {where}"
    )


def build_requests_section(facts: HomeFacts, limit: int = RECENT_LIMIT) -> list[Block]:
    """The user's last ``limit`` requests, newest first, one section each."""
    blocks: list[Block] = [_header("Your last requests")]
    shown = list(facts.requests)[:limit]
    if not shown:
        start = f"`{COMMAND} {esc('<org-id>')}`"
        return blocks + [section(f"No deletion requests yet. Start one with {start}.")]
    blocks += [section(request_line(request, facts.workspace_url)) for request in shown]
    return blocks


def _caps_text(policy: Policy) -> str:
    caps = policy.caps
    parts = [
        f"{plural(limit, 'deletion')} per {unit} {who}"
        for limit, unit, who in (
            (caps.per_user_per_hour, "hour", "per person"),
            (caps.per_user_per_day, "day", "per person"),
            (caps.global_per_hour, "hour", "for everyone"),
            (caps.global_per_day, "day", "for everyone"),
        )
        if limit is not None
    ]
    return ", ".join(parts) if parts else "none"


def _protected_text(policy: Policy) -> str:
    matcher = policy.protected
    count = len(matcher.ids) + len(matcher.patterns)
    kinds = [plural(count, "ID rule")] if count else []
    if matcher.types or matcher.product_types:
        kinds.append(plural(len(matcher.types) + len(matcher.product_types), "type rule"))
    return ", ".join(kinds) if kinds else "none"


def policy_lines(facts: HomeFacts) -> list[str]:
    """What the policy lets this user do (short; ``/delete-org policy`` has the details)."""
    policy, groups, user = facts.policy, facts.groups, facts.user_id
    if groups is None:
        return [
            ":warning: Slack did not say which user groups you are in, so your roles cannot be"
            f" shown now. Try again later, or run `{COMMAND} policy`."
        ]
    may_request = policy.requesters.empty or policy.requesters.match(user, groups) is not None
    roles = ["requester" if may_request else "*not* a requester"]
    if not policy.second_approver.empty:
        roles.append("approver" if policy.is_approver(user, groups) else "not an approver")
    roles.append("admin" if policy.is_admin(user, groups) else "not an admin")
    if policy.channels_allow is None:
        where = "any channel"
    elif policy.channels_allow:
        shown = [f"<#{c}>" for c in policy.channels_allow[:10]]
        more = len(policy.channels_allow) - len(shown)
        where = "only " + ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    else:
        where = "no channel"
    dms = "allowed" if policy.allow_direct_messages else "not allowed"
    return [
        "*You are:* " + ", ".join(roles),
        f"*Where:* {where}; direct messages with the app {dms}",
        f"*Protected organizations:* {_protected_text(policy)}",
        f"*Limits:* {_caps_text(policy)}",
        f"_Details: `{COMMAND} policy`_",
    ]


def freeze_text(freeze: tuple[str, str | None, datetime] | None) -> str:
    """The freeze state in one line (the reason escaped and clipped)."""
    if freeze is None:
        return ":large_green_circle: Deletions are *not frozen* (the policy applies)."
    by_user, reason, since = freeze
    why = f": {esc_clip(reason, 300)}" if reason else ""
    return (
        f":snowflake: Deletions are *frozen* by <@{by_user}> since {slack_date(since)}{why}."
        f" An admin can lift it with `{COMMAND} unfreeze`."
    )


def admin_lines(stats: AdminStats) -> list[str]:
    """Outbox depth (and the age of the oldest waiting delivery) and live cards."""
    count, oldest = stats.outbox
    queued = f", the oldest queued {slack_date(oldest)}" if oldest is not None else ""
    return [
        f"*Outbox:* {plural(count, 'Slack delivery', 'Slack deliveries')} waiting{queued}",
        f"*Live cards:* {stats.live_cards} (pending, awaiting approval or deleting)",
    ]


def build_home(facts: HomeFacts, limit: int = RECENT_LIMIT) -> Block:
    """The Home view for ``views.publish`` (``type: home``) listing at most ``limit`` requests;
    never more than :data:`MAX_BLOCKS` blocks (the last one, the footer, is always kept)."""
    blocks = build_link_section(facts)
    blocks += [{"type": "divider"}, *build_requests_section(facts, limit)]
    blocks += [
        {"type": "divider"},
        _header("What you can do"),
        section("\n".join(policy_lines(facts))),
        section(freeze_text(facts.freeze)),
    ]
    if facts.admin is not None:
        blocks += [
            {"type": "divider"},
            _header("Operations (admins)"),
            section("\n".join(admin_lines(facts.admin))),
        ]
    footer = context(f"Updated {slack_date(facts.now)} · `{COMMAND} help` for every command")
    blocks = blocks[: MAX_BLOCKS - 1] + [footer]
    return {"type": "home", "callback_id": VIEW_HOME, "blocks": blocks}
