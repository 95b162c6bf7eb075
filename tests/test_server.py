"""The HTTP server's routing: /healthz, extra routes, and /slack/events only in HTTP mode."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from bot.server import Route, ServerThread, make_http_server


def _hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"hello {environ.get('QUERY_STRING', '')}".encode()]


def test_socket_mode_server_serves_health_and_routes_but_no_slack_events() -> None:
    server = ServerThread(
        make_http_server(None, "127.0.0.1", 0, [Route("GET", "/hello", _hello)])
    ).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/healthz").text == "ok"
        assert httpx.get(f"{base}/hello?x=1").text == "hello x=1"
        assert httpx.post(f"{base}/hello").status_code == 404
        assert httpx.post(f"{base}/slack/events", content=b"command=x").status_code == 404
    finally:
        server.stop()


def test_the_server_keeps_serving_when_its_descriptors_pass_1024() -> None:
    """A busy app holds many descriptors (a socket per request, Coveo and database
    connections): waitress's default select() loop dies past descriptor 1023 ("filedescriptor
    out of range in select()", seen in bench part 1 at 200 requests); its poll() loop does not."""
    import os
    import resource

    import pytest

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 1300
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"the descriptor limit ({hard}) is too low for this test")
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        server = ServerThread(make_http_server(None, "127.0.0.1", 0)).start()
        try:
            for _ in range(3):
                assert httpx.get(f"http://127.0.0.1:{server.port}/healthz").text == "ok"
        finally:
            server.stop()
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
