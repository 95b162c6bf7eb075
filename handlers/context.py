"""Reading who and where from Bolt's context and payloads (ids only, never display names)."""

from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext

from handlers.deps import Actor


def workspace_key(context: BoltContext) -> str:
    """Enterprise ID on Enterprise Grid, else team ID (how links are keyed)."""
    return str(context.enterprise_id or context.team_id or "unknown")


def actor_from(context: BoltContext, body: dict[str, Any]) -> Actor:
    """Build an :class:`Actor` from a slash command or interaction payload.

    Bolt derives ``user_id``, ``channel_id``, ``team_id`` and ``enterprise_id`` from the signed
    payload for every kind (slack-notes §2); ``response_url`` is taken from the body.
    """
    response_url = body.get("response_url")
    return Actor(
        workspace=workspace_key(context),
        team_id=context.team_id,
        user_id=str(context.user_id),
        channel_id=str(context.channel_id or ""),
        response_url=response_url if isinstance(response_url, str) and response_url else None,
    )
