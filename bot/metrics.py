"""Prometheus metrics of one app: its own registry, the counters and histograms the app feeds,
and the gauges read from the store at scrape time, served at ``GET /metrics``.

Every label value comes from a fixed set written here or in ``bot.metrics_coveo`` /
``bot.metrics_slack`` (outcomes, endpoint templates, status classes, Slack method names and
error codes, listener kinds, link statuses): never a token, an organization ID, or a Slack
user, channel or team ID, so the number of series stays bounded whatever users type.
Naming follows prometheus.io/docs/practices/naming (``_total`` counters, ``_seconds`` units).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric

from bot.server import WsgiApp

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"

OUTCOMES = (
    "deleted",
    "failed",
    "unknown",
    "cancelled",
    "expired",
    "refused",
    "rejected",
    "preview_failed",
)
"""The ``outcome`` label of ``delete_org_requests_total``."""

_AUDIT_OUTCOMES = {
    "deleted": "deleted",
    "failed": "failed",
    "unknown": "unknown",
    "cancelled": "cancelled",  # by the requester, pending or awaiting approval
    "abandoned": "cancelled",  # by the app: the card could not be shown anywhere
    "expired": "expired",
    "approval_expired": "expired",
    "rejected": "rejected",
}
"""Audit event → outcome; the ``refused`` event is told apart by its detail (``outcome_of``)."""

LISTENER_KINDS = ("slash_command", "block_actions", "view_submission", "event", "other")
"""The ``kind`` label of ``delete_org_ack_duration_seconds``."""

LINK_STATUSES = ("active", "invalid")
"""The ``status`` label of ``delete_org_links`` (any other stored status counts as ``other``)."""

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
"""Seconds; Slack gives up on an ack after 3 s (slack-notes §3)."""
COVEO_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
"""Seconds; a Coveo read times out after 10 s, a DELETE may take up to ~15 s."""


def outcome_of(values: dict[str, Any]) -> str | None:
    """The request outcome an audit row records (one of :data:`OUTCOMES`), or None for an
    event that ends nothing (``requested``, ``confirmed``, ``linked`` …). ``values`` holds the
    row's fields (``event``, ``detail`` …, as ``storage.base.AuditListener`` gets them).

    A ``refused`` row whose detail names a policy rule (``rule …``, written by the guard's
    refusals) is ``refused``; the other ``refused`` rows are previews Coveo could not give
    (``preview_failed``: not found, no access, unreachable). ``tests/e2e/test_metrics_flows.py``
    runs both kinds, so a change of that detail's wording shows there."""
    event = values.get("event")
    if event != "refused":
        return _AUDIT_OUTCOMES.get(str(event))
    detail = values.get("detail")
    by_rule = isinstance(detail, str) and detail.startswith("rule ")
    return "refused" if by_rule else "preview_failed"


class StatsSource(Protocol):
    """What the scrape-time gauges read (``storage.stats.StatsStore`` and the freeze)."""

    def outbox_pending(self) -> tuple[int, datetime | None]: ...

    def live_request_count(self) -> int: ...

    def link_counts(self) -> dict[str, int]: ...

    def freeze_state(self) -> tuple[str, str | None, datetime] | None: ...


class StoreCollector:
    """Gauges read from the store at each scrape (a few COUNT queries): outbox depth and the
    age of its oldest pending delivery, live requests, links by status, the freeze.

    A failed read (``sqlite3.Error``: locked past the busy timeout, disk error; ``ValueError``:
    a stored time that cannot be parsed) is logged and counted in ``scrape_errors``; that
    scrape then has no store gauges, and still answers 200 with every other metric. ``clock``
    gives now (aware UTC) for the age."""

    def __init__(
        self, store: StatsSource, clock: Callable[[], datetime], scrape_errors: Counter
    ) -> None:
        self._store = store
        self._clock = clock
        self._errors = scrape_errors

    def describe(self) -> Iterable[Metric]:
        """The families without values (the registry checks names without a query)."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """Query the store and return the gauges (nothing when the store cannot be read)."""
        try:
            pending, oldest = self._store.outbox_pending()
            live = self._store.live_request_count()
            links = self._store.link_counts()
            frozen = self._store.freeze_state() is not None
        except (sqlite3.Error, ValueError) as error:  # ValueError: an unreadable stored time
            logger.warning("metrics: could not read the store: %s: %s", type(error).__name__, error)
            self._errors.inc()
            return []
        age = max(0.0, (self._clock() - oldest).total_seconds()) if oldest else 0.0
        by_status = {status: 0 for status in LINK_STATUSES}
        for status, count in links.items():
            key = status if status in by_status else "other"
            by_status[key] = by_status.get(key, 0) + count
        return self._families(
            pending=pending, age=age, live=live, links=by_status, frozen=int(frozen)
        )

    @staticmethod
    def _families(
        *,
        pending: int | None = None,
        age: float | None = None,
        live: int | None = None,
        links: dict[str, int] | None = None,
        frozen: int | None = None,
    ) -> list[Metric]:
        def gauge(name: str, documentation: str, value: float | None) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, documentation, value=value)

        link_family = GaugeMetricFamily(
            "delete_org_links", "Linked Coveo accounts by status.", labels=["status"]
        )
        for status, count in (links or {}).items():
            link_family.add_metric([status], count)
        return [
            gauge(
                "delete_org_outbox_pending",
                "Slack deliveries (card updates, thread replies) waiting in the outbox.",
                pending,
            ),
            gauge(
                "delete_org_outbox_oldest_pending_age_seconds",
                "Age of the oldest delivery waiting in the outbox (0 when none waits).",
                age,
            ),
            gauge(
                "delete_org_live_requests",
                "Live requests (pending, awaiting approval, deleting): cards that can change.",
                live,
            ),
            link_family,
            gauge("delete_org_frozen", "1 while deletions are frozen, else 0.", frozen),
        ]


class Metrics:
    """One app's metrics in its own ``CollectorRegistry`` (never the process-wide default, so
    several apps in one process keep apart). Feed it through :meth:`on_audit`,
    :meth:`observe_ack`, :meth:`observe_coveo` and :meth:`count_slack`; call
    :meth:`watch_store` once the store exists; serve :meth:`wsgi_app` at :data:`METRICS_PATH`.
    ``version`` is the build's version (``delete_org_build_info``)."""

    def __init__(self, *, version: str) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "delete_org_requests_total",
            "Deletion requests by outcome (refused: by a policy rule; see the README).",
            ["outcome"],
            registry=registry,
        )
        self.coveo_calls = Counter(
            "delete_org_coveo_requests_total",
            "HTTP requests to Coveo by endpoint template and status class.",
            ["endpoint", "status_class"],
            registry=registry,
        )
        self.coveo_seconds = Histogram(
            "delete_org_coveo_request_duration_seconds",
            "Time from sending a Coveo request to its response headers (or its failure).",
            ["endpoint"],
            buckets=COVEO_BUCKETS,
            registry=registry,
        )
        self.slack_calls = Counter(
            "delete_org_slack_api_calls_total",
            "Slack Web API call attempts by method and result (ok or Slack's error code).",
            ["method", "result"],
            registry=registry,
        )
        self.ack_seconds = Histogram(
            "delete_org_ack_duration_seconds",
            "Time from a Slack request reaching the app to its acknowledgement, by listener kind.",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=registry,
        )
        Info("delete_org_build", "The running build.", registry=registry).info({"version": version})
        # Registered only with the store collector, after it: a failed read counts in the
        # same scrape's output.
        self.scrape_errors = Counter(
            "delete_org_scrape_errors_total",
            "Scrapes whose store gauges could not be read (see the log).",
            registry=None,
        )
        for outcome in OUTCOMES:  # every series from 0: rate() and the tests see the first one
            self.requests.labels(outcome)
        for kind in LISTENER_KINDS:
            self.ack_seconds.labels(kind)

    def watch_store(self, store: StatsSource, clock: Callable[[], datetime]) -> None:
        """Add the scrape-time store gauges (call once)."""
        self.registry.register(StoreCollector(store, clock, self.scrape_errors))
        self.registry.register(self.scrape_errors)

    def on_audit(self, values: dict[str, Any]) -> None:
        """``Store(on_audit=…)``: count the outcome a committed audit row records, if any."""
        outcome = outcome_of(values)
        if outcome is not None:
            self.requests.labels(outcome).inc()

    def observe_ack(self, kind: str, seconds: float) -> None:
        """One acknowledged Slack request of listener ``kind`` (:data:`LISTENER_KINDS`)."""
        self.ack_seconds.labels(kind if kind in LISTENER_KINDS else "other").observe(seconds)

    def observe_coveo(self, endpoint: str, status_class: str, seconds: float) -> None:
        """One Coveo HTTP request (``bot.metrics_coveo`` gives the bounded label values)."""
        self.coveo_calls.labels(endpoint, status_class).inc()
        self.coveo_seconds.labels(endpoint).observe(seconds)

    def count_slack(self, method: str, result: str) -> None:
        """One Slack Web API attempt (``bot.metrics_slack`` gives the bounded label values)."""
        self.slack_calls.labels(method, result).inc()

    def wsgi_app(self) -> WsgiApp:
        """The WSGI handler of ``GET /metrics`` (text exposition format, or OpenMetrics when
        the scraper asks for it; prometheus_client's ``make_wsgi_app``)."""
        app: WsgiApp = make_wsgi_app(self.registry)
        return app
