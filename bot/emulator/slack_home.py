"""The App Home part of the fake Slack: ``views.publish`` and the Home's events and clicks.

`HomeTabs` keeps every Home view the app published, per user (the newest is what the user
sees). It checks a publish the way Slack does: a known ``user_id``; a view of ``type: home``
with at most 100 blocks, each a dict with a ``type``, section texts of at most 3,000
characters, ``private_metadata`` of at most 3,000; a given ``hash`` must be the current one
(docs.slack.dev/reference/methods/views.publish; docs.slack.dev/reference/block-kit/blocks).
Errors are `HomeViewError` with Slack's code; `bot.emulator.slack.FakeSlack` answers them as
``{"ok": false, "error": ...}``.

`event_body` and `click_payload` build what Slack sends the app when a user opens the Home
(an Events API ``event_callback`` with an ``app_home_opened`` event,
docs.slack.dev/reference/events/app_home_opened) and when they click a button on it (a
``block_actions`` payload whose container is the view: no channel, no response_url).
`FakeSlack.open_home` and `FakeSlack.click_home` sign and send them.

Callers hold the fake's lock around every method here (it has no lock of its own).
"""

from __future__ import annotations

import copy
import json
import secrets
from dataclasses import dataclass
from typing import Any

__all__ = ["HOME_MAX_BLOCKS", "HomeTabs", "HomeView", "HomeViewError"]

HOME_MAX_BLOCKS = 100
"""Slack's limit of blocks in a Home view (messages have 50)."""
_MAX_TEXT = 3000
_MAX_PRIVATE_METADATA = 3000


class HomeViewError(Exception):
    """A refused ``views.publish``; ``error`` is Slack's code (``invalid_arguments``…)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class HomeView:
    """One published Home: ``view`` as the app sent it, ``id`` and ``hash`` as Slack gives
    them (the id stays the same for a user; the hash changes with each publish), ``at`` the
    fake clock (unix seconds) of the publish."""

    id: str
    user: str
    view: dict[str, Any]
    hash: str
    at: float


def _check_blocks(raw: Any) -> None:
    if not isinstance(raw, list) or len(raw) > HOME_MAX_BLOCKS:
        raise HomeViewError("invalid_blocks")
    for block in raw:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise HomeViewError("invalid_blocks")
        text = block.get("text")
        if isinstance(text, dict) and len(str(text.get("text") or "")) > _MAX_TEXT:
            raise HomeViewError("invalid_blocks")


def check_home_view(raw: Any) -> dict[str, Any]:
    """A deep copy of a valid Home view (a dict, or its JSON text).

    Raises:
        HomeViewError: ``invalid_arguments`` (not a Home view, metadata too long) or
            ``invalid_blocks`` (too many blocks, a block without a type, a text too long).
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise HomeViewError("invalid_arguments") from None
    if not isinstance(raw, dict) or raw.get("type") != "home":
        raise HomeViewError("invalid_arguments")
    if len(str(raw.get("private_metadata") or "")) > _MAX_PRIVATE_METADATA:
        raise HomeViewError("invalid_arguments")
    _check_blocks(raw.get("blocks"))
    return copy.deepcopy(raw)


class HomeTabs:
    """The published Home views of every user, oldest first."""

    def __init__(self) -> None:
        self._published: dict[str, list[HomeView]] = {}

    def publish(self, params: dict[str, Any], known_users: set[str], now: float) -> HomeView:
        """Record a ``views.publish`` call's ``user_id`` and ``view`` (and check ``hash``).

        Raises:
            HomeViewError: ``invalid_arguments`` (no user_id), ``user_not_found``, a view
                problem (see :func:`check_home_view`), or ``hash_conflict``.
        """
        user_id = params.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise HomeViewError("invalid_arguments")
        if user_id not in known_users:
            raise HomeViewError("user_not_found")
        view = check_home_view(params.get("view"))
        history = self._published.setdefault(user_id, [])
        previous = history[-1] if history else None
        if params.get("hash") and (previous is None or params["hash"] != previous.hash):
            raise HomeViewError("hash_conflict")
        view_id = previous.id if previous else "V" + secrets.token_hex(5).upper()
        published = HomeView(view_id, user_id, view, f"{int(now)}.{secrets.token_hex(4)}", now)
        history.append(published)
        return published

    def latest(self, user_id: str) -> HomeView | None:
        """A copy of the Home ``user_id`` sees now, or None before any publish."""
        history = self._published.get(user_id) or []
        return copy.deepcopy(history[-1]) if history else None

    def history(self, user_id: str) -> list[HomeView]:
        """Copies of every Home published for ``user_id``, oldest first."""
        return copy.deepcopy(self._published.get(user_id) or [])


def view_json(home: HomeView, *, team_id: str, app_id: str, bot_id: str) -> dict[str, Any]:
    """The view object as Slack returns and sends it (the app's fields plus Slack's)."""
    data = copy.deepcopy(home.view)
    data.update(
        {
            "id": home.id,
            "team_id": team_id,
            "type": "home",
            "private_metadata": home.view.get("private_metadata", ""),
            "callback_id": home.view.get("callback_id", ""),
            "external_id": home.view.get("external_id", ""),
            "state": {"values": {}},
            "hash": home.hash,
            "root_view_id": home.id,
            "previous_view_id": None,
            "app_id": app_id,
            "app_installed_team_id": team_id,
            "bot_id": bot_id,
        }
    )
    return data


def event_body(
    *,
    user_id: str,
    tab: str,
    team_id: str,
    app_id: str,
    bot_user_id: str,
    event_time: int,
    view: dict[str, Any] | None,
    verification_token: str,
) -> bytes:
    """The JSON body of an Events API delivery of ``app_home_opened`` for ``user_id`` on
    ``tab`` (``home`` or ``messages``); ``view`` is the current Home, when one was published."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D" + user_id[1:],
        "tab": tab,
        "event_ts": f"{event_time}.000100",
    }
    if view is not None:
        event["view"] = view
    envelope = {
        "token": verification_token,
        "team_id": team_id,
        "api_app_id": app_id,
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + secrets.token_hex(5).upper(),
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    return json.dumps(envelope).encode()


def click_payload(
    *,
    user: dict[str, Any],
    view: dict[str, Any],
    action: dict[str, Any],
    trigger_id: str,
    team: dict[str, Any],
    app_id: str,
    verification_token: str,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a click on the Home ``view`` (container ``view``;
    Slack sends no channel and no response_url for it)."""
    return {
        "type": "block_actions",
        "user": user,
        "api_app_id": app_id,
        "token": verification_token,
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": trigger_id,
        "team": team,
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view,
        "actions": [action],
    }
