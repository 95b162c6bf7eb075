"""Counting and timing every Coveo HTTP request made through the app's ``httpx.Client``, with a
transport wrapper (it sees answers and failures alike; httpx's event hooks miss failures).

Label values are bounded: the endpoint is a fixed template (``GET /rest/organizations/{id}``,
never the ID) or ``other``; the status class is ``1xx`` … ``5xx`` or ``error`` (no answer:
connection refused, timeout, network error)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx

ERROR = "error"
"""The status class of a request that got no answer."""
OTHER = "other"
"""The endpoint of a request matching no template."""

ENDPOINTS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"/oauth/check_token\Z"), "POST /oauth/check_token"),
    ("POST", re.compile(r"/oauth/token\Z"), "POST /oauth/token"),
    ("GET", re.compile(r"/rest/organizations/[^/]+\Z"), "GET /rest/organizations/{id}"),
    ("DELETE", re.compile(r"/rest/organizations/[^/]+\Z"), "DELETE /rest/organizations/{id}"),
)
"""``(method, path pattern, template)`` of each call ``bot.coveo`` and ``bot.coveo_oauth`` make
(docs.coveo.com/en/mcc80216, /en/22; the patterns match the end of the path, so a
``COVEO_PLATFORM_URL`` with a path prefix still matches)."""

Observe = Callable[[str, str, float], None]
"""``(endpoint, status_class, seconds)`` of one request."""


def endpoint_of(request: httpx.Request) -> str:
    """The template of ``request``'s method and path (see :data:`ENDPOINTS`), else ``other``.
    Matched on the path as sent (percent-encoded), where an ID is always one segment."""
    path = request.url.raw_path.decode("ascii", "replace").split("?", 1)[0]
    for method, pattern, template in ENDPOINTS:
        if request.method == method and pattern.search(path):
            return template
    return OTHER


def status_class(status: int) -> str:
    """``2xx`` for 200-299 and so on; ``error`` for a status outside 100-599."""
    return f"{status // 100}xx" if 100 <= status <= 599 else ERROR


class MeteredTransport(httpx.BaseTransport):
    """Wraps a transport: each request is timed (``time.perf_counter``, seconds, to the
    response headers or the failure) and reported to ``observe``; responses and exceptions
    pass through unchanged."""

    def __init__(self, inner: httpx.BaseTransport, observe: Observe) -> None:
        self.inner = inner
        self._observe = observe

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the wrapped transport and report the outcome."""
        endpoint = endpoint_of(request)
        started = time.perf_counter()
        try:
            response = self.inner.handle_request(request)
        except httpx.HTTPError:
            self._observe(endpoint, ERROR, time.perf_counter() - started)
            raise
        self._observe(endpoint, status_class(response.status_code), time.perf_counter() - started)
        return response

    def close(self) -> None:
        """Close the wrapped transport."""
        self.inner.close()


def instrument(client: httpx.Client, observe: Observe) -> None:
    """Make every request of ``client`` (built by ``bot.coveo.make_http_client`` or injected
    by a test) go through :class:`MeteredTransport`, including proxy mounts; a client already
    instrumented is left as it is.

    httpx has no public way to wrap an existing client's transport, so this replaces its
    ``_transport`` and ``_mounts`` (stable since httpx 0.18; checked by ``tests/test_metrics``).
    """
    current = client._transport  # noqa: SLF001
    if isinstance(current, MeteredTransport):
        return
    client._transport = MeteredTransport(current, observe)  # noqa: SLF001
    client._mounts = {  # noqa: SLF001
        pattern: MeteredTransport(transport, observe) if transport is not None else None
        for pattern, transport in client._mounts.items()  # noqa: SLF001
    }
