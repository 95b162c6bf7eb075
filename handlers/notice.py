"""A progress notice that is sent only when the work it announces turns out to be slow."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType


class DelayedNotice:
    """``with DelayedNotice(send, delay):`` runs ``send()`` if the block is still running after
    ``delay`` seconds (at once when ``delay`` is 0), at most once, and never after the block.

    Whatever the caller says after the block comes after the notice: leaving the block waits
    for a notice being sent. A fast block sends nothing, so a quick answer is not preceded by
    a "working on it" message, and no extra Slack call competes with acks under load.
    ``send`` must not raise: it runs on a timer thread, where an error would only reach
    ``threading.excepthook`` (logged to stderr), not the caller.
    """

    def __init__(self, send: Callable[[], None], delay: float) -> None:
        self._send = send
        self._delay = delay
        self._lock = threading.Lock()
        self._done = False
        self._timer: threading.Timer | None = None
        self.sent = False
        """True once the notice was sent."""

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.sent = True
            self._send()

    def __enter__(self) -> DelayedNotice:
        if self._delay <= 0:
            self._fire()
        else:
            self._timer = threading.Timer(self._delay, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:  # waits for a notice being sent right now
            self._done = True
