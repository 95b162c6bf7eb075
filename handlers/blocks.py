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
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_OPEN_LINK,
    ACTION_REGION,
    ACTION_TOKEN,
    BLOCK_REGION,
    BLOCK_TOKEN,
    COMMAND,
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


def build_preview_card(request: DeletionRequest, org: Organization) -> list[Block]:
    """The preview card: what will be deleted, by whom, until when, with Confirm and Cancel.

    The buttons carry only the request's opaque id; all state stays server-side.
    """
    return [
        section(f":warning: <@{request.requester_id}> asked to *delete a Coveo organization*."),
        section(_facts(request, org)),
        context(
            f"{BACKUP_NOTE} Only <@{request.requester_id}> can confirm, until"
            f" {slack_date(request.expires_at, '{time_secs}')} ({slack_date(request.expires_at)})."
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
                            " deleted permanently. Coveo Support can restore it within 30 days."
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
