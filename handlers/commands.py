"""The ``/delete-org`` slash command: subcommands, org-id validation, then the deletion flow.

Each listener is split the way Bolt's lazy listeners allow: a fast ack function that runs on
the HTTP request thread (parsing only, so the ack never waits for a worker busy with Coveo),
and a lazy function for the slow work, run on the listener pool after the ack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.orgid import OrgIdError, OrgRef, parse_org_argument
from handlers import blocks, messages, signin_blocks
from handlers.context import actor_from
from handlers.deletion import DeletionFlow
from handlers.deps import Actor, Deps
from handlers.errors import guarded
from handlers.groups import GroupLookupError
from handlers.ids import COMMAND
from handlers.messages import esc
from storage import LinkUnreadable

logger = logging.getLogger(__name__)

SUBCOMMANDS = ("link", "unlink", "status", "policy", "freeze", "unfreeze", "help")


@dataclass(frozen=True)
class Parsed:
    """What ``/delete-org <text>`` asks for: ``kind`` is one of help, link, unlink, status,
    unknown, invalid or delete; ``reply`` is the immediate ack text, if any."""

    kind: str
    reply: str | None = None
    ref: OrgRef | None = None
    reason: str = ""


def parse_command_text(text: str) -> Parsed:
    """Classify the command text (pure; no I/O)."""
    words = text.split()
    first = words[0].lower() if words else ""
    if first in ("", "help"):
        return Parsed("help", messages.USAGE)
    if first == "link":
        return Parsed("link", messages.TOKEN_IN_COMMAND if len(words) > 1 else None)
    if first in ("unlink", "status", "policy", "unfreeze"):
        return Parsed(first)
    if first == "freeze":
        return Parsed("freeze", ref=None, reply=None, reason=text.strip()[len(words[0]) :].strip())
    if len(words) > 1:
        return Parsed(
            "unknown", f"Unknown command `{esc(' '.join(words)[:60])}`.\n{messages.USAGE}"
        )
    try:
        ref = parse_org_argument(text)
    except OrgIdError as error:
        return Parsed("invalid", messages.org_id_problem(error))
    return Parsed("delete", f"Looking up `{ref.org_id}` with your Coveo token…", ref)


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
    open_view(
        client,
        flow,
        actor,
        trigger_id,
        blocks.build_link_modal(private_metadata=metadata, region=region),
    )


def open_view(
    client: WebClient, flow: DeletionFlow, actor: Actor, trigger_id: str, view: dict[str, Any]
) -> None:
    """Open ``view`` with ``trigger_id`` (valid 3 s, once); on failure tell the user."""
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as error:
        code = str(error.response.get("error") or error.response.status_code)
        logger.warning("views.open failed: %s", code)
        flow.tell(actor, messages.MODAL_OPEN_FAILED.format(error=code))


def open_link_modal_soon(
    deps: Deps, flow: DeletionFlow, client: WebClient, actor: Actor, trigger_id: str
) -> None:
    """Open the modal on the small ``urgent`` pool, which slow Coveo work never occupies, so
    the ``trigger_id`` is used well within its 3 s (inline when no pool is configured)."""
    if deps.urgent is None:
        open_link_modal(client, flow, actor, trigger_id)
    else:
        deps.urgent.submit(
            guarded(open_link_modal), client=client, flow=flow, actor=actor, trigger_id=trigger_id
        )


class CommandListeners:
    """Listener for ``/delete-org``; ``register`` wires it to the app."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.flow = DeletionFlow(deps)

    def ack_delete_org(
        self, ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        """Ack at once: usage, a validation error, or "Looking up…"; open the link modal."""
        parsed = parse_command_text(str(body.get("text") or ""))
        tokens = self.deps.tokens
        if parsed.kind == "link" and tokens is not None and tokens.sign_in_enabled:
            # Sign in with Coveo: the region first (a private message; no modal, no token).
            warning = messages.TOKEN_AFTER_LINK if parsed.reply else None
            choice = signin_blocks.build_region_choice(warning)
            ack(text=warning or "Link your Coveo account", blocks=choice)
            return
        if parsed.reply:
            ack(text=parsed.reply)
        else:
            ack()
        if parsed.kind == "link":
            open_link_modal_soon(
                self.deps,
                self.flow,
                client,
                actor_from(context, body),
                str(body.get("trigger_id") or ""),
            )

    def work_delete_org(self, body: dict[str, Any], context: BoltContext) -> None:
        """After the ack: unlink, status, or the deletion request itself."""
        parsed = parse_command_text(str(body.get("text") or ""))
        actor = actor_from(context, body)
        if parsed.kind == "unlink":
            removed = self.deps.store.delete_link(actor.workspace, actor.user_id, self.deps.clock())
            self.flow.tell(actor, messages.UNLINKED if removed else messages.NOT_LINKED_STATUS)
        elif parsed.kind == "status":
            self._status(actor)
        elif parsed.kind == "policy":
            self._policy(actor)
        elif parsed.kind in ("freeze", "unfreeze"):
            self._freeze(actor, parsed.kind == "freeze", parsed.reason)
        elif parsed.kind == "delete" and parsed.ref is not None:
            self.flow.request(actor, parsed.ref)

    def _policy(self, actor: Actor) -> None:
        guard = self.flow.guard
        try:
            groups = guard.groups_of(actor.user_id)
        except GroupLookupError as error:
            self.flow.tell(
                actor, f"Slack did not say who is in <!subteam^{error.group}>; try again."
            )
            return
        text = guard.policy().describe_for(actor.user_id, groups, actor.channel_id)
        frozen = guard.frozen()
        self.flow.tell(actor, text + (f"\n\n{frozen.text}" if frozen else ""))

    def _freeze(self, actor: Actor, frozen: bool, reason: str) -> None:
        guard = self.flow.guard
        if not guard.is_admin(actor.user_id):
            self.deps.store.record_event(
                self.deps.clock(),
                "freeze_refused",
                workspace=actor.workspace,
                actor_id=actor.user_id,
                detail="not an admin",
            )
            self.flow.tell(actor, messages.ADMINS_ONLY)
            return
        changed = self.deps.store.set_freeze(
            frozen=frozen, by_user=actor.user_id, reason=reason[:300] or None, now=self.deps.clock()
        )
        if not changed:
            self.flow.tell(
                actor, "Deletions were already frozen." if frozen else "Deletions were not frozen."
            )
        elif frozen:
            self.flow.tell(
                actor,
                ":snowflake: Deletions are frozen: no new or pending deletion can proceed until"
                f" `{COMMAND} unfreeze`.",
            )
        else:
            self.flow.tell(actor, "Deletions are allowed again (per the policy).")

    def _status(self, actor: Actor) -> None:
        try:
            link = self.deps.store.get_link(actor.workspace, actor.user_id)
        except LinkUnreadable:
            self.flow.prompt_link(actor, messages.LINK_UNREADABLE)
            return
        self.flow.tell(actor, blocks.build_status(link))


def register(app: App, deps: Deps) -> None:
    """Attach the slash command listener (ack function plus lazy work) to ``app``."""
    listeners = CommandListeners(deps)
    app.command(COMMAND)(ack=listeners.ack_delete_org, lazy=[guarded(listeners.work_delete_org)])
