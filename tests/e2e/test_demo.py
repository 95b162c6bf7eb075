"""``delete-org-bot demo`` as a real process: the whole scripted story, offline, in seconds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_tells_the_whole_story_and_exits_0_quickly() -> None:
    env = dict(os.environ)
    # A dead proxy: the demo must reach its loopback fakes directly, and nothing else.
    env.update(
        HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", PYTHONIOENCODING="utf-8"
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert elapsed < 30, elapsed
    assert "▶ alice links her Coveo account with Sign in with Coveo" in out
    assert (
        "the browser shows: Linked as alice@example.com (region US), you can close this tab" in out
    )
    assert "Linked as alice@example.com (region US)" in out
    assert "`204 No Content` — organization *Example Production (US)*" in out
    assert "HTTP 403 `ACCESS_DENIED`" in out and "*Organization - Edit* privilege" in out
    assert "▶ alice opens the app's Home tab" in out
    assert "Your last requests" in out and "`exampleprodus4k7q2m`" in out
    assert "Linked as bob@example.com (region US)" in out
    assert "Expired — nothing was deleted" in out
    assert re.search(r"\[(\d+)\] Confirm deletion \(danger\)   \[\d+\] Cancel", out)
    # the story is told in order
    assert out.index("204 No Content") < out.index("HTTP 403") < out.index("Expired — nothing")
    last = out.strip().splitlines()[-1]
    assert last.startswith("✔ Demo finished in") and "1 organization deleted (204)" in last
    assert "1 refused by Coveo (403)" in last and "1 card expired" in last
    assert "received 2 DELETE requests" in last
    assert "Traceback" not in result.stderr
