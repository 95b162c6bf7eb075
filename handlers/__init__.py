"""Slack listeners (one module per listener kind) and the Block Kit they send."""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, signin, views
from handlers.deps import Deps


def register_all(app: App, deps: Deps) -> None:
    """Attach every listener of the app: slash command, block actions, view submissions, and
    the sign-in buttons when an OAuth client is configured."""
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
    if deps.tokens is not None and deps.tokens.sign_in_enabled:
        signin.register(app, deps)
