"""Slack listeners (one module per listener kind) and the Block Kit they send."""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, views
from handlers.deps import Deps


def register_all(app: App, deps: Deps) -> None:
    """Attach every listener of the app: slash command, block actions, view submissions."""
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
