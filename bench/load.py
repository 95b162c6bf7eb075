"""Load generation over loopback HTTP: Slack-signed requests sent in simultaneous bursts.

Every request is a new ``http.client`` connection (as Slack's requests are), signed with
``bot.emulator.slack.sign_request``. ``burst`` releases all requests of a burst at once with a
barrier and records, per request, ``time.monotonic()`` at send (comparable with FakeCoveo's
``RecordedRequest.at``), ``time.time()`` at send (comparable with FakeSlack's ``ApiCall.at``),
the latency to the complete answer and its status.
"""

from __future__ import annotations

import http.client
import math
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.emulator.slack import FakeSlack, sign_request

EVENTS_PATH = "/slack/events"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Sent:
    """One request's fate. ``status`` is None when no HTTP answer came (``error`` says why)."""

    key: str
    status: int | None
    error: str | None
    sent_mono: float
    sent_wall: float
    latency: float

    @property
    def ok(self) -> bool:
        """A 200 answer."""
        return self.status == 200


def signed_headers(secret: str, body: bytes) -> dict[str, str]:
    """Slack's request headers for ``body``, signed now."""
    ts = str(int(time.time()))
    return {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign_request(secret, ts, body),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


def post(port: int, secret: str, body: bytes, *, key: str = "", timeout: float = 10.0) -> Sent:
    """POST one signed body to the app on 127.0.0.1:``port``; never raises for network errors."""
    headers = signed_headers(secret, body)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    sent_wall = time.time()
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        conn.request("POST", EVENTS_PATH, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        error = type(exc).__name__
    finally:
        conn.close()
    return Sent(key, status, error, started, sent_wall, time.monotonic() - started)


def burst(
    port: int, secret: str, bodies: Sequence[tuple[str, bytes]], *, timeout: float = 10.0
) -> list[Sent]:
    """Send every ``(key, body)`` at the same moment from its own thread; results in order."""
    results: list[Sent | None] = [None] * len(bodies)
    barrier = threading.Barrier(len(bodies) + 1)

    def one(index: int, key: str, body: bytes) -> None:
        try:
            barrier.wait(30)
        except threading.BrokenBarrierError:
            return
        results[index] = post(port, secret, body, key=key, timeout=timeout)

    threads = [
        threading.Thread(target=one, args=(i, key, body), name=f"bench-client-{i}", daemon=True)
        for i, (key, body) in enumerate(bodies)
    ]
    for thread in threads:
        thread.start()
    barrier.wait(30)
    for thread in threads:
        thread.join(timeout + 30)
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise RuntimeError(f"{len(missing)} client thread(s) did not finish")
    return [r for r in results if r is not None]


def command_body(fake: FakeSlack, user_id: str, channel_id: str, text: str) -> bytes:
    """The form body Slack sends for ``/delete-org <text>`` typed by ``user_id``.

    Same fields as ``FakeSlack.send_command``, with a fresh response_url and trigger_id issued
    by the fake (so the app's private replies land in it), but without sending it.
    """
    with fake._lock:
        channel = fake._get_channel(channel_id)
        hook = fake._issue_hook("command", user_id, channel_id)
        trigger_id = fake._issue_trigger(user_id)
        name = fake._users.get(user_id, user_id)
    fields = {
        "token": "fake-verification-token",
        "team_id": fake.team_id,
        "team_domain": "fake-team",
        "channel_id": channel_id,
        "channel_name": channel.name,
        "user_id": user_id,
        "user_name": name,
        "command": "/delete-org",
        "text": text,
        "api_app_id": "A0APP00001",
        "is_enterprise_install": "false",
        "response_url": hook.url,
        "trigger_id": trigger_id,
    }
    return urllib.parse.urlencode(fields).encode()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate()`` until truthy or ``timeout`` seconds; True when it became truthy."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
