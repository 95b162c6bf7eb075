"""Usable Coveo tokens for linked users: starting a sign-in, and refreshing an expired token.

Exception tree (what :meth:`Tokens.fresh` raises)::

    TokenProblem
    ├── NeedsRelink          expired without a refresh token, refresh refused, link invalid
    └── RefreshUnavailable   Coveo could not be reached to refresh; the link stays as it was

Refresh happens at most once per use, under the link's refresh lock in the database
(``Store.oauth.claim_refresh``): of two clicks at once, in one process or two, one refreshes
and the other waits for it and uses the new token.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.coveo import CoveoError
from bot.coveo_oauth import CoveoOAuth, GrantRefused
from bot.logfields import log_fields
from storage import Link, Store

logger = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(seconds=30)
"""A refreshable token this close to its expiry is refreshed before use (a call takes a few
seconds at most), so it cannot expire between the check and Coveo's answer."""
LOCK_LEASE_SECONDS = 20.0
"""How long a refresh lock holds; a holder that died frees it after this (a token request
times out after ~13 s)."""
WAIT_POLL_SECONDS = 0.05


class TokenProblem(Exception):
    """The link's token cannot be used now."""


class NeedsRelink(TokenProblem):
    """The user must link again (sign in again); ``reason`` is for the audit log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RefreshUnavailable(TokenProblem):
    """The token expired and Coveo could not be reached to refresh it; nothing changed."""


class Tokens:
    """Starts sign-ins and keeps tokens fresh.

    ``oauth`` is None when no OAuth client is configured (then links are pasted tokens and an
    expired token means relinking). ``clock`` returns aware UTC; ``sleep`` waits (seconds).
    """

    def __init__(
        self,
        store: Store,
        oauth: CoveoOAuth | None,
        clock: Callable[[], datetime],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.oauth = oauth
        self.clock = clock
        self._sleep = sleep

    @property
    def sign_in_enabled(self) -> bool:
        """True when **Sign in with Coveo** is offered (an OAuth client is configured)."""
        return self.oauth is not None

    def start_sign_in(
        self,
        *,
        workspace: str,
        team_id: str | None,
        user_id: str,
        region: str,
        channel_id: str,
        response_url: str | None,
    ) -> tuple[str, datetime]:
        """Create a single-use state bound to (workspace, user, region) and return
        ``(authorize_url, expires_at)`` (the state expires after 10 minutes).

        Raises:
            RuntimeError: no OAuth client is configured.
            ValueError: unknown region.
        """
        if self.oauth is None:
            raise RuntimeError("Sign in with Coveo is not configured")
        state, expires_at = self.store.oauth.create_state(
            workspace=workspace,
            team_id=team_id,
            user_id=user_id,
            region=region,
            channel_id=channel_id,
            response_url=response_url,
            now=self.clock(),
        )
        return self.oauth.authorize_url(region, state), expires_at

    def fresh(self, link: Link) -> Link:
        """Return ``link`` with a token usable now: as it is while unexpired; refreshed (once,
        under the link's lock) when it expired and a refresh token is stored.

        Raises:
            NeedsRelink: the link is invalid, or expired without a refresh token, or Coveo
                refused the refresh (the link is then marked invalid).
            RefreshUnavailable: Coveo could not be reached to refresh (nothing changed).
        """
        if not link.usable:
            raise NeedsRelink("link invalid")
        now = self.clock()
        if not self._expiring(link, now):
            return link
        if not link.refreshable or self.oauth is None:
            if link.expires_at is not None and link.expires_at <= now:
                self.store.mark_link_invalid(link.workspace, link.user_id, now, "expired")
                raise NeedsRelink("expired")
            return link  # close to expiry but not refreshable: use it while it lasts
        owner = uuid.uuid4().hex
        claimed = self.store.oauth.claim_refresh(
            link.workspace,
            link.user_id,
            seen_expires_at=link.expires_at,
            owner=owner,
            now=now,
            lease_seconds=LOCK_LEASE_SECONDS,
        )
        if claimed:
            return self._refresh(link, owner)
        return self._after_other_refresh(link)

    def _expiring(self, link: Link, now: datetime) -> bool:
        if link.expires_at is None:
            return False
        margin = REFRESH_MARGIN if link.refreshable and self.oauth is not None else timedelta(0)
        return link.expires_at <= now + margin

    def _refresh(self, link: Link, owner: str) -> Link:
        assert self.oauth is not None
        oauth_store = self.store.oauth
        refresh_token = oauth_store.read_refresh_token(link.workspace, link.user_id)
        if refresh_token is None:
            oauth_store.refresh_failed(
                link.workspace,
                link.user_id,
                owner=owner,
                now=self.clock(),
                refused=True,
                why="refresh token unreadable",
            )
            raise NeedsRelink("refresh token unreadable")
        try:
            grant = self.oauth.refresh(link.region, refresh_token, self.clock())
        except GrantRefused as error:
            logger.info(
                "refresh refused for %s: HTTP %s",
                link.user_id,
                error.status,
                extra=log_fields("token_refresh_refused", where=link),
            )
            oauth_store.refresh_failed(
                link.workspace,
                link.user_id,
                owner=owner,
                now=self.clock(),
                refused=True,
                why=f"HTTP {error.status} {error.code or ''}".strip(),
            )
            raise NeedsRelink("refresh refused") from error
        except CoveoError as error:
            logger.warning(
                "refresh for %s failed: %s",
                link.user_id,
                type(error).__name__,
                extra=log_fields("token_refresh_failed", where=link),
            )
            oauth_store.refresh_failed(
                link.workspace, link.user_id, owner=owner, now=self.clock(), refused=False, why=""
            )
            raise RefreshUnavailable(type(error).__name__) from error
        assert grant.refresh_token is not None  # CoveoOAuth.refresh keeps the old one
        stored = oauth_store.finish_refresh(
            link.workspace,
            link.user_id,
            owner=owner,
            token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=grant.expires_at,
            now=self.clock(),
        )
        if not stored:  # the lease ran out (or the user unlinked) while Coveo answered
            return self._after_other_refresh(link)
        return self._reread(link)

    def _after_other_refresh(self, seen: Link) -> Link:
        """Someone else holds (or just released) the refresh lock: wait for it, then use what
        they stored. No second refresh is attempted here ("once")."""
        deadline = time.monotonic() + LOCK_LEASE_SECONDS
        while self.store.oauth.refresh_locked(seen.workspace, seen.user_id, self.clock()):
            if time.monotonic() > deadline:
                raise RefreshUnavailable("refresh lock held too long")
            self._sleep(WAIT_POLL_SECONDS)
        current = self._reread(seen)
        if not current.usable:
            raise NeedsRelink("refresh refused")
        if self._expiring(current, self.clock()) and current.expires_at == seen.expires_at:
            raise RefreshUnavailable("token still expired after another refresh attempt")
        return current

    def _reread(self, seen: Link) -> Link:
        current = self.store.get_link(seen.workspace, seen.user_id)
        if current is None:
            raise NeedsRelink("link removed")
        if current.region != seen.region:
            raise NeedsRelink("relinked for another region")
        return current
