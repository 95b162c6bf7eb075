"""How long a store operation may wait for the database: the long wait of background work, or
the short one of work that must answer Slack within 3 seconds (an "ack path").

Slack waits 3 s for the ack of a slash command, a click or a view submission, and a
``trigger_id`` works for 3 s (api.slack.com/interactivity/handling#acknowledgment_response,
api.slack.com/surfaces/modals#opening). Work that answers within those 3 s runs inside
:func:`ack_path`; there every wait of the PostgreSQL backend for a pooled connection ends
:data:`ACK_PATH_WAIT_SECONDS` after the ack path began (each one at least
:data:`MIN_WAIT_SECONDS`, so an idle connection is still taken), and then the operation raises
``StoreUnavailable``: the listener answers in time with a clear message instead of letting
Slack show its own "trouble connecting". Everything else (lazy listeners, the sweeper, the
outbox, start-up, shutdown) keeps the backend's long wait (``POOL_WAIT_SECONDS``), long enough
for a short server restart to pass unnoticed.

The ack path is a context variable, so it holds for the thread (or task) that entered it and
for nothing started from there on other threads (Bolt's lazy listeners run on the listener
pool, outside it). Entered twice (Socket Mode's envelope claim around the Bolt dispatch), the
outer one's deadline holds. SQLite ignores it: its waits are lock contention among writers
(``BUSY_TIMEOUT_SECONDS``), not a lost server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from time import monotonic

ACK_PATH_WAIT_SECONDS = 1.5
"""Seconds after an ack path began by which its waits for a database connection end."""
MIN_WAIT_SECONDS = 0.2
"""Seconds any wait on an ack path lasts at least (past the deadline too): enough to take an
idle connection or open one to a server that answers, far too little for a lost one."""

_deadline: ContextVar[float | None] = ContextVar("delete_org_ack_path_deadline", default=None)


@contextmanager
def ack_path(seconds: float = ACK_PATH_WAIT_SECONDS) -> Iterator[None]:
    """Run the block as work that must answer Slack within 3 s: its database waits end
    ``seconds`` after now (``time.monotonic``), or by the deadline of an enclosing ack path."""
    if _deadline.get() is not None:
        yield
        return
    token = _deadline.set(monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def on_ack_path() -> bool:
    """True inside :func:`ack_path`."""
    return _deadline.get() is not None


def connection_wait(default: float) -> float:
    """Seconds the next wait for a database connection may last: ``default`` off an ack
    path; on one, what is left until its deadline, at least :data:`MIN_WAIT_SECONDS` and at
    most ``default``."""
    deadline = _deadline.get()
    if deadline is None:
        return default
    return min(default, max(deadline - monotonic(), MIN_WAIT_SECONDS))
