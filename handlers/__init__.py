"""Slack listeners (one module per listener kind) and the Block Kit they send."""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, home, signin, views
from handlers.deps import Deps


def register_all(app: App, deps: Deps) -> None:
    """Attach every listener of the app: the App Home (first: its matchers pick the Home's
    clicks before the general listeners of the same actions), slash command, block actions,
    view submissions, and the sign-in buttons when an OAuth client is configured."""
    home.register(app, deps)
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
    if deps.tokens is not None and deps.tokens.sign_in_enabled:
        signin.register(app, deps)
