"""Background expiry sweeper: turns cards whose deadline passed into "Expired" within 30 s."""

from __future__ import annotations

import logging
import threading

from handlers.deletion import DeletionFlow

logger = logging.getLogger(__name__)


class Sweeper:
    """Runs :meth:`DeletionFlow.expire_due` every ``interval`` seconds on a daemon thread.

    Expiry is enforced at click time from the stored deadline anyway; the sweeper only makes
    the card and the thread say so without anyone clicking.
    """

    def __init__(self, flow: DeletionFlow, interval: float) -> None:
        self.flow = flow
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """One pass; returns how many requests it expired."""
        return self.flow.expire_due()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a background loop must survive; the traceback is logged
                logger.exception("expiry sweep failed; retrying in %s s", self.interval)
            self._stop.wait(self.interval)

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="expiry-sweeper", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
