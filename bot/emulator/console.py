"""``delete-org-bot console``: use the real app from a terminal, against local fakes, offline.

A line-oriented prompt over stdin/stdout (it also works with a pipe, which makes it
scriptable). It starts a :class:`~bot.emulator.harness.LocalStack`: a fake Slack workspace with
alice (``U0ALICE0001``), bob (``U0BOB000001``) and #general (``C0GENERAL01``), the fake Coveo
with its invented demo organizations and tokens, and the real app over loopback HTTP.

What you type:

- ``/delete-org …``: run the slash command as the current user;
- any other text: post it in #general as the current user;
- ``:click M.N``: click button ``[M.N]`` (button N of message M; message numbers never
  change during a session); ``:click N``: button N of the newest message with buttons;
  ``:fill N value`` / ``:select N value``: fill field ``(N)`` of the open modal, then
  ``:submit`` (or ``:close``); each says what happened; ``:open M.N [K]``: follow a link
  button (Sign in with Coveo) in a text browser, pressing the page's choice K;
- ``:user bob`` (or an ID): act as someone else; ``:show``: the whole channel as you see it;
- ``:home``: open the App Home and read it; ``:home N``: press its button N
  (``bot/emulator/console_home.py``);
- ``:metrics [TEXT]``: the app's readiness and non-zero metrics; ``:audit ARGS``: the audit CLI
  on the session's database (``bot/emulator/console_ops.py``);
- ``:tokens`` / ``:orgs``: the demo data; ``:advance S``: pretend S seconds passed;
- ``:help``; ``:quit`` or end of input (Ctrl-D) leaves with exit code 0.

After each action the console waits until the fakes have been quiet for 200 ms (at most 5 s)
so the app's work after its ack is done, then prints only what appeared or changed.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import httpx

from bot.config import ConfigError
from bot.emulator import browser
from bot.emulator.console_home import home_command
from bot.emulator.console_ops import audit_command, metrics_command
from bot.emulator.coveo import FakeToken, demo_tokens
from bot.emulator.harness import CHANNEL, CHANNEL_NAME, LocalStack
from bot.emulator.render import ButtonRef, Screen, render_mrkdwn, render_screen

__all__ = ["HELP", "Console", "run_console", "strip_comment"]

HELP = """\
Commands (you act as one user of a fake Slack workspace; the app is the real one):
  /delete-org <args>   run the slash command, e.g. /delete-org link, /delete-org <org-id>
  <any other text>     post a message in #general
  :click M.N           click button [M.N] (button N of message M)
  :click N             click button N of the newest message with buttons
  :open M.N [K]        open link button [M.N] (Sign in with Coveo) in a text browser; with K,
                       press choice K of the page (e.g. Sign in as alice@example.com)
  :fill N <value>      type into field (N) of the open modal (a demo token name such as
                       admin_us is replaced by that token)
  :select N <choice>   pick a choice of field (N), e.g. :select 2 EU
  :submit / :close     submit or dismiss the open modal
  :user <name or ID>   act as another user (alice, bob, or a new ID such as U0CAROL001)
  :show                show the whole channel as the current user sees it
  :home                open the App Home (your link, last requests, policy, freeze)
  :home N [K]          press button (N) of the App Home (K: a choice of a page it opens)
  :tokens / :orgs      list the demo Coveo tokens / organizations
  :metrics [TEXT]      the app's /readyz and non-zero /metrics samples (those with TEXT)
  :audit [ARGS]        the audit CLI on this session's database: verify, list, show ID, export
  :advance <seconds>   pretend time passed (cards expire; the sweeper runs)
  # text               a comment (ignored), also after a command
  :help                this text
  :quit                leave (so does Ctrl-D)"""

_SWEEP_GRACE = 1.3
"""Seconds to let the sweeper (interval 1 s) notice a clock change before looking."""


def _describe(token: FakeToken) -> str:
    """What a demo token may do, in a few words."""
    if token.kind == "api_key":
        return "an API key: refused when linking"
    if token.expired:
        return "expired: refused when linking"
    region = token.region.upper()
    sees = f"every {region} org" if token.can_view is None else ", ".join(sorted(token.can_view))
    if token.can_edit is None:
        return f"views and deletes {sees}"
    if not token.can_edit:
        return f"views {sees}; deletes none"
    return f"views {sees}; deletes only {', '.join(sorted(token.can_edit))}"


_COMMENT = re.compile(r"(?:^|(?<=\s))#(?:\s.*)?$")


def strip_comment(line: str) -> str:
    """``line`` without its ``# comment`` (see :meth:`Console.handle` for what counts)."""
    return _COMMENT.sub("", line.rstrip("\n"))


def _title(view: dict[str, Any]) -> str:
    """A modal's title as plain text."""
    title = view.get("title")
    return str(title.get("text") or "modal") if isinstance(title, dict) else "modal"


def _escape(text: str) -> str:
    """Slash command text arrives with ``&``, ``<`` and ``>`` escaped, as Slack sends it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Console:
    """One console session over a started :class:`LocalStack`; :meth:`handle` runs one line."""

    def __init__(self, stack: LocalStack, user: str, out: TextIO, *, colour: bool = False) -> None:
        """Act as ``user`` (an ID known to the stack), writing to ``out``."""
        self.stack = stack
        self.user = user
        self.out = out
        self.colour = colour
        self.screen: Screen | None = None
        self.numbers: dict[str, int] = {}
        """Message numbers of this session (entry key → number), kept so they never shift."""
        self.seen: dict[str, ButtonRef] = {}
        """Every button shown this session by its ref, to tell a stale one from a typo."""
        self.form: dict[str, dict[tuple[str, str], str]] = {}
        self._commands: dict[str, Callable[[str], bool]] = {
            "click": self._click,
            "open": self._open,
            "fill": self._fill,
            "select": self._select,
            "submit": self._submit,
            "close": self._close,
            "user": self._switch_user,
            "show": self._show,
            "home": lambda rest: home_command(self, rest),
            "metrics": lambda rest: metrics_command(self, rest),
            "audit": lambda rest: audit_command(self, rest),
            "tokens": self._tokens,
            "orgs": self._orgs,
            "advance": self._advance,
            "help": self._help,
            "quit": self._quit,
            "exit": self._quit,
            "q": self._quit,
        }

    # -- output --------------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        """Print one line (or several) and flush."""
        print(text, file=self.out, flush=True)

    @property
    def prompt(self) -> str:
        """The prompt: the current user's name, e.g. ``alice> ``."""
        return f"{self.stack.slack.user_name(self.user)}> "

    def render(self) -> Screen:
        """The channel as the current user sees it now (not printed)."""
        workspace = self.stack.workspace(form_values=self.form)
        return render_screen(
            workspace, viewer=self.user, colour=self.colour, message_numbers=self.numbers
        )

    def show_changes(self, *, wait: bool = True) -> None:
        """Wait for the app to finish (unless ``wait`` is False), then print what changed."""
        if wait:
            self.stack.wait_idle()
        screen = self.render()
        for entry in screen.changed_since(self.screen):
            self.say()
            self.say(entry.text)
        self._remember(screen)

    def _remember(self, screen: Screen) -> None:
        self.screen = screen
        self.seen.update((button.ref, button) for button in screen.buttons)

    def banner(self) -> None:
        """The greeting printed once at start."""
        name = self.stack.slack.user_name(self.user)
        self.say(
            "delete-org-bot console: the real app with a fake Slack workspace and a fake Coveo"
            " (invented data),\nall on 127.0.0.1. Nothing is sent to Slack or Coveo."
        )
        self.say(
            f"You are @{name} in #{CHANNEL_NAME}. Cards stay confirmable for"
            f" {self.stack.confirm_timeout} s. Type :help for every command. Try:\n"
            "  /delete-org link                  then  :click 1  and  :open 1 1  (sign in)\n"
            "  /delete-org exampleprodus4k7q2m   then  :click 1  (the newest card's first button)"
        )
        self._remember(self.render())

    # -- input ---------------------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """Run one input line; returns False when the session should end.

        A ``#`` at the start of the line or after a space begins a comment, up to the end of
        the line, when it is followed by a space or ends the line (so ``#general`` and Admin
        Console URLs with ``/#/`` stay as typed): the README's example script can be piped
        in as it is.
        """
        line = strip_comment(line).strip()
        if not line:
            return True
        try:
            if line.startswith(":"):
                name, _, rest = line[1:].partition(" ")
                command = self._commands.get(name.lower())
                if command is None:
                    self.say(f"Unknown command :{name}. Type :help.")
                    return True
                return command(rest.strip())
            if line.startswith("/"):
                self._slash(line)
            else:
                self.stack.slack.post_user_message(self.user, CHANNEL, _escape(line))
                self.show_changes(wait=False)
        except (LookupError, AssertionError, OSError) as error:
            self.say(f"! {error}")
        return True

    def _slash(self, line: str) -> None:
        command, _, text = line.partition(" ")
        if command != "/delete-org":
            self.say(f"! {command} is not installed here; this workspace only has /delete-org.")
            return
        if self.stack.close_views(self.user):
            self.say("(closed the open modal first, as Slack requires)")
        response = self.stack.command(self.user, CHANNEL, _escape(text.strip()))
        if response.status != 200:
            self.say(f"! the app answered HTTP {response.status}: {response.body[:200]}")
        self.show_changes()

    def _number(self, text: str) -> int | None:
        word = text.split(" ", 1)[0]
        if not word.isdigit():
            self.say("! give a number, e.g. :fill 1 admin_us")
            return None
        return int(word)

    def _find_button(self, ref: str) -> ButtonRef | None:
        """The button ``ref`` names on the current screen (``M.N``, or ``N`` on the newest
        message with buttons), saying why when there is none (stale or unknown)."""
        current = self.render()
        if "." in ref:
            button = current.button_ref(ref)
            if button is not None:
                return button
            before = self.seen.get(ref)
            if before is not None:
                self.say(
                    f"! [{ref}] {before.label} is stale: that message has changed since and no"
                    " longer has this button. :show lists the buttons there are now."
                )
            else:
                self.say(f"! there is no button [{ref}]; :show lists them")
            return None
        newest = current.newest_buttons()
        index = int(ref)
        if 1 <= index <= len(newest):
            return newest[index - 1]
        if newest:
            self.say(
                f"! there is no button [{ref}] on the newest message with buttons"
                f" ([{newest[0].ref}] to [{newest[-1].ref}]); :show lists them"
            )
        else:
            self.say(f"! there is no button [{ref}]: nothing on the screen has buttons")
        return None

    def _click(self, rest: str) -> bool:
        ref = rest.split(" ", 1)[0]
        if not ref.replace(".", "", 1).isdigit() or ref.startswith(".") or ref.endswith("."):
            self.say("! give a button, e.g. :click 2.1 (or :click 1: the newest card's first)")
            return True
        shown = self._find_button(ref)
        if shown is None:
            return True
        self.say(f"(clicking [{shown.ref}] {shown.label})")
        self.confirm_dialog(shown)
        slack = self.stack.slack
        response = slack.click(
            self.user,
            channel_id=shown.channel,
            message_ts=shown.message_ts,
            action_id=shown.action_id,
            ephemeral=shown.ephemeral,
        )
        if response.status != 200:
            self.say(f"! the app answered HTTP {response.status}")
        self.show_changes()
        return True

    def _open(self, rest: str) -> bool:
        words = rest.split()
        ref = words[0] if words else ""
        if not ref.replace(".", "", 1).isdigit() or ref.startswith(".") or ref.endswith("."):
            self.say("! give a link button, e.g. :open 2.1 (or :open 1: the newest message's)")
            return True
        shown = self._find_button(ref)
        if shown is None:
            return True
        if not shown.url:
            self.say(f"! button [{shown.ref}] is not a link; :show lists them")
            return True
        number = shown.ref
        with httpx.Client(trust_env=False, timeout=5.0) as client:
            page = browser.open_page(client, shown.url)
            if len(words) > 1 and words[1].isdigit() and 1 <= int(words[1]) <= len(page.choices):
                page = browser.choose(client, page, int(words[1]) - 1)
        self.say(f"(browser) {page.text}")
        for index, choice in enumerate(page.choices, 1):
            self.say(f"  ({index}) {choice.label}   → :open {number} {index}")
        self.show_changes()
        return True

    def confirm_dialog(self, button: ButtonRef) -> None:
        """Show the button's Slack confirm dialog and answer it with its confirm choice."""
        dialog = button.confirm
        if not dialog:
            return
        users = {self.user: self.stack.slack.user_name(self.user)}

        def text(key: str, default: str) -> str:
            value = dialog.get(key)
            if isinstance(value, dict):
                return render_mrkdwn(str(value.get("text") or default), users)
            return default

        self.say(f"Slack asks: {text('title', 'Are you sure?')}")
        self.say(f"  {text('text', '')}")
        self.say(
            f"  [{text('confirm', 'Yes')}]  [{text('deny', 'No')}]  → {text('confirm', 'Yes')}"
        )

    def _fill(self, rest: str, *, kind: str = "text") -> bool:
        number = self._number(rest)
        if number is None:
            return True
        value = rest.split(" ", 1)[1].strip() if " " in rest else ""
        screen = self.screen or self.render()
        field = screen.field(number)
        if field is None:
            self.say(f"! there is no field ({number}); open a modal first (/delete-org link)")
            return True
        if field.kind != kind:
            verb = ":select" if field.kind == "select" else ":fill"
            self.say(f"! field ({number}) is a {field.kind}; use {verb} {number} …")
            return True
        if kind == "select":
            match = [v for v, label in field.options if value.lower() in (v.lower(), label.lower())]
            if not match:
                choices = ", ".join(label for _, label in field.options)
                self.say(f"! no choice {value!r}; choices: {choices}")
                return True
            value = match[0]
        elif value in self.stack.tokens:
            self.say(f"(the demo token {value})")
            value = self.stack.tokens[value]
        self.form.setdefault(field.view_id, {})[(field.block_id, field.action_id)] = value
        shown = next((text for v, text in field.options if v == value), value)
        self.say(f"({number}) {field.label}: {shown}")
        self._remember(self.render())
        return True

    def _select(self, rest: str) -> bool:
        return self._fill(rest, kind="select")

    def _submit(self, rest: str) -> bool:
        slack = self.stack.slack
        views = [v for v in slack.views(self.user, open_only=True) if v.view.get("submit")]
        if not views:
            self.say("! no modal with a submit button is open")
            return True
        view = views[-1]
        title = _title(view.view)
        screen = self.render()
        typed = self.form.get(view.id, {})
        values: dict[str, dict[str, str]] = {}
        for field in screen.fields:
            if field.view_id != view.id:
                continue
            value = typed.get((field.block_id, field.action_id), field.initial)
            if value is not None:
                values.setdefault(field.block_id, {})[field.action_id] = value
        response = slack.submit_view(self.user, view.id, values)
        if response.status != 200:
            self.say(f"! the app answered HTTP {response.status}")
        self.show_changes()
        errors = slack.view_errors(view.id)
        still_open = any(v.id == view.id for v in slack.views(self.user, open_only=True))
        if errors and still_open:
            # Said every time, also when the same errors come back (the screen did not change).
            self.say(f"(“{title}” was not accepted; it stays open:)")
            labels = {f.block_id: f"({f.number}) {f.label}" for f in self.render().fields}
            for block_id, error in errors.items():
                self.say(f"  {labels.get(block_id, block_id)}: {error}")
        elif still_open:
            self.say(f"(submitted “{title}”; the app kept it open)")
        else:
            self.say(f"(submitted “{title}”; the modal closed)")
        return True

    def _close(self, rest: str) -> bool:
        titles = [_title(v.view) for v in self.stack.slack.views(self.user, open_only=True)]
        if not self.stack.close_views(self.user):
            self.say("! no modal is open")
            return True
        self.say("(closed " + ", ".join(f"“{t}”" for t in titles) + "; nothing was submitted)")
        self.show_changes(wait=False)
        return True

    def _switch_user(self, rest: str) -> bool:
        if not rest:
            self.say("! who? e.g. :user bob")
            return True
        self.user = self.stack.resolve_user(rest)
        self.say(f"You are now @{self.stack.slack.user_name(self.user)} ({self.user}).")
        self.show_changes(wait=False)
        return True

    def _show(self, rest: str) -> bool:
        screen = self.render()
        self._remember(screen)
        self.say(screen.text.rstrip("\n"))
        return True

    def _tokens(self, rest: str) -> bool:
        self.say("Demo Coveo tokens (use the name with :fill, e.g. :fill 1 admin_us):")
        for name, token in demo_tokens().items():
            self.say(f"  {name:<12} {token.region.upper():<6} {_describe(token)}")
        return True

    def _orgs(self, rest: str) -> bool:
        self.say("Demo Coveo organizations (region, type, ID):")
        for org in self.stack.coveo.organizations():
            flags = " (read-only)" if org.read_only else " (paused)" if org.paused else ""
            self.say(f"  {org.region.upper():<6} {org.type:<11} {org.id}{flags}")
        return True

    def _advance(self, rest: str) -> bool:
        try:
            seconds = float(rest)
        except ValueError:
            self.say("! give seconds, e.g. :advance 130")
            return True
        if not 0 < seconds <= 86_400:
            self.say("! give a number of seconds from 1 to 86400")
            return True
        self.stack.advance(seconds)
        self.say(f"({seconds:g} seconds later…)")
        time.sleep(_SWEEP_GRACE)
        self.show_changes()
        return True

    def _help(self, rest: str) -> bool:
        self.say(HELP)
        return True

    def _quit(self, rest: str) -> bool:
        return False


def _read_line(prompt: str, stdin: TextIO, out: TextIO, interactive: bool) -> str:
    """One line from the person; raises EOFError at the end of input."""
    if interactive:
        return input(prompt)
    out.write(prompt)
    out.flush()
    line = stdin.readline()
    if not line:
        raise EOFError
    out.write(line if line.endswith("\n") else line + "\n")  # echo, so a transcript reads well
    out.flush()
    return line


def run_console(
    user: str = "alice",
    *,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    confirm_timeout: int = 120,
    colour: bool = False,
) -> int:
    """Run the console until ``:quit`` or end of input; returns the exit code.

    ``user`` is a name or ID (default alice). ``stdin``/``out`` default to the process's; with a
    terminal on both, lines are read with ``input()`` (line editing), otherwise line by line
    and echoed. Returns 0 on ``:quit`` or end of input, 2 for a bad ``user`` or
    ``confirm_timeout`` (10 to 1800 s), 130 after Ctrl-C while the app was working.
    """
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    interactive = stdin is sys.stdin and out is sys.stdout and stdin.isatty() and out.isatty()
    if interactive:
        try:
            import readline  # noqa: F401 - line editing and history for input()
        except ImportError:  # pragma: no cover - not on every platform
            pass
    try:
        stack = LocalStack(confirm_timeout=confirm_timeout).start()
    except ConfigError as error:
        print(f"delete-org-bot console: {error}", file=sys.stderr)
        return 2
    try:
        try:
            user_id = stack.resolve_user(user)
        except LookupError as error:
            print(f"delete-org-bot console: {error}", file=sys.stderr)
            return 2
        console = Console(stack, user_id, out, colour=colour)
        console.banner()
        while True:
            try:
                line = _read_line(console.prompt, stdin, out, interactive)
            except EOFError:
                console.say()
                break
            except KeyboardInterrupt:
                console.say("\n(type :quit or press Ctrl-D to leave)")
                continue
            if not console.handle(line):
                break
        console.say("Bye.")
        return 0
    except KeyboardInterrupt:
        print("\nInterrupted.", file=out, flush=True)
        return 130
    finally:
        stack.close()
