"""Block actions: Confirm deletion, Cancel, and the Link Coveo account button.

Ack functions run on the HTTP request thread and only ack; the work runs lazily after.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.logfields import log_fields
from handlers.blocks import build_confirm_modal
from handlers.commands import open_link_modal_soon, open_view
from handlers.context import actor_from
from handlers.deletion import DeletionFlow
from handlers.deps import Actor, Deps
from handlers.errors import guarded
from handlers.ids import (
    ACTION_APPROVE,
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_OPEN_LINK,
    ACTION_REJECT,
)
from storage import StoreUnavailable

logger = logging.getLogger(__name__)


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

    def ack_confirm(
        self, ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        """Ack at once; when typed confirmation or a reason is required, open the Confirm modal
        with this click's trigger_id (the lazy part then waits for its submission)."""
        ack()
        trigger_id = str(body.get("trigger_id") or "")
        request_id, ts = _clicked(body)
        actor = actor_from(context, body)
        if self.deps.urgent is None:
            self.open_confirm_modal(client, actor, request_id, ts, trigger_id)
        else:  # off the request thread, on the pool that slow work never occupies
            self.deps.urgent.submit(
                guarded(self.open_confirm_modal, self.deps.delivery),
                client=client,
                actor=actor,
                request_id=request_id,
                ts=ts,
                trigger_id=trigger_id,
            )

    def open_confirm_modal(
        self, client: WebClient, actor: Actor, request_id: str, ts: str | None, trigger_id: str
    ) -> None:
        """Open the Confirm modal with the click's ``trigger_id`` when a rule requires it.
        With the database gone (this runs on an ack path, ``storage.ack_path``: it gives up
        within about 1.5 s) no modal opens, logged; the click's lazy work tells the user."""
        try:
            needs = self.flow.confirm_requirements(actor, request_id)
            if needs is None:
                return
            request = self.flow.store.get_request(request_id)
        except StoreUnavailable as error:
            logger.warning(
                "database unreachable: no Confirm modal opened (%s)",
                error,
                extra=log_fields("store_unavailable", where=actor),
            )
            return
        typed_rule, approval_rule = needs
        if request is None:  # pragma: no cover - checked just above
            return
        metadata = {
            "request_id": request.id,
            "channel_id": actor.channel_id,
            "message_ts": ts or "",
        }
        if actor.response_url:
            metadata["response_url"] = actor.response_url
        view = build_confirm_modal(
            request,
            typed=typed_rule is not None,
            reason=approval_rule is not None,
            private_metadata=metadata,
        )
        open_view(client, self.flow, actor, trigger_id, view)

    def on_confirm(self, body: dict[str, Any], context: BoltContext) -> None:
        """Confirm deletion (after the ack): at most one DELETE (:meth:`DeletionFlow.confirm`)."""
        request_id, ts = _clicked(body)
        self.flow.confirm(actor_from(context, body), request_id, ts)

    def on_approve(self, body: dict[str, Any], context: BoltContext) -> None:
        """Approve deletion (after the ack): see :meth:`DeletionFlow.approve`."""
        request_id, ts = _clicked(body)
        self.flow.approve(actor_from(context, body), request_id, ts)

    def on_reject(self, body: dict[str, Any], context: BoltContext) -> None:
        """Reject (after the ack): awaiting_approval → rejected."""
        request_id, ts = _clicked(body)
        self.flow.reject(actor_from(context, body), request_id, ts)

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
    app.action(ACTION_CONFIRM)(
        ack=listeners.ack_confirm, lazy=[guarded(listeners.on_confirm, deps.delivery)]
    )
    app.action(ACTION_APPROVE)(ack=ack_only, lazy=[guarded(listeners.on_approve, deps.delivery)])
    app.action(ACTION_REJECT)(ack=ack_only, lazy=[guarded(listeners.on_reject, deps.delivery)])
    app.action(ACTION_CANCEL)(ack=ack_only, lazy=[guarded(listeners.on_cancel, deps.delivery)])
    app.action(ACTION_OPEN_LINK)(listeners.ack_open_link)
