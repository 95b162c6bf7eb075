"""Slack user group membership, resolved with ``usergroups.users.list`` and cached briefly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

CACHE_SECONDS = 60.0
"""How long a group's member list is reused (a policy check at click time asks afresh)."""


class GroupLookupError(Exception):
    """Slack did not tell who is in a user group; ``group`` names it. Checks fail closed."""

    def __init__(self, group: str, error: str) -> None:
        super().__init__(f"cannot read user group {group}: {error}")
        self.group = group
        self.error = error


class GroupDirectory:
    """Which of a set of user groups a Slack user belongs to.

    Uses ``usergroups.users.list`` (scope ``usergroups:read``;
    docs.slack.dev/reference/methods/usergroups.users.list). Thread-safe.
    """

    def __init__(
        self,
        client: WebClient,
        *,
        ttl: float = CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.monotonic = monotonic
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def members(self, group: str, *, fresh: bool = False) -> frozenset[str]:
        """User IDs in ``group`` (from the cache unless ``fresh`` or stale).

        Raises:
            GroupLookupError: Slack refused or could not be reached.
        """
        now = self.monotonic()
        with self._lock:
            cached = self._cache.get(group)
        if cached is not None and not fresh and now - cached[0] < self.ttl:
            return cached[1]
        try:
            response = self.client.usergroups_users_list(usergroup=group)
        except SlackClientError as error:
            code = getattr(getattr(error, "response", None), "get", lambda _k: None)("error")
            raise GroupLookupError(group, str(code or type(error).__name__)) from error
        users = response.get("users") or []
        found = frozenset(str(user) for user in users if isinstance(user, str))
        with self._lock:
            self._cache[group] = (now, found)
        return found

    def groups_of(
        self, user_id: str, groups: Iterable[str], *, fresh: bool = False
    ) -> frozenset[str]:
        """The subset of ``groups`` that ``user_id`` belongs to.

        Raises:
            GroupLookupError: a group could not be read (the caller refuses: fail closed).
        """
        return frozenset(group for group in groups if user_id in self.members(group, fresh=fresh))
