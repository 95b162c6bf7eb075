"""The ``/delete-org`` slash command: subcommands, org-id validation, then the deletion flow."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.orgid import OrgIdError, parse_org_argument
from handlers import blocks, messages
from handlers.context import actor_from
from handlers.deletion import DeletionFlow
from handlers.deps import Actor, Deps
from handlers.ids import COMMAND
from handlers.messages import esc
from storage import LinkUnreadable

logger = logging.getLogger(__name__)

SUBCOMMANDS = ("link", "unlink", "status", "help")


def open_link_modal(client: WebClient, flow: DeletionFlow, actor: Actor, trigger_id: str) -> None:
    """Open the link modal with ``trigger_id`` (valid 3 s, once); on failure tell the user."""
    region = "us"
    try:
        link = flow.store.get_link(actor.workspace, actor.user_id)
    except LinkUnreadable:
        link = None
    if link is not None:
        region = link.region
    metadata = {"channel_id": actor.channel_id}
    if actor.response_url:
        metadata["response_url"] = actor.response_url
    view = blocks.build_link_modal(private_metadata=metadata, region=region)
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as error:
        code = str(error.response.get("error") or error.response.status_code)
        logger.warning("views.open failed: %s", code)
        flow.tell(actor, messages.MODAL_OPEN_FAILED.format(error=code))


class CommandListeners:
    """Listener for ``/delete-org``; ``register`` wires it to the app."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.flow = DeletionFlow(deps)

    def on_delete_org(
        self, ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        """Ack within Slack's 3 s first (with usage or a validation error where that is all
        there is to say), then do the slow work."""
        text = str(body.get("text") or "")
        words = text.split()
        first = words[0].lower() if words else ""
        actor = actor_from(context, body)
        if first in ("", "help"):
            ack(text=messages.USAGE)
            return
        if first == "link":
            if len(words) > 1:
                ack(text=messages.TOKEN_IN_COMMAND)
            else:
                ack()
            open_link_modal(client, self.flow, actor, str(body.get("trigger_id") or ""))
            return
        if first in ("unlink", "status"):
            ack()
            if first == "unlink":
                removed = self.deps.store.delete_link(
                    actor.workspace, actor.user_id, self.deps.clock()
                )
                self.flow.tell(actor, messages.UNLINKED if removed else messages.NOT_LINKED_STATUS)
            else:
                self._status(actor)
            return
        if len(words) > 1:
            ack(text=f"Unknown command `{esc(' '.join(words)[:60])}`.\n{messages.USAGE}")
            return
        try:
            ref = parse_org_argument(text)
        except OrgIdError as error:
            ack(text=messages.org_id_problem(error))
            return
        ack(text=f"Looking up `{ref.org_id}` with your Coveo token…")
        self.flow.request(actor, ref)

    def _status(self, actor: Actor) -> None:
        try:
            link = self.deps.store.get_link(actor.workspace, actor.user_id)
        except LinkUnreadable:
            self.flow.prompt_link(actor, messages.LINK_UNREADABLE)
            return
        self.flow.tell(actor, blocks.build_status(link))


def register(app: App, deps: Deps) -> None:
    """Attach the slash command listener to ``app``."""
    listeners = CommandListeners(deps)
    app.command(COMMAND)(listeners.on_delete_org)


__all__ = ["SUBCOMMANDS", "CommandListeners", "open_link_modal", "register"]
