"""The one rule that decides whether a Slack ``response_url`` can still carry a message.

Slack keeps a ``response_url`` about **30 minutes** and accepts at most **5 posts** through it;
a dead one answers an HTTP error (404 ``expired_url`` / ``used_url``), not ``ok: false`` JSON
(slack-notes §1 "response_url limits" [I, well corroborated], §4 ``respond()`` does not raise on
a 404). Where the app is not in the channel, a card posted through the command's
``response_url`` can only be changed through that URL or a click's, so every message of the
card (notices, the card, its updates, the outcome) spends one of those 5 posts and must be sent
before the 30 minutes are over. :func:`usable` is the rule every sender asks; the other
functions plan with the same numbers.

All times are aware UTC (``bot.clock``); durations are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

LIFETIME_SECONDS = 30 * 60
"""How long Slack keeps a response_url after issuing it (slack-notes §1: about 30 minutes)."""
MAX_USES = 5
"""How many posts Slack accepts through one response_url (slack-notes §1: 5)."""
ISSUE_MARGIN_SECONDS = 30
"""Slack made the URL a little before the app received it (its 3 s delivery, clock skew): the
URL is treated as dead this much earlier than ``received_at + LIFETIME_SECONDS``."""
RETRY_ALLOWANCE_SECONDS = 60
"""Room left after a card's deadline for the outbox's first retries of its expiry messages
(backoff 2 + 4 + 8 + 16 + 32 s, ``handlers.outbox.backoff``) before the URL dies."""
OUTCOME_USES = 2
"""Posts a card's end needs: the final card and the thread reply. A private message never
takes one of the last ``OUTCOME_USES`` posts, so the card's end always has them."""


@dataclass(frozen=True)
class UrlBudget:
    """What is left of one response_url: ``received_at`` (aware UTC, when the app got it from
    Slack) and ``uses`` (posts the app already made through it)."""

    received_at: datetime
    uses: int

    @property
    def dies_at(self) -> datetime:
        """The moment from which the URL is treated as dead (aware UTC)."""
        return self.received_at + timedelta(seconds=LIFETIME_SECONDS - ISSUE_MARGIN_SECONDS)


def usable(budget: UrlBudget, at: datetime, *, private: bool = False) -> bool:
    """Whether one more post through the URL of ``budget`` sent at ``at`` will be accepted.

    ``private`` is True for a private (ephemeral) message: it may not take one of the last
    :data:`OUTCOME_USES` posts, which stay for the card's final update and outcome.
    """
    reserve = OUTCOME_USES if private else 0
    return at < budget.dies_at and budget.uses + 1 + reserve <= MAX_USES


def why_unusable(budget: UrlBudget, *, private: bool = False, posts: int = 1) -> str:
    """The error code of a refused message of ``posts`` posts (a private one keeping the last
    :data:`OUTCOME_USES`): ``response_url_used_up`` when the URL has too few posts left for
    it, else ``response_url_expired`` (not enough time left)."""
    reserve = OUTCOME_USES if private else 0
    if budget.uses + posts + reserve > MAX_USES:
        return "response_url_used_up"
    return "response_url_expired"


def capped_timeout(
    requested: int, budget: UrlBudget, now: datetime, sweep_interval: int, *, posts_before: int = 1
) -> int:
    """Seconds a card posted through the URL of ``budget`` at ``now`` may stay confirmable
    (or, with ``posts_before=2``, wait for a second approver after the card update and thread
    line that say so).

    Its expiry messages are sent up to ``sweep_interval`` seconds after the deadline (the
    sweeper's pass) and maybe retried for :data:`RETRY_ALLOWANCE_SECONDS`; all of that must
    happen before :attr:`UrlBudget.dies_at`. The result is ``requested`` when that already
    fits, else the largest whole number of minutes that does (at least 0). It is 0 when the
    URL has no room left for the ``posts_before`` posts and the :data:`OUTCOME_USES` after them.
    """
    if budget.uses + posts_before + OUTCOME_USES > MAX_USES:
        return 0
    room = budget.dies_at - now - timedelta(seconds=sweep_interval + RETRY_ALLOWANCE_SECONDS)
    latest = int(room.total_seconds())
    if requested <= latest:
        return requested
    return max(0, latest // 60 * 60)
