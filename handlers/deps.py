"""What the listeners need, built once by the app factory and handed to every ``register``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from bot.clock import utcnow
from bot.config import SWEEP_INTERVAL_RANGE
from bot.coveo import CoveoClient
from bot.policy import PolicyHolder
from handlers.delivery import Delivery
from handlers.groups import GroupDirectory
from handlers.tokens import Tokens
from storage import Store


class InFlight:
    """The deletion requests this process is working on right now (thread-safe), so shutdown
    can wait for them and the reconciler never touches them."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._changed = threading.Condition()

    @contextmanager
    def running(self, request_id: str) -> Iterator[None]:
        """Mark ``request_id`` as in progress for the duration of the block."""
        with self._changed:
            self._ids.add(request_id)
        try:
            yield
        finally:
            with self._changed:
                self._ids.discard(request_id)
                self._changed.notify_all()

    def __contains__(self, request_id: object) -> bool:
        with self._changed:
            return request_id in self._ids

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for nothing to be in progress; True if idle."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._ids, timeout)

    def snapshot(self) -> set[str]:
        """The ids in progress now."""
        with self._changed:
            return set(self._ids)


@dataclass(frozen=True)
class Deps:
    """Shared services. ``confirm_timeout`` is in seconds; ``clock`` returns aware UTC;
    ``urgent`` is a small pool for work bound to Slack's 3-second windows (views.open), kept
    apart from the listener pool that slow Coveo calls can fill (None: run inline);
    ``instance_id`` names this process in the database; ``inflight`` is shared by all flows;
    ``policy`` holds the guardrails (built-in default without a file); ``groups`` resolves
    Slack user groups (None: no group lookups, as in unit tests); ``tokens`` starts sign-ins
    and refreshes expired tokens (None: pasted tokens only, no refresh); ``workspace_url`` is
    the workspace's address from ``auth.test`` at start (``https://acme.slack.com/``), used
    for links to cards on the App Home (None: no links); ``sweep_interval`` is the expiry
    sweeper's period in seconds (``DELETE_ORG_SWEEP_INTERVAL``; default its maximum), which a
    card posted through a response_url must allow for (``handlers.response_url``);
    ``response_url_retention`` is how many seconds a finished request keeps its response URL
    (None: kept for good)."""

    store: Store
    coveo: CoveoClient
    delivery: Delivery
    confirm_timeout: int
    clock: Callable[[], datetime] = utcnow
    urgent: Executor | None = None
    instance_id: str = "local"
    inflight: InFlight = field(default_factory=InFlight)
    policy: PolicyHolder = field(default_factory=lambda: PolicyHolder(None))
    groups: GroupDirectory | None = None
    tokens: Tokens | None = None
    workspace_url: str | None = None
    sweep_interval: int = SWEEP_INTERVAL_RANGE[1]
    response_url_retention: int | None = None


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
