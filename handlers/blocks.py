"""Block Kit builders: pure functions from data to Slack message and view payloads (no I/O).

Layout references: docs.slack.dev/reference/block-kit (section, context, actions, input blocks;
button ``style: danger`` and ``confirm`` dialog objects; ``<!date^...>`` date formatting).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.coveo import REGIONS, Organization
from handlers.ids import (
    ACTION_APPROVE,
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_OPEN_LINK,
    ACTION_REASON,
    ACTION_REGION,
    ACTION_REJECT,
    ACTION_TOKEN,
    ACTION_TYPED,
    BLOCK_REASON,
    BLOCK_REGION,
    BLOCK_TOKEN,
    BLOCK_TYPED,
    COMMAND,
    VIEW_CONFIRM,
    VIEW_LINK,
)
from handlers.messages import BACKUP_NOTE, HOW_TO_GET_TOKEN, esc, esc_clip, region_label
from storage import DeletionRequest, Link

Block = dict[str, Any]
MAX_NAME = 150


def slack_date(moment: datetime, fmt: str = "{date_short_pretty} at {time}") -> str:
    """A Slack date token that each reader sees in their own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{fmt}|{fallback}>"


def _text(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": True}


def section(text: str) -> Block:
    """A section block with mrkdwn text (Slack's limit is 3,000 characters; callers keep
    Coveo-supplied parts clipped)."""
    return {"type": "section", "text": _text(text[:3000])}


def context(text: str) -> Block:
    """A context block: small grey text."""
    return {"type": "context", "elements": [_text(text[:3000])]}


def _clip(text: str | None, limit: int = MAX_NAME) -> str:
    return esc_clip(text, limit) if text else "—"


def link_button() -> Block:
    """The **Link Coveo account** button (opens the link modal)."""
    return {
        "type": "button",
        "action_id": ACTION_OPEN_LINK,
        "text": _plain("Link Coveo account"),
        "style": "primary",
        "value": "link",
    }


CONFIRM_BACKUP_NOTE = "Coveo keeps a backup for 30 days; only Coveo Support can restore it."
"""What the Slack confirm dialog says about recovery (en/1795: backups kept 30 days,
restored only by Coveo Support)."""


def build_link_prompt(reason: str) -> list[Block]:
    """Private message for a user who must (re)link: why, how to get a token, and a button."""
    return [
        section(reason),
        context(HOW_TO_GET_TOKEN),
        {"type": "actions", "elements": [link_button()]},
    ]


def build_link_modal(
    *, private_metadata: dict[str, str], region: str = "us", error: str | None = None
) -> Block:
    """The modal where a user pastes their Coveo access token and picks its region.

    ``private_metadata`` (JSON, at most 3,000 characters) carries the channel and response_url,
    which a view_submission does not include.
    """
    options = [{"text": _plain(region_label(key)), "value": key} for key in REGIONS]
    initial = next((o for o in options if o["value"] == region), options[0])
    blocks: list[Block] = [
        section(
            "Paste *your own* Coveo access token. It is checked with Coveo, stored encrypted,"
            " and used only for deletions you confirm."
        ),
        context(HOW_TO_GET_TOKEN),
        {
            "type": "input",
            "block_id": BLOCK_TOKEN,
            "label": _plain("Coveo access token"),
            "element": {
                "type": "plain_text_input",
                "action_id": ACTION_TOKEN,
                "placeholder": _plain("xx00000000-0000-0000-0000-000000000000"),
                "max_length": 3000,
            },
        },
        {
            "type": "input",
            "block_id": BLOCK_REGION,
            "label": _plain("Region of your Coveo organizations"),
            "element": {
                "type": "static_select",
                "action_id": ACTION_REGION,
                "options": options,
                "initial_option": initial,
            },
        },
    ]
    if error:
        blocks.append(context(f":warning: {error}"))
    metadata = json.dumps(private_metadata)
    if len(metadata) > 3000:
        raise ValueError("private_metadata is limited to 3,000 characters by Slack")
    return {
        "type": "modal",
        "callback_id": VIEW_LINK,
        "title": _plain("Link Coveo account"),
        "submit": _plain("Link"),
        "close": _plain("Cancel"),
        "private_metadata": metadata,
        "blocks": blocks,
    }


def linked_text(link: Link) -> str:
    """``Linked as alice@example.com (region EU)``."""
    who = link.coveo_email or link.coveo_username
    return f"Linked as {esc(who)} (region {region_label(link.region)})"


def build_link_done_view(link: Link) -> Block:
    """The modal content shown after a successful link."""
    expiry = (
        f"Coveo says the token expires {slack_date(link.expires_at)}."
        if link.expires_at
        else "Coveo did not say when the token expires (browser tokens last up to 4 hours)."
    )
    return {
        "type": "modal",
        "callback_id": VIEW_LINK + "_done",
        "title": _plain("Link Coveo account"),
        "close": _plain("Done"),
        "blocks": [section(f":white_check_mark: {linked_text(link)}"), context(expiry)],
    }


def build_status(link: Link | None) -> str:
    """Text of ``/delete-org status``."""
    if link is None:
        return f"You have not linked a Coveo account. Run `{COMMAND} link`."
    lines = [
        linked_text(link) + ".",
        f"Coveo identity: {esc(link.coveo_username)}",
        f"Linked {slack_date(link.linked_at)}.",
        (
            f"Token expires {slack_date(link.expires_at)}."
            if link.expires_at
            else "Token expiry: unknown (Coveo did not say)."
        ),
    ]
    if not link.usable:
        lines.append(f":warning: Coveo refused this token since. Run `{COMMAND} link` again.")
    return "\n".join(lines)


def _facts(request: DeletionRequest, org: Organization | None) -> str:
    lines = [
        f"*Organization ID:* `{esc(request.org_id)}`",
        f"*Name:* {_clip(request.org_name)}",
        f"*Type:* {_clip(request.org_type)}",
        f"*Region:* {region_label(request.region)}",
    ]
    if org is not None:
        state = "read-only" if org.read_only else (org.life_cycle_state or "active").lower()
        created = slack_date(org.created_at, "{date_short}") if org.created_at else "—"
        lines[3:3] = [
            f"*Owner:* {_clip(org.owner_email)}",
            f"*Created:* {created}",
            f"*State:* {esc(state)}",
        ]
    return "\n".join(lines)


def build_preview_card(
    request: DeletionRequest, org: Organization, requirements: list[str] | None = None
) -> list[Block]:
    """The preview card: what will be deleted, by whom, until when, with Confirm and Cancel;
    ``requirements`` are guardrail notes (typed confirmation, second approver).

    The buttons carry only the request's opaque id; all state stays server-side.
    """
    card = _preview_blocks(request, org)
    if requirements:
        card.insert(2, context("\n".join(requirements)))
    return card


def _preview_blocks(request: DeletionRequest, org: Organization) -> list[Block]:
    return [
        section(f":warning: <@{request.requester_id}> asked to *delete a Coveo organization*."),
        section(_facts(request, org)),
        context(
            f"{BACKUP_NOTE} Only <@{request.requester_id}> can confirm, until"
            f" {slack_date(request.expires_at, '{date_short_pretty} at {time_secs}')}."
        ),
        {
            "type": "actions",
            "block_id": "decision",
            "elements": [
                {
                    "type": "button",
                    "action_id": ACTION_CONFIRM,
                    "text": _plain("Confirm deletion"),
                    "style": "danger",
                    "value": request.id,
                    "confirm": {
                        "title": _plain("Delete this organization?"),
                        "text": _text(
                            f"`{esc(request.org_id)}` ({_clip(request.org_name, 80)}) will be"
                            f" deleted. {CONFIRM_BACKUP_NOTE}"
                        ),
                        "confirm": _plain("Delete"),
                        "deny": _plain("Keep it"),
                        "style": "danger",
                    },
                },
                {
                    "type": "button",
                    "action_id": ACTION_CANCEL,
                    "text": _plain("Cancel"),
                    "value": request.id,
                },
            ],
        },
    ]


def preview_fallback_text(request: DeletionRequest) -> str:
    """Notification text of the card (shown where blocks cannot be)."""
    return f"Deletion of Coveo organization {request.org_id} requested; waiting for confirmation"


def build_final_card(request: DeletionRequest, status_line: str) -> list[Block]:
    """The card once decided: the same facts, the final state, and no buttons."""
    return [
        section(f"<@{request.requester_id}> asked to delete a Coveo organization."),
        section(_facts(request, None)),
        context(status_line),
    ]


def build_refusal(reason: str) -> list[Block]:
    """A private refusal (read-only organization, no access...)."""
    return [section(reason)]


def requirement_lines(
    typed_rule: str | None, approval_rule: str | None, approvers: str
) -> list[str]:
    """Context lines telling everyone which guardrails apply to this card."""
    lines = []
    if typed_rule:
        lines.append(f":keyboard: Typed confirmation required ({esc(typed_rule)}).")
    if approval_rule:
        lines.append(
            f":busts_in_silhouette: A second approver ({approvers}) must approve after the"
            f" requester confirms ({esc(approval_rule)})."
        )
    return lines


def build_confirm_modal(
    request: DeletionRequest,
    *,
    typed: bool,
    reason: bool,
    private_metadata: dict[str, str],
) -> Block:
    """The Confirm modal: type the organization ID exactly, and/or give a reason for approvers."""
    blocks: list[Block] = [
        section(
            f"You are about to delete `{esc(request.org_id)}` ({_clip(request.org_name, 80)})."
            f" {BACKUP_NOTE}"
        )
    ]
    if typed:
        blocks.append(
            {
                "type": "input",
                "block_id": BLOCK_TYPED,
                "label": _plain("Type the organization ID to confirm"),
                "hint": _plain(f"Exactly: {request.org_id}"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ACTION_TYPED,
                    "max_length": 200,
                },
            }
        )
    if reason:
        blocks.append(
            {
                "type": "input",
                "block_id": BLOCK_REASON,
                "label": _plain("Reason (shown to the approvers and in the thread)"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ACTION_REASON,
                    "multiline": True,
                    "max_length": 500,
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": VIEW_CONFIRM,
        "title": _plain("Confirm deletion"),
        "submit": _plain("Request approval" if reason else "Delete"),
        "close": _plain("Keep it"),
        "private_metadata": json.dumps(private_metadata),
        "blocks": blocks,
    }


def build_approval_card(request: DeletionRequest, approvers: str) -> list[Block]:
    """The card while it waits for a second approver: reason, deadline, Approve and Reject."""
    deadline = request.approval_expires_at or request.expires_at
    return [
        section(
            f":busts_in_silhouette: <@{request.requester_id}> confirmed the deletion of a Coveo"
            f" organization; *a second approver is needed* ({approvers})."
        ),
        section(_facts(request, None) + f"\n*Reason:* {_clip(request.reason, 500)}"),
        context(
            f"{BACKUP_NOTE} Approval possible until {slack_date(deadline)}; the requester cannot"
            " approve their own request."
        ),
        {
            "type": "actions",
            "block_id": "approval",
            "elements": [
                {
                    "type": "button",
                    "action_id": ACTION_APPROVE,
                    "text": _plain("Approve deletion"),
                    "style": "danger",
                    "value": request.id,
                    "confirm": {
                        "title": _plain("Approve this deletion?"),
                        "text": _text(
                            f"`{esc(request.org_id)}` will be deleted permanently with"
                            f" <@{request.requester_id}>'s Coveo token."
                        ),
                        "confirm": _plain("Approve"),
                        "deny": _plain("Not now"),
                        "style": "danger",
                    },
                },
                {
                    "type": "button",
                    "action_id": ACTION_REJECT,
                    "text": _plain("Reject"),
                    "value": request.id,
                },
                {
                    "type": "button",
                    "action_id": ACTION_CANCEL,
                    "text": _plain("Withdraw"),
                    "value": request.id,
                },
            ],
        },
    ]
