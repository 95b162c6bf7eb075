"""Render the fake Slack workspace as a person reads it in a terminal (pure functions, no I/O).

The input is a :class:`Workspace`: a snapshot of one channel of `bot.emulator.slack.FakeSlack`
(messages, thread replies, ephemerals, open modals, user and channel names), taken with
``LocalStack.workspace()`` or built by hand in tests. :func:`render_screen` turns it into a
:class:`Screen`: plain text in time order, and the numbered buttons and modal fields that a
text client (``delete-org-bot console``) lets people click and fill.

What it shows:

- each message with its author: the user's display name, or ``delete-org-bot`` for the app;
  ``(edited)`` after chat.update or replace_original, ``(only visible to @alice)`` on
  ephemerals;
- Block Kit as text: sections and their fields, context lines indented further (and dimmed
  with colours on), headers, dividers, images by their alt text, and buttons as
  ``[1] Confirm deletion (danger)``, numbered across the whole screen, or per message
  (``[2.1] Confirm deletion``, stable while messages come and go) when the caller keeps the
  numbering (the console does);
- Slack mrkdwn markup resolved: ``<@U123>`` → ``@alice``, ``<#C1>`` → ``#general``,
  ``<!date^…|fallback>`` → the fallback, links → ``label (url)``, ``&lt;`` ``&gt;`` ``&amp;``
  unescaped. Emphasis markers (``*bold*``, backticks) and emoji shortcodes stay as typed;
- thread replies indented under their parent behind a ``│`` rule;
- open modals with their inputs and selects numbered ``(1)``, ``(2)``… and their errors.

The output is deterministic: the same workspace always gives the same text, so tests can
assert on it. ANSI colours are off unless ``colour=True``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.slack import Channel, Ephemeral, Message, OpenView

__all__ = [
    "APP_NAME",
    "ButtonRef",
    "Entry",
    "FieldRef",
    "Screen",
    "Workspace",
    "render_blocks",
    "render_mrkdwn",
    "render_screen",
]

APP_NAME = "delete-org-bot"
"""Author shown on the app's messages."""

_INDENT = "  "
_THREAD_RULE = "  │ "
_MARKUP = re.compile(r"<([^<>\n]*)>")
_ENTITY = re.compile(r"&(lt|gt|amp);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&"}
_EMPTY_INPUT = "________"

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_CYAN = "\x1b[36m"


@dataclass(frozen=True)
class Workspace:
    """What the renderer needs to draw one channel.

    ``users`` maps user IDs to display names and ``channels`` channel IDs to names (without
    ``#``); unknown IDs are shown as they are. ``view_errors`` maps a view ID to its
    ``{block_id: error}`` from the last ``response_action: errors``. ``form_values`` maps a
    view ID to ``{(block_id, action_id): value}`` typed by the person so far (a select's value
    is the option's ``value``); it is the client's state, not Slack's.
    """

    channel: Channel
    messages: Sequence[Message] = ()
    ephemerals: Sequence[Ephemeral] = ()
    views: Sequence[OpenView] = ()
    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    view_errors: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    form_values: Mapping[str, Mapping[tuple[str, str], str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ButtonRef:
    """A numbered button on the screen, with what `FakeSlack.click` needs to click it.

    ``user`` is who sees it: the ephemeral's recipient, or None for a channel message.
    ``confirm`` is the button's confirm dialog object, or None. ``number`` counts buttons
    across the screen; ``ref`` is what the screen shows between brackets: ``"3"`` (screen-wide
    numbering) or ``"2.1"`` (message 2, button 1) with per-message numbering, where
    ``message_number`` is the message's number (else None).
    """

    number: int
    label: str
    action_id: str
    channel: str
    message_ts: str
    ephemeral: bool
    user: str | None
    style: str | None
    confirm: Mapping[str, Any] | None
    url: str | None
    ref: str = ""
    message_number: int | None = None


@dataclass(frozen=True)
class FieldRef:
    """A numbered input of an open modal: ``kind`` is ``"text"`` or ``"select"``.

    ``options`` holds ``(value, label)`` pairs of a select; ``initial`` the value shown before
    the person picks anything (a select's ``initial_option``), or None.
    """

    number: int
    view_id: str
    block_id: str
    action_id: str
    kind: str
    label: str
    options: tuple[tuple[str, str], ...] = ()
    initial: str | None = None


@dataclass(frozen=True)
class Entry:
    """One rendered item: a top-level message with its thread, an ephemeral, or a modal.

    ``key`` identifies it across renders (``msg:<ts>``, ``eph:<ts>``, ``view:<id>``), so a client
    can print only what changed (see :meth:`Screen.changed_since`).
    """

    key: str
    text: str


@dataclass(frozen=True)
class Screen:
    """A rendered channel: the header, the entries in time order, and what can be acted on."""

    header: str
    entries: tuple[Entry, ...]
    buttons: tuple[ButtonRef, ...]
    fields: tuple[FieldRef, ...]

    @property
    def text(self) -> str:
        """The whole screen as one string (header, then entries separated by blank lines)."""
        if not self.entries:
            return f"{self.header}\n(nothing here yet)\n"
        return self.header + "\n" + "\n\n".join(entry.text for entry in self.entries) + "\n"

    def changed_since(self, previous: Screen | None) -> list[Entry]:
        """Entries that are new or whose text changed since ``previous`` (all when None).

        Button numbers are part of the text, so an entry whose buttons were renumbered counts
        as changed and is shown again with its new numbers.
        """
        if previous is None:
            return list(self.entries)
        before = {entry.key: entry.text for entry in previous.entries}
        return [entry for entry in self.entries if before.get(entry.key) != entry.text]

    def button(self, number: int) -> ButtonRef | None:
        """The button counted ``number`` across the screen, or None."""
        return next((b for b in self.buttons if b.number == number), None)

    def button_ref(self, ref: str) -> ButtonRef | None:
        """The button shown as ``[ref]`` (``"3"`` or ``"2.1"``), or None."""
        return next((b for b in self.buttons if b.ref == ref), None)

    def newest_buttons(self) -> tuple[ButtonRef, ...]:
        """With per-message numbering, the buttons of the newest message that has any
        (highest message number), in order; otherwise every button."""
        numbered = [b.message_number for b in self.buttons if b.message_number is not None]
        if not numbered:
            return self.buttons
        newest = max(numbered)
        return tuple(b for b in self.buttons if b.message_number == newest)

    def field(self, number: int) -> FieldRef | None:
        """The modal field shown as ``(number)``, or None."""
        return next((f for f in self.fields if f.number == number), None)


class _Painter:
    """Applies ANSI styles when colours are on; the identity otherwise."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, *styles: str) -> str:
        if not self.colour or not text:
            return text
        return "".join(styles) + text + _RESET


@dataclass
class _Counter:
    """Running numbers for buttons and fields while one screen is rendered."""

    buttons: list[ButtonRef] = field(default_factory=list)
    fields: list[FieldRef] = field(default_factory=list)
    message_numbers: Mapping[str, int] | None = None
    """Per-message numbering: entry key (``msg:<ts>``/``eph:<ts>``) → message number."""


@dataclass(frozen=True)
class _Where:
    """Where a block sits, so its buttons can be clicked later."""

    channel: str
    ts: str
    ephemeral: bool
    user: str | None

    @property
    def key(self) -> str:
        """The entry key of the message (see :class:`Entry`)."""
        return ("eph:" if self.ephemeral else "msg:") + self.ts


def _unescape(text: str) -> str:
    """Turn ``&lt;`` ``&gt;`` ``&amp;`` back into characters, in one pass."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def _markup(inner: str, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        user_id = target[1:]
        return "@" + users.get(user_id, _unescape(label) or user_id)
    if target.startswith("#"):
        channel_id = target[1:]
        return "#" + channels.get(channel_id, _unescape(label).lstrip("#") or channel_id)
    if target.startswith("!date^"):
        return _unescape(label) if label else target[1:]
    if target.startswith("!subteam^"):
        return _unescape(label) or "@" + target.partition("^")[2]
    if target.startswith("!"):
        return _unescape(label) or "@" + target[1:]
    url = _unescape(target)
    if not label:
        return url
    shown = _unescape(label)
    if url.startswith("mailto:") or shown == url:
        return shown
    return f"{shown} ({url})"


def render_mrkdwn(
    text: str, users: Mapping[str, str] | None = None, channels: Mapping[str, str] | None = None
) -> str:
    """Slack mrkdwn as a person reads it: mentions, channel links, dates, links and escapes
    resolved; emphasis markers and emoji shortcodes kept as typed.

    ``users`` maps user IDs to names (``<@U1>`` → ``@alice``); ``channels`` maps channel IDs to
    names (``<#C1>`` → ``#general``). An unknown ID falls back to the markup's label, then to
    the ID. ``<!date^epoch^format|fallback>`` becomes its fallback text.
    """
    users = users or {}
    channels = channels or {}
    out: list[str] = []
    position = 0
    for match in _MARKUP.finditer(text):
        out.append(_unescape(text[position : match.start()]))
        out.append(_markup(match.group(1), users, channels))
        position = match.end()
    out.append(_unescape(text[position:]))
    return "".join(out)


def _text_object(obj: Any, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    """A text object: mrkdwn is resolved, plain_text is shown literally."""
    if isinstance(obj, str):
        return obj
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text") or "")
    if obj.get("type") == "mrkdwn":
        return render_mrkdwn(text, users, channels)
    return text


def _lines(text: str, prefix: str) -> list[str]:
    return [prefix + line if line else prefix.rstrip() for line in text.split("\n")]


def _button(
    element: dict[str, Any], where: _Where | None, counter: _Counter, paint: _Painter
) -> str:
    label = _text_object(element.get("text"), {}, {}) or str(element.get("action_id") or "button")
    style = element.get("style") if isinstance(element.get("style"), str) else None
    url = element.get("url") if isinstance(element.get("url"), str) else None
    suffix = f" ({style})" if style else ""
    if url:
        suffix += f" ↗ {url}"
    colours = {"danger": (_BOLD, _RED), "primary": (_BOLD, _GREEN)}.get(style or "", (_BOLD,))
    if where is None or not element.get("action_id"):
        return paint(f"[{label}]", *colours) + suffix
    number = len(counter.buttons) + 1
    ref = str(number)
    message_number = None
    if counter.message_numbers is not None:
        message_number = counter.message_numbers.get(where.key)
        if message_number is not None:
            within = sum(1 for b in counter.buttons if b.message_number == message_number) + 1
            ref = f"{message_number}.{within}"
    confirm = element.get("confirm")
    counter.buttons.append(
        ButtonRef(
            number=number,
            label=label,
            action_id=str(element["action_id"]),
            channel=where.channel,
            message_ts=where.ts,
            ephemeral=where.ephemeral,
            user=where.user,
            style=style,
            confirm=dict(confirm) if isinstance(confirm, dict) else None,
            url=url,
            ref=ref,
            message_number=message_number,
        )
    )
    return paint(f"[{ref}] {label}", *colours) + suffix


def _element(
    element: Any,
    where: _Where | None,
    counter: _Counter,
    paint: _Painter,
    users: Mapping[str, str],
    channels: Mapping[str, str],
) -> str:
    """One interactive or context element as a short piece of text."""
    if not isinstance(element, dict):
        return ""
    kind = element.get("type")
    if kind == "button":
        return _button(element, where, counter, paint)
    if kind in ("mrkdwn", "plain_text"):
        return _text_object(element, users, channels)
    if kind == "image":
        return f"[image: {element.get('alt_text') or 'image'}]"
    placeholder = _text_object(element.get("placeholder"), users, channels)
    initial = element.get("initial_option")
    if isinstance(initial, dict):
        placeholder = _text_object(initial.get("text"), users, channels) or placeholder
    return f"[{placeholder or kind} ▾]"


def _rich_text(element: Any, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    """Flatten a rich_text element tree to plain text."""
    if isinstance(element, list):
        return "".join(_rich_text(item, users, channels) for item in element)
    if not isinstance(element, dict):
        return ""
    kind = element.get("type")
    if kind == "text":
        return str(element.get("text") or "")
    if kind == "user":
        user_id = str(element.get("user_id") or "")
        return "@" + users.get(user_id, user_id)
    if kind == "channel":
        channel_id = str(element.get("channel_id") or "")
        return "#" + channels.get(channel_id, channel_id)
    if kind == "link":
        return str(element.get("text") or element.get("url") or "")
    if kind == "emoji":
        return f":{element.get('name')}:"
    inner = _rich_text(element.get("elements") or [], users, channels)
    return inner + ("\n" if kind in ("rich_text_section", "rich_text_preformatted") else "")


def _input_block(
    block: dict[str, Any],
    view_id: str,
    counter: _Counter,
    paint: _Painter,
    values: Mapping[tuple[str, str], str],
    errors: Mapping[str, str],
) -> list[str]:
    raw = block.get("element")
    element: dict[str, Any] = raw if isinstance(raw, dict) else {}
    block_id = str(block.get("block_id") or "")
    action_id = str(element.get("action_id") or "")
    label = _text_object(block.get("label"), {}, {}) or block_id
    optional = " (optional)" if block.get("optional") else ""
    number = len(counter.fields) + 1
    typed = values.get((block_id, action_id))
    kind = str(element.get("type") or "plain_text_input")
    if kind in ("static_select", "radio_buttons"):
        options: list[tuple[str, str]] = []
        for option in element.get("options") or []:
            if isinstance(option, dict):
                value = str(option.get("value") or "")
                options.append((value, _text_object(option.get("text"), {}, {}) or value))
        initial_option = element.get("initial_option")
        initial = (
            str(initial_option.get("value"))
            if isinstance(initial_option, dict) and initial_option.get("value") is not None
            else None
        )
        chosen = typed if typed is not None else initial
        shown = next((text for value, text in options if value == chosen), chosen or "choose")
        choices = ", ".join(text for _, text in options)
        counter.fields.append(
            FieldRef(number, view_id, block_id, action_id, "select", label, tuple(options), initial)
        )
        line = f"({number}) {label}{optional}: {paint(shown, _BOLD)} ▾   choices: {choices}"
    else:
        counter.fields.append(FieldRef(number, view_id, block_id, action_id, "text", label))
        shown = typed if typed else _EMPTY_INPUT
        line = f"({number}) {label}{optional}: {paint(shown, _BOLD)}"
    lines = [line]
    hint = _text_object(block.get("hint"), {}, {})
    if hint:
        lines.append(paint(_INDENT + hint, _DIM))
    if block_id in errors:
        lines.append(paint(f"{_INDENT}⚠ {errors[block_id]}", _YELLOW))
    return lines


def render_blocks(
    blocks: Sequence[Any],
    *,
    users: Mapping[str, str] | None = None,
    channels: Mapping[str, str] | None = None,
    colour: bool = False,
) -> list[str]:
    """Block Kit blocks as lines of text (no indentation of their own).

    Sections show their text then their fields one per line; context lines are indented by two
    more spaces (dimmed with ``colour``); buttons are shown as ``[Label]`` with their style
    (numbering needs a whole screen: see :func:`render_screen`). Unknown blocks are named.
    """
    return _blocks(blocks, users or {}, channels or {}, _Painter(colour), _Counter(), None)


def _blocks(
    blocks: Sequence[Any],
    users: Mapping[str, str],
    channels: Mapping[str, str],
    paint: _Painter,
    counter: _Counter,
    where: _Where | None,
) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "section":
            text = _text_object(block.get("text"), users, channels)
            if text:
                lines.extend(text.split("\n"))
            for item in block.get("fields") or []:
                lines.extend(_text_object(item, users, channels).split("\n"))
            accessory = block.get("accessory")
            if isinstance(accessory, dict):
                lines.append(_element(accessory, where, counter, paint, users, channels))
        elif kind == "context":
            parts = [
                _element(element, None, counter, paint, users, channels)
                for element in block.get("elements") or []
            ]
            text = "  ".join(part for part in parts if part)
            lines.extend(paint(_INDENT + line, _DIM) for line in text.split("\n"))
        elif kind == "actions":
            parts = [
                _element(element, where, counter, paint, users, channels)
                for element in block.get("elements") or []
            ]
            lines.append("   ".join(part for part in parts if part))
        elif kind == "header":
            lines.append(paint(_text_object(block.get("text"), users, channels), _BOLD))
        elif kind == "divider":
            lines.append("─" * 24)
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text') or 'image'}]")
        elif kind == "rich_text":
            lines.extend(
                _rich_text(block.get("elements") or [], users, channels).rstrip("\n").split("\n")
            )
        elif kind == "input":
            lines.append(f"[input: {_text_object(block.get('label'), users, channels)}]")
        else:
            lines.append(f"({kind} block)")
    return lines


def _author(
    user: str | None, ws: Workspace, paint: _Painter, *, edited: bool, only_for: str | None
) -> str:
    name = APP_NAME if user is None else ws.users.get(user, user)
    line = paint(name, _BOLD, _CYAN if user is None else _GREEN)
    if only_for is not None:
        line += " " + paint(f"(only visible to @{ws.users.get(only_for, only_for)})", _YELLOW)
    if edited:
        line += " " + paint("(edited)", _DIM)
    return line


def _body(
    text: str,
    blocks: Sequence[Any],
    ws: Workspace,
    counter: _Counter,
    paint: _Painter,
    where: _Where,
) -> list[str]:
    if blocks:
        lines = _blocks(blocks, ws.users, ws.channels, paint, counter, where)
    else:
        lines = render_mrkdwn(text, ws.users, ws.channels).split("\n")
    return _lines("\n".join(lines), _INDENT)


def _message(
    item: Message | Ephemeral, ws: Workspace, counter: _Counter, paint: _Painter
) -> list[str]:
    if isinstance(item, Ephemeral):
        head = _author(None, ws, paint, edited=False, only_for=item.user)
        where = _Where(item.channel, item.ts, True, item.user)
    else:
        author = None if item.bot else item.user
        head = _author(author, ws, paint, edited=item.edited, only_for=None)
        where = _Where(item.channel, item.ts, False, None)
    return [head, *_body(item.text, item.blocks, ws, counter, paint, where)]


def _modal(view: OpenView, ws: Workspace, counter: _Counter, paint: _Painter) -> list[str]:
    spec = view.view
    title = _text_object(spec.get("title"), {}, {}) or "Modal"
    owner = ws.users.get(view.user, view.user)
    lines = [paint(f"┌ modal: {title}", _BOLD) + f" (open for @{owner})"]
    values = ws.form_values.get(view.id, {})
    errors = ws.view_errors.get(view.id, {})
    body: list[str] = []
    for block in spec.get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "input":
            body.extend(_input_block(block, view.id, counter, paint, values, errors))
        else:
            body.extend(_blocks([block], ws.users, ws.channels, paint, counter, None))
    footer: list[str] = []
    if spec.get("submit"):
        footer.append(paint(f"[submit: {_text_object(spec['submit'], {}, {})}]", _BOLD))
    close = _text_object(spec.get("close"), {}, {}) if spec.get("close") else "Close"
    footer.append(f"[close: {close}]")
    body.append("   ".join(footer))
    lines.extend(_lines("\n".join(body), "│ "))
    lines.append("└")
    return lines


def _header(ws: Workspace, paint: _Painter) -> str:
    channel = ws.channel
    if channel.kind == "im":
        title = f"direct message {channel.name}"
    else:
        title = f"#{channel.name}" + (" (private)" if channel.kind == "private" else "")
    if channel.archived:
        title += " (archived)"
    return paint(title, _BOLD) + "\n" + "─" * max(len(title), 24)


def _has_buttons(blocks: Sequence[Any]) -> bool:
    """True when ``blocks`` hold a clickable button (one with an ``action_id``)."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        if block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        if any(
            isinstance(e, dict) and e.get("type") == "button" and e.get("action_id")
            for e in elements
        ):
            return True
    return False


def _sort_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = ts.partition(".")
    try:
        return int(seconds), int(fraction.ljust(6, "0")[:6] or "0")
    except ValueError:
        return (0, 0)


def render_screen(
    ws: Workspace,
    *,
    viewer: str | None = None,
    show_ephemerals: bool = True,
    show_views: bool = True,
    colour: bool = False,
    message_numbers: dict[str, int] | None = None,
) -> Screen:
    """Render the channel of ``ws`` as ``viewer`` sees it.

    ``viewer`` is a user ID: only that user's ephemerals and modals are shown. With None, every
    user's ephemerals and modals are shown (each marked with who sees it), the narrator's view
    used by the demo. ``show_ephemerals=False`` / ``show_views=False`` hide them, giving what
    every channel member sees. Buttons are numbered ``[1]``, ``[2]``… in display order across
    the screen; modal fields ``(1)``, ``(2)``…

    ``message_numbers`` turns on per-message numbering, which stays stable while messages
    come, change and go: each message with buttons gets a number the first time it is seen
    (in time order), recorded in this dict (the caller keeps it between renders), and its
    buttons are shown ``[2.1]``, ``[2.2]``… A number is never reused.
    """
    paint = _Painter(colour)
    counter = _Counter(message_numbers=message_numbers)
    channel_id = ws.channel.id
    messages = [m for m in ws.messages if m.channel == channel_id]
    ephemerals = [
        e
        for e in ws.ephemerals
        if show_ephemerals and e.channel == channel_id and (viewer is None or e.user == viewer)
    ]
    parents = {m.ts for m in messages if m.thread_ts is None}
    reply_parent = {m.ts: m.thread_ts for m in messages if m.thread_ts is not None}

    def parent_of(thread_ts: str | None) -> str | None:
        if thread_ts is None:
            return None
        thread_ts = reply_parent.get(thread_ts) or thread_ts
        return thread_ts if thread_ts in parents else None

    top: list[Message | Ephemeral] = []
    threads: dict[str, list[Message | Ephemeral]] = {}
    items: list[Message | Ephemeral] = [*messages, *ephemerals]
    for item in items:
        parent = parent_of(item.thread_ts)
        if parent is None:
            top.append(item)
        else:
            threads.setdefault(parent, []).append(item)
    top.sort(key=lambda item: _sort_key(item.ts))
    if message_numbers is not None:
        for item in sorted(items, key=lambda item: _sort_key(item.ts)):
            key = ("eph:" if isinstance(item, Ephemeral) else "msg:") + item.ts
            if key not in message_numbers and _has_buttons(item.blocks):
                message_numbers[key] = max(message_numbers.values(), default=0) + 1

    entries: list[Entry] = []
    for item in top:
        lines = _message(item, ws, counter, paint)
        replies = sorted(threads.get(item.ts, []), key=lambda reply: _sort_key(reply.ts))
        if replies and not isinstance(item, Ephemeral):
            count = sum(1 for reply in replies if isinstance(reply, Message))
            noun = "reply" if count == 1 else "replies"
            thread_lines = [paint(f"thread ({count} {noun})" if count else "thread", _DIM)]
            for reply in replies:
                thread_lines.extend(_message(reply, ws, counter, paint))
            lines.extend(_THREAD_RULE + line for line in thread_lines)
        key = ("eph:" if isinstance(item, Ephemeral) else "msg:") + item.ts
        entries.append(Entry(key, "\n".join(lines)))

    if show_views:
        for view in ws.views:
            if view.closed or (viewer is not None and view.user != viewer):
                continue
            entries.append(Entry(f"view:{view.id}", "\n".join(_modal(view, ws, counter, paint))))

    return Screen(
        header=_header(ws, paint),
        entries=tuple(entries),
        buttons=tuple(counter.buttons),
        fields=tuple(counter.fields),
    )
