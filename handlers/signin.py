"""Block actions of **Sign in with Coveo**: a region button (starts a sign-in and sends the
private URL button), and the URL button itself (Slack reports its click; it is only acked)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.coveo import REGIONS
from handlers.context import actor_from
from handlers.deletion import DeletionFlow
from handlers.deps import Deps
from handlers.errors import guarded
from handlers.ids import ACTION_SIGN_IN, ACTION_SIGN_IN_REGION
from handlers.messages import region_label

REGION_ACTION = re.compile("^" + re.escape(ACTION_SIGN_IN_REGION) + "(" + "|".join(REGIONS) + ")$")


def ack_only(ack: Ack) -> None:
    """Ack at once (the URL opens in the browser; nothing else to do)."""
    ack()


def clicked_region(body: dict[str, Any]) -> str | None:
    """The region of the clicked region button, or None when it is not one of :data:`REGIONS`."""
    actions = body.get("actions") or [{}]
    first = actions[0] if isinstance(actions, list) and actions else {}
    value = first.get("value") if isinstance(first, dict) else None
    return value if isinstance(value, str) and value in REGIONS else None


class SignInListeners:
    """The region choice before signing in."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.flow = DeletionFlow(deps)

    def on_region(self, body: dict[str, Any], context: BoltContext) -> None:
        """After the ack: start a sign-in for the clicked region (a state valid 10 minutes,
        bound to this workspace, user and region) and send the **Sign in with Coveo** button
        privately."""
        actor = actor_from(context, body)
        region = clicked_region(body)
        if region is None:
            self.flow.tell(actor, "Pick one of the listed regions.")
            return
        text = f"Sign in with Coveo (region {region_label(region)})"
        self.flow.tell(actor, text, self.flow.link_prompt_blocks(actor, None, region))


def register(app: App, deps: Deps) -> None:
    """Attach the sign-in listeners to ``app`` (only when an OAuth client is configured)."""
    listeners = SignInListeners(deps)
    app.action(REGION_ACTION)(ack=ack_only, lazy=[guarded(listeners.on_region, deps.delivery)])
    app.action(ACTION_SIGN_IN)(ack_only)
