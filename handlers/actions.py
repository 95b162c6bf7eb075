"""Block actions: Confirm deletion, Cancel, and the Link Coveo account button.

Ack functions run on the HTTP request thread and only ack; the work runs lazily after.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from handlers.commands import open_link_modal_soon
from handlers.context import actor_from
from handlers.deletion import DeletionFlow
from handlers.deps import Deps
from handlers.errors import guarded
from handlers.ids import ACTION_CANCEL, ACTION_CONFIRM, ACTION_OPEN_LINK


def _clicked(body: dict[str, Any]) -> tuple[str, str | None]:
    """The clicked button's value (the opaque request id) and the card's message ts."""
    actions = body.get("actions") or [{}]
    value = actions[0].get("value") if isinstance(actions[0], dict) else None
    container = body.get("container") or {}
    ts = container.get("message_ts") if isinstance(container, dict) else None
    return (value if isinstance(value, str) else ""), (ts if isinstance(ts, str) else None)


def ack_only(ack: Ack) -> None:
    """Ack a click at once; the work follows in a lazy function."""
    ack()


class ActionListeners:
    """Listeners for the card's buttons; all state is looked up server-side from the value."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.flow = DeletionFlow(deps)

    def on_confirm(self, body: dict[str, Any], context: BoltContext) -> None:
        """Confirm deletion (after the ack): at most one DELETE (:meth:`DeletionFlow.confirm`)."""
        request_id, ts = _clicked(body)
        self.flow.confirm(actor_from(context, body), request_id, ts)

    def on_cancel(self, body: dict[str, Any], context: BoltContext) -> None:
        """Cancel (after the ack): pending → cancelled."""
        request_id, ts = _clicked(body)
        self.flow.cancel(actor_from(context, body), request_id, ts)

    def ack_open_link(
        self, ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        """Link Coveo account: ack, then open the modal with this click's trigger_id."""
        ack()
        open_link_modal_soon(
            self.deps,
            self.flow,
            client,
            actor_from(context, body),
            str(body.get("trigger_id") or ""),
        )


def register(app: App, deps: Deps) -> None:
    """Attach the block action listeners to ``app``."""
    listeners = ActionListeners(deps)
    app.action(ACTION_CONFIRM)(ack=ack_only, lazy=[guarded(listeners.on_confirm)])
    app.action(ACTION_CANCEL)(ack=ack_only, lazy=[guarded(listeners.on_cancel)])
    app.action(ACTION_OPEN_LINK)(listeners.ack_open_link)
