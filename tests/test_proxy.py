"""Outbound calls honour the proxy variables, as the README's reverse-proxy section says:
slack_sdk (auth.test, every Web API call, response URLs) and httpx (Coveo)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import SIGNING_SECRET
from cryptography.fernet import Fernet

from bot.cli import main
from bot.coveo import make_http_client


class _RecordingProxy(BaseHTTPRequestHandler):
    """A forward proxy that answers itself: records the absolute URL of each request."""

    seen: list[str] = []

    def _answer(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"ok": True, "user": "bot", "team": "Proxied", "team_id": "T1"})
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    _RecordingProxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", url)
    monkeypatch.setenv("HTTP_PROXY", url)
    try:
        yield _RecordingProxy.seen
    finally:
        server.shutdown()
        server.server_close()


def test_slack_calls_go_through_https_proxy(
    proxy: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-test-not-a-real-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": "http://slack.example.test/api/",
        "DELETE_ORG_DB": str(tmp_path / "bot.db"),
        "DELETE_ORG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    assert main(["check-config", "--online"], environ=environ) == 0, capsys.readouterr().err
    assert proxy == ["POST http://slack.example.test/api/auth.test"]
    assert "workspace Proxied" in capsys.readouterr().out


def test_coveo_calls_go_through_the_proxy_variables(proxy: list[str]) -> None:
    with make_http_client() as client:
        client.get("http://platform.example.test/rest/organizations/acme1")
    assert proxy == ["GET http://platform.example.test/rest/organizations/acme1"]
