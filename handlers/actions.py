"""Block actions: Confirm deletion, Cancel, and the Link Coveo account button."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from handlers.commands import open_link_modal
from handlers.context import actor_from
from handlers.deletion import DeletionFlow
from handlers.deps import Deps
from handlers.ids import ACTION_CANCEL, ACTION_CONFIRM, ACTION_OPEN_LINK


def _clicked(body: dict[str, Any]) -> tuple[str, str | None]:
    """The clicked button's value (the opaque request id) and the card's message ts."""
    actions = body.get("actions") or [{}]
    value = actions[0].get("value") if isinstance(actions[0], dict) else None
    container = body.get("container") or {}
    ts = container.get("message_ts") if isinstance(container, dict) else None
    return (value if isinstance(value, str) else ""), (ts if isinstance(ts, str) else None)


class ActionListeners:
    """Listeners for the card's buttons; all state is looked up server-side from the value."""

    def __init__(self, deps: Deps) -> None:
        self.flow = DeletionFlow(deps)

    def on_confirm(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        """Confirm deletion: ack, then at most one DELETE (see :meth:`DeletionFlow.confirm`)."""
        ack()
        request_id, ts = _clicked(body)
        self.flow.confirm(actor_from(context, body), request_id, ts)

    def on_cancel(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        """Cancel: ack, then pending → cancelled."""
        ack()
        request_id, ts = _clicked(body)
        self.flow.cancel(actor_from(context, body), request_id, ts)

    def on_open_link(
        self, ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        """Link Coveo account: ack, then open the modal with this click's trigger_id."""
        ack()
        open_link_modal(
            client, self.flow, actor_from(context, body), str(body.get("trigger_id") or "")
        )


def register(app: App, deps: Deps) -> None:
    """Attach the block action listeners to ``app``."""
    listeners = ActionListeners(deps)
    app.action(ACTION_CONFIRM)(listeners.on_confirm)
    app.action(ACTION_CANCEL)(listeners.on_cancel)
    app.action(ACTION_OPEN_LINK)(listeners.on_open_link)
