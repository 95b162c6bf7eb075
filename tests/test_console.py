"""``delete-org-bot console`` as a real process: through a pseudo-terminal, and through a pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parent.parent
PROD = "exampleprodus4k7q2m"

# ptyprocess forks; Python 3.12+ warns about fork() in a process that has threads.
pytestmark = pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONIOENCODING="utf-8", TERM="dumb")
    return env


def test_console_in_a_terminal_links_requests_confirms_and_quits() -> None:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "bot", "console", "--user", "U0ALICE0001"],
        cwd=str(ROOT),
        env=_env(),
        encoding="utf-8",
        timeout=15,
        dimensions=(50, 200),
    )
    try:
        child.expect_exact("You are @alice in #general")
        child.expect_exact("alice> ")
        child.sendline("/delete-org link")  # Sign in with Coveo: the region first
        child.expect_exact("[1] US   [2] EU")
        child.expect_exact("alice> ")
        child.sendline(":click 1")
        child.expect_exact("[7] Sign in with Coveo (primary)")
        child.expect_exact("alice> ")
        child.sendline(":open 7 1")  # the fake Coveo's page: "Sign in as alice@example.com"
        child.expect_exact("Linked as alice@example.com (region US), you can close this tab.")
        child.expect_exact("alice> ")
        child.sendline(f"/delete-org {PROD}")
        child.expect_exact("[9] Confirm deletion (danger)   [10] Cancel")
        child.expect_exact("alice> ")
        child.sendline(":click 9")
        child.expect_exact("Slack asks: Delete this organization?")
        # a production organization: the built-in policy asks to type its ID
        child.expect_exact("(1) Type the organization ID to confirm: ________")
        child.expect_exact("alice> ")
        child.sendline(f":fill 1 {PROD}")
        child.expect_exact("alice> ")
        child.sendline(":submit")
        child.expect_exact("`204 No Content` — organization *Example Production (US)*")
        child.expect_exact("alice> ")
        child.sendline(":quit")
        child.expect_exact("Bye.")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before


def test_console_reads_a_script_from_a_pipe_and_exits_0_at_end_of_input() -> None:
    script = "\n".join(
        [
            ":help",
            ":tokens",
            "/delete-org link",
            ":click 6",  # Paste a token instead
            ":fill 1 viewer_us",
            ":select 2 us",
            ":submit",
            "/delete-org examplesandboxus2r9t5w",
            ":user alice",
            ":click 1",  # alice sees bob's card but cannot confirm it
            ":user U0BOB000001",
            ":click 7",
            ":click 99",
            ":bogus",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--user", "bob"],
        cwd=ROOT,
        env=_env(),
        input=script,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=30,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "bob> /delete-org link" in out  # piped input is echoed after the prompt
    assert ":fill N <value>" in out  # :help
    assert "viewer_us    US     views every US org; deletes none" in out  # :tokens
    assert "Linked as bob@example.com (region US)" in out
    assert "You are now @alice (U0ALICE0001)." in out
    assert "Only @bob can confirm or cancel this deletion." in out
    assert "HTTP 403 `ACCESS_DENIED`" in out and "*Organization - Edit* privilege" in out
    assert "there is no button [99]" in out
    assert "Unknown command :bogus" in out
    assert out.rstrip().endswith("Bye.")


def test_console_refuses_an_unknown_user_name() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--user", "mallory"],
        cwd=ROOT,
        env=_env(),
        input="",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown user 'mallory'" in result.stderr
