"""``delete-org-bot console`` as a real process: through a pseudo-terminal, and through a pipe."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
        child.expect_exact("[1.1] US   [1.2] EU")
        child.expect_exact("alice> ")
        child.sendline(":click 1")
        child.expect_exact("[2.1] Sign in with Coveo (primary)")
        child.expect_exact("alice> ")
        child.sendline(":open 2.1 1")  # the fake Coveo's page: "Sign in as alice@example.com"
        child.expect_exact("Linked as alice@example.com (region US), you can close this tab.")
        child.expect_exact("alice> ")
        child.sendline(f"/delete-org {PROD}")
        child.expect_exact("[3.1] Confirm deletion (danger)   [3.2] Cancel")
        child.expect_exact("alice> ")
        child.sendline(":click 1")
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
            ":click 1",
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


def _readme_console_block() -> str:
    """The example session of the README's "Try it in one minute" section, prompts removed."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("`console` is a prompt")
    block = readme[readme.index("```text\n", start) + len("```text\n") :]
    block = block[: block.index("```")]
    lines = [line.split("> ", 1)[1] for line in block.splitlines() if "> " in line]
    assert any("#" in line for line in lines), "the README block has its comments"
    return "\n".join(lines) + "\n"


def test_the_readme_console_block_runs_as_a_piped_script() -> None:
    """The README's lines, comments included, piped into the installed console script."""
    script = Path(sys.executable).with_name("delete-org-bot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    result = subprocess.run(
        [*command, "console"],
        cwd=ROOT,
        env=_env(),
        input=_readme_console_block(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Linked as alice@example.com (region US)" in out
    assert "[3.1] Confirm deletion (danger)   [3.2] Cancel" in out  # as the README says
    assert "`204 No Content`" in out
    assert "── App Home ──" in out and "*deleted*" in out  # :home lists the deleted org
    assert 'GET /readyz → 200 {"status": "ready"' in out  # :metrics outcome
    assert 'delete_org_requests_total{outcome="deleted"} 1.0' in out
    assert "audit chain OK:" in out  # :audit verify
    assert "You are now @bob" in out
    assert "Unknown command" not in out and "! " not in out
    # The comments were not sent as command text (no unknown command, no token warning).
    assert "Unknown command" not in out and "consider it exposed" not in out
    assert out.rstrip().endswith("Bye.")


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("/delete-org link                 # opens the form", "/delete-org link"),
        ("# a whole-line comment", ""),
        ("hello #general", "hello #general"),
        ("/delete-org https://platform.cloud.coveo.com/admin/#/org1/x", None),
        (":fill 1 exampleprodus4k7q2m      #   the policy", ":fill 1 exampleprodus4k7q2m"),
        ("tab\t# comment", "tab"),
    ],
)
def test_console_strips_comments_but_not_hashes_inside_words(line: str, kept: str | None) -> None:
    from bot.emulator.console import strip_comment

    assert strip_comment(line).strip() == (line if kept is None else kept)


@pytest.fixture(scope="module")
def console_session() -> Iterator[tuple[Any, io.StringIO]]:
    from bot.emulator.console import Console
    from bot.emulator.harness import LocalStack

    out = io.StringIO()
    # The paste form (no OAuth client): these tests are about numbering and form replies.
    with LocalStack(confirm_timeout=120, oauth=False) as stack:
        console = Console(stack, "U0ALICE0001", out)
        console.banner()
        yield console, out


def _run(console: Any, out: io.StringIO, line: str) -> str:
    out.seek(0)
    out.truncate()
    console.handle(line)
    return out.getvalue()


def test_button_numbers_are_stable_and_bare_numbers_name_the_newest_card(
    console_session: tuple[Any, io.StringIO],
) -> None:
    """Request before linking (a Link button), link, request again: the new card's buttons
    are [2.1]/[2.2], :click 1 is its Confirm, and the old Link button keeps its number."""
    console, out = console_session
    text = _run(console, out, f"/delete-org {PROD}")
    assert "[1.1] Link Coveo account" in text
    assert "(clicking [1.1] Link Coveo account)" in _run(console, out, ":click 1")
    _run(console, out, ":fill 1 admin_us")
    assert "Linked as alice@example.com" in _run(console, out, ":submit")
    text = _run(console, out, f"/delete-org {PROD}")
    assert "[2.1] Confirm deletion (danger)   [2.2] Cancel" in text
    assert "[1.1]" not in text  # the older message was not reprinted with new numbers
    text = _run(console, out, ":click 1")
    assert "(clicking [2.1] Confirm deletion)" in text
    assert "Type the organization ID to confirm" in text
    assert "there is no button [7] on the newest message" in _run(console, out, ":click 7")
    assert "there is no button [5.1]" in _run(console, out, ":click 5.1")
    assert "(closed “Confirm deletion”; nothing was submitted)" in _run(console, out, ":close")
    assert "! no modal is open" in _run(console, out, ":close")
    # Cancel the card: its buttons go, and clicking one of them says it is stale.
    assert "(clicking [2.2] Cancel)" in _run(console, out, ":click 2.2")
    text = _run(console, out, ":click 2.1")
    assert "! [2.1] Confirm deletion is stale" in text
    assert "clicking" not in text


def test_every_submit_says_what_happened_even_when_nothing_changed(
    console_session: tuple[Any, io.StringIO],
) -> None:
    console, out = console_session
    _run(console, out, "/delete-org link")
    _run(console, out, ":fill 1 notatoken")
    first = _run(console, out, ":submit")
    second = _run(console, out, ":submit")  # same errors again: the screen did not change
    for text in (first, second):
        assert "(“Link Coveo account” was not accepted; it stays open:)" in text
        assert "(1) Coveo access token: Coveo refused this token" in text
    assert "(closed “Link Coveo account”" in _run(console, out, ":close")
