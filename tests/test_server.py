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
