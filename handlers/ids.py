"""Identifiers shared by the code, the Block Kit builders, the tests and app_manifest.yml."""

COMMAND = "/delete-org"
ACTION_CONFIRM = "delete_org_confirm"
ACTION_CANCEL = "delete_org_cancel"
ACTION_OPEN_LINK = "delete_org_open_link"
VIEW_LINK = "delete_org_link_modal"
BLOCK_TOKEN = "token"
ACTION_TOKEN = "token_input"
BLOCK_REGION = "region"
ACTION_REGION = "region_select"

BOT_SCOPES = ("commands", "chat:write")
"""Bot scopes the code needs: ``commands`` for the slash command, ``chat:write`` for
chat.postMessage / chat.update / chat.postEphemeral. views.open needs none."""
