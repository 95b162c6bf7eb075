"""``GET /readyz``: whether this process can serve traffic now (database, schema, Slack).

``/healthz`` stays liveness only (the process answers HTTP); ``/readyz`` is for a load
balancer or Kubernetes readiness probe: 200 only when every check passes, else 503, with a
small JSON body naming each check (no secret, no path, no SQLite message)::

    {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "slack_auth": "ok"}}
    {"status": "not ready", "failed": ["database"], "checks": {"database": "unavailable", ...}}
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.logfields import log_fields
from bot.server import StartResponse
from storage import SchemaStatus, StoreUnavailable

logger = logging.getLogger(__name__)

READY_PATH = "/readyz"
OK = "ok"


class SchemaCheck(Protocol):
    """What readiness needs from the store: its one database check."""

    def schema_status(self) -> SchemaStatus:
        """The migration steps applied and pending; raises ``StoreUnavailable``."""
        ...


@dataclass(frozen=True)
class Report:
    """The answer of one probe: ``checks`` maps ``database``, ``migrations`` and
    ``slack_auth`` to ``"ok"`` or a short reason; ``detail`` is SQLite's own reason when the
    database could not be read (for the log only: it may name internals)."""

    checks: dict[str, str]
    detail: str | None = None

    @property
    def failed(self) -> list[str]:
        """The checks that did not pass, in order."""
        return [name for name, value in self.checks.items() if value != OK]

    def body(self) -> dict[str, Any]:
        """The JSON body of ``/readyz``."""
        body: dict[str, Any] = {"status": "not ready" if self.failed else "ready"}
        if self.failed:
            body["failed"] = self.failed
        body["checks"] = self.checks
        return body


def evaluate(store: SchemaCheck, *, slack_auth_passed: bool) -> Report:
    """Run the checks: ``database`` (``"unavailable"``), ``migrations`` (``"N pending"``;
    ``"unknown"`` when the database could not be read) and ``slack_auth`` (Slack's
    ``auth.test`` at start, docs.slack.dev/reference/methods/auth.test)."""
    checks = {"database": OK, "migrations": OK, "slack_auth": OK}
    detail = None
    try:
        status = store.schema_status()
    except StoreUnavailable as error:
        checks["database"] = "unavailable"
        checks["migrations"] = "unknown"
        detail = str(error)
    else:
        if not status.current:
            checks["migrations"] = f"{len(status.pending)} pending"
    if not slack_auth_passed:
        checks["slack_auth"] = "failed at start"
    return Report(checks, detail)


class Readiness:
    """The WSGI handler of ``GET /readyz`` over ``store`` (each probe checks the database
    afresh) and the start-up result of Slack's ``auth.test``. A change of the answer is
    logged once (WARNING when it becomes not ready, with SQLite's reason), not every probe."""

    def __init__(self, store: SchemaCheck, *, slack_auth_passed: bool) -> None:
        self.store = store
        self.slack_auth_passed = slack_auth_passed
        self._last_failed: list[str] | None = None
        self._lock = threading.Lock()

    def check(self) -> Report:
        """Probe now, logging a change of the answer."""
        report = evaluate(self.store, slack_auth_passed=self.slack_auth_passed)
        failed = report.failed
        with self._lock:
            changed, self._last_failed = failed != self._last_failed, failed
        if changed and failed:
            logger.warning(
                "not ready: %s%s",
                ", ".join(f"{name} {report.checks[name]}" for name in failed),
                f" ({report.detail})" if report.detail else "",
                extra=log_fields("not_ready"),
            )
        elif changed:
            logger.info("ready", extra=log_fields("became_ready"))
        return report

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        report = self.check()
        status = "503 Service Unavailable" if report.failed else "200 OK"
        start_response(
            status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        )
        return [json.dumps(report.body()).encode()]
