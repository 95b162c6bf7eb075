"""The console's ``:home``: the App Home read as text, and its buttons pressed by number."""

from __future__ import annotations

import io

from bot.emulator.console import Console
from bot.emulator.harness import LocalStack


def _run(console: Console, out: io.StringIO, line: str) -> str:
    out.seek(0)
    out.truncate()
    console.handle(line)
    return out.getvalue()


def test_home_shows_the_link_and_its_buttons_link_and_unlink_from_it() -> None:
    out = io.StringIO()
    with LocalStack(confirm_timeout=120, oauth=False) as stack:
        console = Console(stack, "U0ALICE0001", out)
        text = _run(console, out, ":home")
        assert "── App Home ──" in text
        assert "You have not linked a Coveo account" in text
        assert "Home buttons: (1) Link Coveo account" in text

        text = _run(console, out, ":home 1")  # the link form opens, as from a message
        assert "modal: Link Coveo account" in text
        _run(console, out, ":fill 1 admin_us")
        _run(console, out, ":submit")
        text = _run(console, out, ":home")
        assert "*Linked as* alice@example.com" in text
        assert "(1) Relink   (2) Unlink" in text

        text = _run(console, out, ":home 2")
        assert "Slack asks: Unlink your Coveo account?" in text
        assert "You have not linked a Coveo account" in text  # published again
        assert stack.runtime.deps.store.get_link("T0TEST0001", "U0ALICE0001") is None

        assert "no Home button (9)" in _run(console, out, ":home 9")
        assert "give a Home button number" in _run(console, out, ":home unlink")
