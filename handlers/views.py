"""View submissions: the Link Coveo account modal (check the token with Coveo, store it)."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.coveo import LINK_CHECK_TIMEOUT, REGIONS, CoveoError
from bot.logfields import log_fields
from handlers import blocks, messages
from handlers.context import workspace_key
from handlers.deletion import DeletionFlow
from handlers.deps import Actor, Deps
from handlers.errors import guarded
from handlers.ids import (
    ACTION_REASON,
    ACTION_REGION,
    ACTION_TOKEN,
    ACTION_TYPED,
    BLOCK_REASON,
    BLOCK_REGION,
    BLOCK_TOKEN,
    BLOCK_TYPED,
    VIEW_CONFIRM,
    VIEW_LINK,
)
from storage import LinkUnreadable, StoreUnavailable

logger = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 2048


DATABASE_LOST_AT_ACK = "delete_org_database_lost_at_ack"
"""Context key an ack function sets when it refused a form because the database is gone: the
lazy listener, started after the ack function returned with a copy of its context (Bolt with
``process_before_response``), then does nothing, so a database back meanwhile cannot carry out
what the form was told had not happened."""


def _log_lost_database(what: str, error: StoreUnavailable) -> None:
    """Log that a view submission met a lost database (``error`` names it, password
    redacted) and what that left undone (``what``)."""
    logger.warning(
        "database unreachable: %s (%s)", what, error, extra=log_fields("store_unavailable")
    )


def _refuse_for_lost_database(context: BoltContext, what: str, error: StoreUnavailable) -> None:
    """:func:`_log_lost_database`, and mark the context (:data:`DATABASE_LOST_AT_ACK`)."""
    context[DATABASE_LOST_AT_ACK] = True
    _log_lost_database(what, error)


def refused_for_lost_database(context: BoltContext) -> bool:
    """True when this submission's ack refused it because the database was gone."""
    return context.get(DATABASE_LOST_AT_ACK) is True


def read_link_form(view: dict[str, Any]) -> tuple[str, str]:
    """Return ``(token, region)`` from the modal's state; the token is stripped, values that
    are missing come back empty."""

    def child(parent: object, key: str) -> dict[str, Any]:
        value = parent.get(key) if isinstance(parent, dict) else None
        return value if isinstance(value, dict) else {}

    values = child(child(view, "state"), "values")
    token = child(values, BLOCK_TOKEN).get(ACTION_TOKEN)
    token = token.get("value") if isinstance(token, dict) else None
    region = child(child(values, BLOCK_REGION), ACTION_REGION).get("selected_option")
    region = region.get("value") if isinstance(region, dict) else None
    return (token.strip() if isinstance(token, str) else ""), (
        region if isinstance(region, str) else ""
    )


def token_shape_problem(token: str) -> str | None:
    """Why ``token`` cannot be an access token (checked before any Coveo call), or None."""
    if not token:
        return messages.EMPTY_TOKEN
    if len(token) > MAX_TOKEN_LENGTH:
        return messages.TOKEN_TOO_LONG
    if not token.isascii() or not token.isprintable():
        return messages.BAD_TOKEN_SHAPE
    if any(char.isspace() for char in token):
        return messages.BAD_TOKEN_SHAPE
    return None


def _metadata(view: dict[str, Any]) -> dict[str, str]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if isinstance(value, str)}


class ViewListeners:
    """Listener for the link modal's submission."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.flow = DeletionFlow(deps)

    def on_link_submit(
        self, ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
    ) -> None:
        """Validate the form, check the token with Coveo inside Slack's 3 s, then ack with
        inline errors (nothing saved) or with the confirmation view (saved, encrypted).

        This runs as the ack function (on the request thread, on an ack path: see
        ``storage.ack_path``) because inline errors can only be given in the ack. With the
        database gone the form gets an inline error on the token field within about 1.5 s
        (:data:`messages.LINK_DATABASE_UNAVAILABLE`), nothing is saved, and it is logged."""
        token, region = read_link_form(view)
        problem = token_shape_problem(token)
        if problem:
            ack(response_action="errors", errors={BLOCK_TOKEN: problem})
            return
        if region not in REGIONS:
            ack(response_action="errors", errors={BLOCK_REGION: "Pick one of the listed regions."})
            return
        workspace = workspace_key(context)
        user_id = str(context.user_id)
        try:
            identity = self.deps.coveo.check_token(token, region, timeout=LINK_CHECK_TIMEOUT)
        except CoveoError as error:
            ack(
                response_action="errors", errors={BLOCK_TOKEN: messages.link_refused(error, region)}
            )
            try:
                self.deps.store.record_event(
                    self.deps.clock(),
                    "link_refused",
                    workspace=workspace,
                    actor_id=user_id,
                    region=region,
                    detail=type(error).__name__,
                )
            except StoreUnavailable as lost:  # the form's answer stands; only the audit row is lost
                _log_lost_database("link_refused not recorded", lost)
            return
        try:
            link = self.deps.store.save_link(
                workspace=workspace,
                user_id=user_id,
                token=token,
                region=region,
                coveo_username=identity.username,
                coveo_email=identity.email,
                expires_at=identity.expires_at,
                now=self.deps.clock(),
            )
        except StoreUnavailable as lost:
            _refuse_for_lost_database(context, "link form refused, nothing saved", lost)
            ack(response_action="errors", errors={BLOCK_TOKEN: messages.LINK_DATABASE_UNAVAILABLE})
            return
        ack(response_action="update", view=blocks.build_link_done_view(link))

    def after_link_submit(
        self, body: dict[str, Any], view: dict[str, Any], context: BoltContext
    ) -> None:
        """After a successful link: tell the user privately in the conversation they came from."""
        if refused_for_lost_database(context):
            return
        workspace = workspace_key(context)
        user_id = str(context.user_id)
        try:
            link = self.deps.store.get_link(workspace, user_id)
        except LinkUnreadable:
            return
        except StoreUnavailable as lost:  # gone since the ack: the link is kept, not announced
            _log_lost_database("no linked message sent", lost)
            return
        token, region = read_link_form(view)
        if link is None or not token:
            return
        if not hmac.compare_digest(token.encode("utf-8"), link.token.encode("utf-8")):
            return  # the submission was refused (or superseded): nothing to announce
        metadata = _metadata(view)
        actor = Actor(
            workspace=workspace,
            team_id=context.team_id,
            user_id=user_id,
            channel_id=metadata.get("channel_id", ""),
            response_url=metadata.get("response_url"),
        )
        if actor.channel_id or actor.response_url:
            self.flow.tell(actor, blocks.linked_text(link))


def read_confirm_form(view: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(typed, reason)`` from the Confirm modal, unstripped (typed must match exactly);
    None for a field the modal did not have."""
    state = view.get("state") if isinstance(view, dict) else None
    values = state.get("values") if isinstance(state, dict) else None
    values = values if isinstance(values, dict) else {}

    def field(block: str, action: str) -> str | None:
        entry = values.get(block)
        entry = entry.get(action) if isinstance(entry, dict) else None
        if not isinstance(entry, dict):
            return None
        value = entry.get("value")
        return value if isinstance(value, str) else ""

    return field(BLOCK_TYPED, ACTION_TYPED), field(BLOCK_REASON, ACTION_REASON)


class ConfirmListeners:
    """The Confirm modal (typed confirmation and/or reason for a second approver)."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.flow = DeletionFlow(deps)

    def ack_confirm_submit(self, ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
        """Inline errors for a mismatch or a missing reason (nothing changes); else close.
        With the database gone (on an ack path, ``storage.ack_path``: within about 1.5 s) an
        inline error says so (:data:`messages.CONFIRM_DATABASE_UNAVAILABLE`); nothing
        changes, and it is logged."""
        typed, reason = read_confirm_form(view)
        field = BLOCK_TYPED if typed is not None else BLOCK_REASON
        try:
            request = self.deps.store.get_request(_metadata(view).get("request_id", ""))
        except StoreUnavailable as lost:
            _refuse_for_lost_database(context, "Confirm form refused, nothing confirmed", lost)
            ack(response_action="errors", errors={field: messages.CONFIRM_DATABASE_UNAVAILABLE})
            return
        if request is None:
            ack(response_action="errors", errors={field: messages.CARD_GONE})
            return
        errors: dict[str, str] = {}
        if typed is not None and typed != request.org_id:
            errors[BLOCK_TYPED] = messages.typed_mismatch(request.org_id)
            try:
                self.deps.store.record_event(
                    self.deps.clock(),
                    "typed_confirmation_failed",
                    workspace=request.workspace,
                    actor_id=str(context.user_id),
                    request_id=request.id,
                    org_id=request.org_id,
                    region=request.region,
                    detail="typed text did not match",
                )
            except StoreUnavailable as lost:  # the mismatch is shown; only the audit row is lost
                _log_lost_database("typed_confirmation_failed not recorded", lost)
        if reason is not None and not reason.strip():
            errors[BLOCK_REASON] = messages.REASON_REQUIRED
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()

    def after_confirm_submit(self, view: dict[str, Any], context: BoltContext) -> None:
        """After the modal closed: continue the Confirm with what was typed (checked again);
        nothing when the ack refused it for a lost database."""
        if refused_for_lost_database(context):
            return
        typed, reason = read_confirm_form(view)
        metadata = _metadata(view)
        request = self.deps.store.get_request(metadata.get("request_id", ""))
        if request is None or (typed is not None and typed != request.org_id):
            return  # the ack showed the error; nothing to do
        if reason is not None and not reason.strip():
            return
        actor = Actor(
            workspace=workspace_key(context),
            team_id=context.team_id,
            user_id=str(context.user_id),
            channel_id=metadata.get("channel_id", request.channel_id),
            response_url=metadata.get("response_url"),
        )
        self.flow.confirm(
            actor,
            request.id,
            metadata.get("message_ts") or None,
            via_modal=True,
            typed=typed,
            reason=reason,
        )


def register(app: App, deps: Deps) -> None:
    """Attach the view submission listeners to ``app``."""
    confirm = ConfirmListeners(deps)
    app.view(VIEW_CONFIRM)(
        ack=confirm.ack_confirm_submit, lazy=[guarded(confirm.after_confirm_submit, deps.delivery)]
    )
    listeners = ViewListeners(deps)
    app.view(VIEW_LINK)(
        ack=listeners.on_link_submit, lazy=[guarded(listeners.after_link_submit, deps.delivery)]
    )
