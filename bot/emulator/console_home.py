"""The console's ``:home`` command: open the App Home as the current user and read it as text.

``:home`` sends the fake Slack's ``app_home_opened`` event (the real app answers with
``views.publish``) and prints the Home the app published, its buttons numbered ``(1)``,
``(2)``… below it. ``:home N`` clicks Home button N (Slack's confirm dialog, such as Unlink's,
is shown and accepted as ``:click`` does) and prints the Home again; for a link button (Sign in
with Coveo) ``:home N K`` opens it in the text browser and presses the page's choice K.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from bot.emulator import browser
from bot.emulator.render import ButtonRef, render_blocks
from bot.emulator.slack import FakeSlack

if TYPE_CHECKING:
    from bot.emulator.console import Console

__all__ = ["home_buttons", "home_command", "home_lines"]


def home_buttons(blocks: list[Any]) -> list[dict[str, Any]]:
    """The Home's buttons (elements with an ``action_id`` in actions blocks), in order."""
    return [
        element
        for block in blocks
        if isinstance(block, dict) and block.get("type") == "actions"
        for element in block.get("elements") or []
        if isinstance(element, dict) and element.get("action_id")
    ]


def _label(button: dict[str, Any]) -> str:
    text = button.get("text")
    return str(text.get("text") if isinstance(text, dict) else button["action_id"])


def home_lines(slack: FakeSlack, user_id: str, *, colour: bool = False) -> list[str] | None:
    """The App Home ``user_id`` sees now as lines of text (buttons as ``[Label]``), or None
    when the app published none."""
    home = slack.home(user_id)
    if home is None:
        return None
    users = {user_id: slack.user_name(user_id)}
    return render_blocks(home.view.get("blocks") or [], users=users, colour=colour)


def _show(console: Console) -> None:
    lines = home_lines(console.stack.slack, console.user, colour=console.colour)
    home = console.stack.slack.home(console.user)
    if lines is None or home is None:
        console.say("! the app published no Home for you (see its log)")
        return
    console.say()
    console.say("── App Home ──")
    for line in lines:
        console.say(line)
    buttons = home_buttons(home.view.get("blocks") or [])
    if buttons:
        console.say(
            "Home buttons: "
            + "   ".join(f"({n}) {_label(b)}" for n, b in enumerate(buttons, 1))
            + "   → :home N"
        )


def _as_ref(button: dict[str, Any], number: int) -> ButtonRef:
    confirm = button.get("confirm")
    return ButtonRef(
        number=number,
        label=_label(button),
        action_id=str(button["action_id"]),
        channel="",
        message_ts="",
        ephemeral=False,
        user=None,
        style=button.get("style") if isinstance(button.get("style"), str) else None,
        confirm=confirm if isinstance(confirm, dict) else None,
        url=button.get("url") if isinstance(button.get("url"), str) else None,
    )


def _press(console: Console, words: list[str]) -> None:
    home = console.stack.slack.home(console.user)
    buttons = home_buttons(home.view.get("blocks") or []) if home else []
    number = int(words[0])
    if not 1 <= number <= len(buttons):
        console.say(f"! there is no Home button ({number}); :home lists them")
        return
    ref = _as_ref(buttons[number - 1], number)
    console.say(f"(clicking Home button ({number}) {ref.label})")
    published = len(console.stack.slack.homes(console.user))
    if ref.url:
        with httpx.Client(trust_env=False, timeout=5.0) as client:
            page = browser.open_page(client, ref.url)
            if len(words) > 1 and words[1].isdigit() and 1 <= int(words[1]) <= len(page.choices):
                page = browser.choose(client, page, int(words[1]) - 1)
        console.say(f"(browser) {page.text}")
        for index, choice in enumerate(page.choices, 1):
            console.say(f"  ({index}) {choice.label}   → :home {number} {index}")
        console.stack.wait_idle()
    else:
        console.confirm_dialog(ref)
        response = console.stack.slack.click_home(console.user, ref.action_id)
        if response.status != 200:
            console.say(f"! the app answered HTTP {response.status}")
        console.show_changes()  # a modal (the link form) opens in the console as usual
    if len(console.stack.slack.homes(console.user)) > published:
        _show(console)  # the app published the Home again


def home_command(console: Console, rest: str) -> bool:
    """Run ``:home`` (open and show) or ``:home N [K]`` (press Home button N); always True."""
    words = rest.split()
    if words and not words[0].isdigit():
        console.say("! give a Home button number, e.g. :home 1 (or :home to open the Home)")
        return True
    if words:
        _press(console, words)
        return True
    response = console.stack.slack.open_home(console.user)
    if response.status != 200:
        console.say(f"! the app answered HTTP {response.status}")
    console.stack.wait_idle()
    _show(console)
    return True
