"""``delete-org-bot demo``: a scripted tour of the real app against local fakes, offline.

It starts a :class:`~bot.emulator.harness.LocalStack` (fake Slack, fake Coveo with invented
data, the real app over loopback HTTP, confirm timeout 10 s) and plays five scenes, printing
each scene's heading and then what appeared or changed in #general:

1. alice links her Coveo token (``admin_us``);
2. alice asks to delete ``exampleprodus4k7q2m`` and confirms: ``204 No Content``; she opens
   the app's Home tab: her link and that request, deleted;
3. bob (``viewer_us``: may view but not delete) links, asks for ``examplesandboxus2r9t5w``
   and confirms: Coveo refuses with HTTP 403 and the thread says which privilege is missing;
4. alice asks for ``exampletrialus8p3d1x`` and lets the card expire (the app's clock is moved
   forward instead of waiting), so the sweeper marks it "Expired — nothing was deleted";
5. the channel as everyone sees it at the end, then a one-line summary.

Each scene checks its expected outcome; if one does not come, the demo says which and exits 1.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from bot.emulator.console_home import home_lines
from bot.emulator.harness import ALICE, BOB, CHANNEL, LocalStack
from bot.emulator.render import Screen, render_screen
from bot.emulator.slack import Message
from handlers.ids import ACTION_CONFIRM

__all__ = ["CONFIRM_TIMEOUT", "run_demo"]

CONFIRM_TIMEOUT = 10
"""Seconds a card stays confirmable in the demo: the smallest value the app allows."""

PROD = "exampleprodus4k7q2m"
SANDBOX = "examplesandboxus2r9t5w"
TRIAL = "exampletrialus8p3d1x"


class _Narrator:
    """Prints scene headings and the entries of the channel that changed since last time."""

    def __init__(self, stack: LocalStack, out: TextIO, colour: bool) -> None:
        self.stack = stack
        self.out = out
        self.colour = colour
        self.previous: Screen | None = None

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def scene(self, heading: str) -> None:
        self.say()
        self.say(f"\x1b[1m▶ {heading}\x1b[0m" if self.colour else f"▶ {heading}")

    def show_changes(self) -> None:
        self.stack.wait_idle()
        screen = render_screen(self.stack.workspace(), colour=self.colour)
        for entry in screen.changed_since(self.previous):
            self.say()
            self.say(_indent(entry.text))
        self.previous = screen


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else line for line in text.split("\n"))


def _wait_card(stack: LocalStack, org_id: str) -> Message:
    """Wait for the confirmable preview card of ``org_id``."""

    def cards() -> list[Message]:
        found = stack.latest_card(CHANNEL, ACTION_CONFIRM)
        return [found] if found is not None and org_id in found.text else []

    return stack.wait_for(cards)[0]


def _play(stack: LocalStack, show: _Narrator) -> None:
    show.scene("alice links her Coveo account with Sign in with Coveo (identity admin_us)")
    show.say("  alice types /delete-org link, picks region US and clicks Sign in with Coveo;")
    show.say("  in the browser she picks 'Sign in as alice@example.com (US)' on Coveo's page")
    page = stack.sign_in(ALICE, "admin_us")
    show.say(f"  the browser shows: {page.lines[0] if page.lines else page.title}")
    stack.wait_ephemeral(ALICE, "Linked as alice@example.com (region US)")
    show.show_changes()

    show.scene(f"alice runs /delete-org {PROD}")
    stack.command(ALICE, CHANNEL, PROD)
    card = _wait_card(stack, PROD)
    show.show_changes()

    show.scene("alice clicks Confirm deletion, then Delete in Slack's confirm dialog")
    stack.click(ALICE, ACTION_CONFIRM)
    show.say(
        "  a production organization: the default policy opens a form where alice must type"
        " its ID exactly"
    )
    stack.type_confirmation(ALICE, PROD)
    stack.wait_thread_reply(card.ts, "204 No Content")
    show.show_changes()

    show.scene("alice opens the app's Home tab (only she sees it)")
    stack.slack.open_home(ALICE)
    stack.wait_for(lambda: "*deleted*" in "\n".join(home_lines(stack.slack, ALICE) or []))
    show.say()
    show.say(_indent("\n".join(home_lines(stack.slack, ALICE) or [])))

    show.scene("bob links his token (demo token viewer_us: may view US orgs, not delete them)")
    stack.link(BOB, "viewer_us")
    stack.wait_ephemeral(BOB, "Linked as bob@example.com (region US)")
    show.show_changes()
    stack.close_views(BOB)

    show.scene(f"bob runs /delete-org {SANDBOX}")
    stack.command(BOB, CHANNEL, SANDBOX)
    card = _wait_card(stack, SANDBOX)
    show.show_changes()

    show.scene("bob clicks Confirm deletion, then Delete in the confirm dialog")
    stack.click(BOB, ACTION_CONFIRM)
    stack.wait_thread_reply(card.ts, "HTTP 403")
    show.show_changes()

    show.scene(f"alice runs /delete-org {TRIAL} and does not answer the card")
    stack.command(ALICE, CHANNEL, TRIAL)
    card = _wait_card(stack, TRIAL)
    show.show_changes()

    seconds = CONFIRM_TIMEOUT + 1
    show.scene(
        f"{seconds} seconds pass (the demo moves the app's clock instead of waiting);"
        " the sweeper expires the card"
    )
    stack.advance(seconds)
    stack.wait_thread_reply(card.ts, "Expired — nothing was deleted")
    show.show_changes()

    show.say()
    show.say("═" * 72)
    show.say("#general at the end, as every member of the channel sees it")
    show.say("═" * 72)
    final = render_screen(
        stack.workspace(), show_ephemerals=False, show_views=False, colour=show.colour
    )
    show.say(final.text.rstrip("\n"))


def _summary(stack: LocalStack, elapsed: float) -> str:
    ends = [
        event.to_state
        for event in stack.runtime.deps.store.audit_events()
        if event.to_state in ("deleted", "failed", "expired", "cancelled", "unknown")
    ]
    deletes = len(stack.coveo.deletes())
    return (
        f"✔ Demo finished in {elapsed:.1f} s: {ends.count('deleted')} organization deleted"
        f" (204), {ends.count('failed')} refused by Coveo (403), {ends.count('expired')} card"
        f" expired; the fake Coveo received {deletes} DELETE requests; all traffic stayed on"
        " 127.0.0.1."
    )


def run_demo(out: TextIO | None = None, *, colour: bool = False) -> int:
    """Play the demo and print its transcript to ``out`` (default stdout).

    Returns 0 when every scene ended as expected, 1 otherwise (the failing scene is named).
    Runs offline on 127.0.0.1 in a few seconds.
    """
    out = out or sys.stdout
    reconfigure = getattr(out, "reconfigure", None)
    if callable(reconfigure):
        reconfigure(errors="replace")  # a terminal that cannot show "▶" gets "?" instead
    try:
        return _run(out, colour)
    except BrokenPipeError:  # the reader left early (`delete-org-bot demo | head`)
        if out is sys.stdout:  # and keep Python's final flush from failing again
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return 0


def _run(out: TextIO, colour: bool) -> int:
    started = time.monotonic()
    print(
        "delete-org-bot demo: the real app, with a fake Slack workspace and a fake Coveo"
        " (invented data),\nall on 127.0.0.1. Nothing is sent to Slack or Coveo.",
        file=out,
        flush=True,
    )
    with LocalStack(confirm_timeout=CONFIRM_TIMEOUT) as stack:
        narrator = _Narrator(stack, out, colour)
        try:
            _play(stack, narrator)
        except (AssertionError, LookupError) as error:
            narrator.show_changes()
            print(f"\n✘ The demo did not go as expected: {error}", file=out, flush=True)
            return 1
        print("\n" + _summary(stack, time.monotonic() - started), file=out, flush=True)
    return 0
