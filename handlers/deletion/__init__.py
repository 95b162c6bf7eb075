"""The deletion workflow: preview → confirm or cancel or expire → one DELETE → outcome in thread.

Listeners call into :class:`DeletionFlow` after they have acked; the expiry sweeper calls
:meth:`DeletionFlow.expire_due`. Every state change goes through the store's compare-and-set
transitions, so a double click, a click racing the sweeper, or Confirm racing Cancel, can
never cause a second ``DELETE``.

The steps live in one module each: ``base``, ``requesting``, ``deciding``, ``deleting``
and ``upkeep``; :class:`DeletionFlow` gathers them.
"""

from __future__ import annotations

from handlers.deletion.base import Outcome
from handlers.deletion.deciding import DecisionSteps
from handlers.deletion.requesting import RequestSteps
from handlers.deletion.upkeep import SETTLE_SECONDS, UpkeepSteps

__all__ = ["SETTLE_SECONDS", "DeletionFlow", "Outcome"]


class DeletionFlow(RequestSteps, DecisionSteps, UpkeepSteps):
    """Runs every step of a deletion request. Methods are called after the Slack ack."""
