"""Block Kit builders of the sign-in flow (pure functions, no I/O): the region choice, the
private **Sign in with Coveo** URL button, and the prompts to link or sign in again."""

from __future__ import annotations

from datetime import datetime

from bot.coveo import REGIONS
from handlers.blocks import Block, context, section, slack_date
from handlers.ids import ACTION_OPEN_LINK, ACTION_SIGN_IN, ACTION_SIGN_IN_REGION
from handlers.messages import region_label

CHOOSE_REGION = (
    "*Link your Coveo account.* Pick the region of your Coveo organizations, then sign in with"
    " Coveo in your browser. You never handle a token."
)
PASTE_INSTEAD = "Or paste a Coveo access token yourself:"


def _button(text: str, action_id: str, *, value: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text, "emoji": True},
    }
    if value is not None:
        button["value"] = value
    return button


def paste_button() -> Block:
    """**Paste a token instead** (opens the link form)."""
    return _button("Paste a token instead", ACTION_OPEN_LINK, value="link")


def build_region_choice(reason: str | None = None) -> list[Block]:
    """Why (optional), then one button per region (US, EU, AU, CA, HIPAA) and the paste option.

    Each region button has its own action_id (Slack wants them unique within a block)."""
    blocks: list[Block] = [section(reason)] if reason else []
    blocks += [
        section(CHOOSE_REGION),
        {
            "type": "actions",
            "block_id": "sign_in_region",
            "elements": [
                _button(region_label(key), ACTION_SIGN_IN_REGION + key, value=key)
                for key in REGIONS
            ],
        },
        context(PASTE_INSTEAD),
        {"type": "actions", "block_id": "paste", "elements": [paste_button()]},
    ]
    return blocks


def sign_in_text(region: str, expires_at: datetime) -> str:
    """The words that come with the button (also the notification text)."""
    return (
        f"Sign in with Coveo (region {region_label(region)}). The button opens Coveo's sign-in"
        f" page in your browser. It works once, only for you, until {slack_date(expires_at)}"
        " (10 minutes): do not share it."
    )


def build_sign_in(
    url: str, region: str, expires_at: datetime, reason: str | None = None
) -> list[Block]:
    """The private message with the **Sign in with Coveo** URL button for ``region``."""
    blocks: list[Block] = [section(reason)] if reason else []
    button = _button("Sign in with Coveo", ACTION_SIGN_IN, value=region)
    button["url"] = url
    button["style"] = "primary"
    blocks += [
        section(sign_in_text(region, expires_at)),
        {"type": "actions", "block_id": "sign_in", "elements": [button, paste_button()]},
        context("Another region? Run `/delete-org link` again."),
    ]
    return blocks
