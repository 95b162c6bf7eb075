"""The App Home tab: ``app_home_opened`` publishes the user's Home (``views.publish``), and the
Home's buttons (Link, Relink, a sign-in region, Unlink) act and publish it again.

The Home's Link and Relink buttons reuse the existing action IDs and modal (the link form,
``handlers/views.py``; the region buttons of Sign in with Coveo, ``handlers/signin.py``). Clicks
that come from the Home are told apart by Bolt matchers (``container.type == "view"``), and
this module's listeners are registered before the others, so Bolt gives them those clicks.
A click on the Home carries no channel and no response_url, so the answer is the Home itself.

Errors: a ``views.publish`` failure is logged with Slack's error code and never raised into
Bolt; anything unexpected goes through :func:`handlers.errors.guarded` (logged, no trace shown).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from handlers.commands import open_link_modal_soon
from handlers.context import workspace_key
from handlers.deletion import DeletionFlow
from handlers.deps import Actor, Deps
from handlers.errors import guarded
from handlers.groups import GroupLookupError
from handlers.guard import Guard
from handlers.home_blocks import RECENT_LIMIT, AdminStats, HomeFacts, SignInOffer, build_home
from handlers.ids import ACTION_OPEN_LINK, ACTION_UNLINK, EVENT_HOME_OPENED, VIEW_LINK
from handlers.signin import REGION_ACTION, clicked_region
from handlers.views import ViewListeners, refused_for_lost_database
from storage import LinkUnreadable

logger = logging.getLogger(__name__)

ORIGIN_HOME = "home"
"""``origin`` in the link modal's private_metadata when it was opened from the Home."""
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


def from_home(body: dict[str, Any]) -> bool:
    """True for a block action clicked on the App Home: ``container.type`` is ``view`` and the
    view's ``type`` is ``home``
    (docs.slack.dev/reference/interaction-payloads/block_actions-payload)."""
    container = body.get("container")
    view = body.get("view")
    return (
        isinstance(container, dict)
        and container.get("type") == "view"
        and isinstance(view, dict)
        and view.get("type") == "home"
    )


def link_form_from_home(view: dict[str, Any]) -> bool:
    """True for a submission of the link modal opened from the Home."""
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except (json.JSONDecodeError, TypeError):
        return False
    return isinstance(metadata, dict) and metadata.get("origin") == ORIGIN_HOME


def home_actor(context: BoltContext) -> Actor:
    """Who clicked or opened the Home (no channel, no response_url there)."""
    return Actor(
        workspace=workspace_key(context),
        team_id=context.team_id,
        user_id=str(context.user_id or ""),
        channel_id="",
        response_url=None,
    )


def ack_only(ack: Ack) -> None:
    """Ack at once; the Home is published after the ack."""
    ack()


class HomePublisher:
    """Gathers a user's Home facts and publishes the view (one ``views.publish``)."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.guard = Guard(deps.policy, deps.store, deps.groups, deps.clock)

    def facts(self, actor: Actor, sign_in: SignInOffer | None = None) -> HomeFacts:
        """Read the link, the last requests, the policy, the freeze and (admins) the counts."""
        store = self.deps.store
        unreadable = False
        try:
            link = store.get_link(actor.workspace, actor.user_id)
        except LinkUnreadable:
            link, unreadable = None, True
        groups: frozenset[str] | None
        try:
            groups = self.guard.groups_of(actor.user_id)
        except GroupLookupError as error:
            logger.warning("home for %s: user groups unknown (%s)", actor.user_id, error.error)
            groups = None
        policy = self.guard.policy()
        admin = None
        if groups is not None and policy.is_admin(actor.user_id, groups):
            admin = AdminStats(store.outbox_pending(), store.live_request_count())
        tokens = self.deps.tokens
        return HomeFacts(
            user_id=actor.user_id,
            now=self.deps.clock(),
            policy=policy,
            link=link,
            link_unreadable=unreadable,
            sign_in_enabled=tokens is not None and tokens.sign_in_enabled,
            sign_in=sign_in,
            requests=store.recent_requests_for_user(actor.user_id, RECENT_LIMIT),
            groups=groups,
            freeze=store.freeze_state(),
            admin=admin,
            workspace_url=self.deps.workspace_url,
        )

    def publish(
        self,
        actor: Actor,
        *,
        client: WebClient | None = None,
        sign_in: SignInOffer | None = None,
    ) -> bool:
        """Publish ``actor``'s Home with ``client`` (default: the bot's client); True when Slack
        took it. A refusal or a network error is logged (Slack's code, never a token) and
        returns False (docs.slack.dev/reference/methods/views.publish)."""
        if not _USER_ID.match(actor.user_id):
            logger.warning("home not published: not a Slack user ID")
            return False
        view = build_home(self.facts(actor, sign_in))
        web = client or self.deps.delivery.client
        try:
            web.views_publish(user_id=actor.user_id, view=view)
        except SlackApiError as error:
            code = str(error.response.get("error") or error.response.status_code)
            logger.warning("views.publish for %s failed: %s", actor.user_id, code)
            return False
        except (SlackClientError, OSError) as error:
            logger.warning("views.publish for %s failed: %s", actor.user_id, type(error).__name__)
            return False
        return True

    def publish_for(self, actor: Actor) -> None:
        """Publish with the bot's client (for callers outside Bolt, such as the sign-in
        callback); failures are logged by :meth:`publish`."""
        self.publish(actor)


class HomeListeners:
    """The Home event and the Home's buttons."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.flow = DeletionFlow(deps)
        self.home = HomePublisher(deps)

    def on_home_opened(
        self, event: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        """After the ack: publish the Home when its ``home`` tab was opened (the event also
        comes for the Messages tab, ``tab: messages``, which has nothing to publish)."""
        if event.get("tab") != "home":
            return
        self.home.publish(home_actor(context), client=client)

    def ack_open_link(
        self, ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        """Link or Relink (pasted token) on the Home: ack, open the link modal with this
        click's trigger_id, marked as opened from the Home."""
        ack()
        open_link_modal_soon(
            self.deps,
            self.flow,
            client,
            home_actor(context),
            str(body.get("trigger_id") or ""),
            origin=ORIGIN_HOME,
        )

    def after_link_submit(self, context: BoltContext, client: WebClient) -> None:
        """After the link modal opened from the Home was submitted: publish the Home again
        (it shows the new link, or the unchanged one when the form was refused); nothing when
        the form was refused for a lost database (publishing would wait for it again)."""
        if refused_for_lost_database(context):
            return
        self.home.publish(home_actor(context), client=client)

    def on_region(self, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        """A sign-in region on the Home: start a sign-in (single-use state, 10 minutes) and
        publish the Home with the private **Sign in with Coveo** button."""
        actor = home_actor(context)
        region = clicked_region(body)
        tokens = self.deps.tokens
        if region is None or tokens is None or not tokens.sign_in_enabled:
            self.home.publish(actor, client=client)
            return
        url, expires_at = tokens.start_sign_in(
            workspace=actor.workspace,
            team_id=actor.team_id,
            user_id=actor.user_id,
            region=region,
            channel_id="",
            response_url=None,
        )
        self.home.publish(actor, client=client, sign_in=SignInOffer(url, region, expires_at))

    def on_unlink(self, context: BoltContext, client: WebClient) -> None:
        """Unlink on the Home (after Slack's confirm dialog): forget the token (audited as
        ``unlinked``), then publish the Home again."""
        actor = home_actor(context)
        self.deps.store.delete_link(actor.workspace, actor.user_id, self.deps.clock())
        self.home.publish(actor, client=client)


def register(app: App, deps: Deps) -> None:
    """Attach the Home listeners to ``app``. Call before the other modules' ``register``: the
    Home's Link and region clicks and its link-form submissions must reach these first."""
    listeners = HomeListeners(deps)
    app.event(EVENT_HOME_OPENED)(ack=ack_only, lazy=[guarded(listeners.on_home_opened)])
    app.action(ACTION_OPEN_LINK, matchers=[from_home])(listeners.ack_open_link)
    app.view(VIEW_LINK, matchers=[link_form_from_home])(
        ack=ViewListeners(deps).on_link_submit, lazy=[guarded(listeners.after_link_submit)]
    )
    app.action(ACTION_UNLINK)(ack=ack_only, lazy=[guarded(listeners.on_unlink)])
    if deps.tokens is not None and deps.tokens.sign_in_enabled:
        app.action(REGION_ACTION, matchers=[from_home])(
            ack=ack_only, lazy=[guarded(listeners.on_region)]
        )
