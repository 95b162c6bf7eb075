"""What the listeners need, built once by the app factory and handed to every ``register``."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

from bot.clock import utcnow
from bot.coveo import CoveoClient
from handlers.delivery import Delivery
from storage import Store


@dataclass(frozen=True)
class Deps:
    """Shared services. ``confirm_timeout`` is in seconds; ``clock`` returns aware UTC;
    ``urgent`` is a small pool for work bound to Slack's 3-second windows (views.open), kept
    apart from the listener pool that slow Coveo calls can fill (None: run inline)."""

    store: Store
    coveo: CoveoClient
    delivery: Delivery
    confirm_timeout: int
    clock: Callable[[], datetime] = utcnow
    urgent: Executor | None = None


@dataclass(frozen=True)
class Actor:
    """Who did something, from where: Slack IDs from a signed request.

    ``workspace`` is the enterprise ID on Enterprise Grid, else the team ID: links are keyed by
    it so a user is recognised across the workspaces of one organization (slack-notes §9).
    ``response_url`` is the one that came with this command or click, if any.
    """

    workspace: str
    team_id: str | None
    user_id: str
    channel_id: str
    response_url: str | None
