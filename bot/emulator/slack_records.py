"""What the fake Slack keeps besides channels: direct messages to a user, and every post to a
response_url with Slack's answer, so tests can assert who was told and that no dead URL was
posted to.

Direct messages: ``chat.postMessage`` with ``channel`` set to a user ID (``U…``/``W…``) posts in
the app's direct conversation with that user (its App Home **Messages** tab) and answers with
that conversation's ``D…`` ID (slack-notes §6 ``app_home``, §7 "DM the user"). An unknown user
ID answers ``channel_not_found``, as an unknown channel does. Failures (e.g. a user who turned
the app's messages off) are injected with ``FakeSlack.fail_method(..., channel=user_id)``.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
"""The shape of a Slack user ID (``U…``, or ``W…`` on Enterprise Grid)."""


@dataclass(frozen=True)
class DirectMessage:
    """A message the app posted in its direct conversation with ``user``: ``channel`` is that
    conversation's ``D…`` ID; ``ts`` a Slack timestamp; ``at`` the fake clock (unix s)."""

    user: str
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    at: float


@dataclass(frozen=True)
class HookPost:
    """One POST the app made to a response_url: the hook's ``kind`` (``command`` or
    ``action``) and ``channel`` (empty for an unknown URL), the fake clock ``at`` (unix s), the
    URL's ``uses`` before this post, and the HTTP ``status`` and ``body`` Slack answered (200
    ``ok``, 404 ``expired_url`` …)."""

    kind: str
    channel: str
    at: float
    uses_before: int
    status: int
    body: str


def is_user_channel(channel_id: str) -> bool:
    """True when ``channel_id`` is a user ID (a direct message), not a conversation ID."""
    return USER_ID.fullmatch(channel_id) is not None


def dm_channel_id(user_id: str) -> str:
    """The ID of the app's direct conversation with ``user_id`` (stable per user)."""
    return "D" + user_id[1:]


class Records:
    """Direct messages and response_url posts, in order. Not thread-safe by itself: the fake
    calls it under its own lock."""

    def __init__(self) -> None:
        self._dms: list[DirectMessage] = []
        self._hook_posts: list[HookPost] = []

    def add_dm(
        self, user_id: str, ts: str, text: str, blocks: list[dict[str, Any]], at: float
    ) -> dict[str, Any]:
        """Record a direct message and return chat.postMessage's result fields for it."""
        message = DirectMessage(user_id, dm_channel_id(user_id), ts, text, list(blocks), at)
        self._dms.append(message)
        return {
            "channel": message.channel,
            "ts": ts,
            "message": {"type": "message", "text": text, "blocks": message.blocks, "ts": ts},
        }

    def dms(self, user_id: str | None = None) -> list[DirectMessage]:
        """Copies of the direct messages (to ``user_id`` only, when given)."""
        return copy.deepcopy([m for m in self._dms if user_id is None or m.user == user_id])

    def add_hook_post(self, post: HookPost) -> None:
        """Record one response_url post and its answer."""
        self._hook_posts.append(post)

    def hook_posts(self) -> list[HookPost]:
        """The response_url posts so far, in order."""
        return list(self._hook_posts)
