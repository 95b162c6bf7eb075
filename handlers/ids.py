"""Identifiers shared by the code, the Block Kit builders, the tests and app_manifest.yml."""

COMMAND = "/delete-org"
ACTION_CONFIRM = "delete_org_confirm"
ACTION_CANCEL = "delete_org_cancel"
ACTION_OPEN_LINK = "delete_org_open_link"
ACTION_APPROVE = "delete_org_approve"
ACTION_REJECT = "delete_org_reject"
VIEW_LINK = "delete_org_link_modal"
VIEW_CONFIRM = "delete_org_confirm_modal"
BLOCK_TYPED = "typed_id"
ACTION_TYPED = "typed_id_input"
BLOCK_REASON = "reason"
ACTION_REASON = "reason_input"
BLOCK_TOKEN = "token"
ACTION_TOKEN = "token_input"
BLOCK_REGION = "region"
ACTION_REGION = "region_select"

BOT_SCOPES = ("commands", "chat:write", "usergroups:read")
"""Bot scopes the code needs: ``commands`` for the slash command, ``chat:write`` for
chat.postMessage / chat.update / chat.postEphemeral, ``usergroups:read`` for
usergroups.users.list (policy rules naming user groups). views.open and views.publish (the
App Home) need none."""
ACTION_SIGN_IN = "delete_org_sign_in"
"""The **Sign in with Coveo** URL button (Slack also sends a click, which is only acked)."""
ACTION_SIGN_IN_REGION = "delete_org_sign_in_region_"
"""Prefix of the region buttons before signing in: ``delete_org_sign_in_region_eu`` …"""
ACTION_UNLINK = "delete_org_unlink"
"""The App Home's **Unlink** button (the app forgets the user's Coveo token)."""
VIEW_HOME = "delete_org_home"
"""``callback_id`` of the App Home view (views.publish)."""
EVENT_HOME_OPENED = "app_home_opened"
"""The Events API event sent when a user opens the app's Home
(docs.slack.dev/reference/events/app_home_opened)."""
BOT_EVENTS = (EVENT_HOME_OPENED,)
"""Events API bot events the app subscribes to (app_manifest.yml); ``app_home_opened`` needs no
scope (docs.slack.dev/reference/events/app_home_opened)."""
