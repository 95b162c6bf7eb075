"""The terminal renderer of the fake Slack workspace, on hand-built messages (no servers)."""

from __future__ import annotations

from typing import Any

from bot.emulator.render import Screen, Workspace, render_blocks, render_mrkdwn, render_screen
from bot.emulator.slack import Channel, Ephemeral, Message, OpenView

ALICE = "U0ALICE0001"
BOB = "U0BOB000001"
GENERAL = Channel(id="C0GENERAL01", name="general")
USERS = {ALICE: "alice", BOB: "bob"}
CHANNELS = {"C0GENERAL01": "general", "C0RANDOM001": "random"}


def _msg(ts: str, text: str = "", blocks: list[dict[str, Any]] | None = None, **kw: Any) -> Message:
    fields: dict[str, Any] = {
        "channel": GENERAL.id,
        "ts": ts,
        "text": text,
        "blocks": blocks or [],
        "user": None,
        "bot": True,
        "thread_ts": None,
        "via": "api",
    }
    fields.update(kw)
    return Message(**fields)


def _eph(
    ts: str,
    user: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    thread_ts: str | None = None,
) -> Ephemeral:
    return Ephemeral(
        channel=GENERAL.id,
        user=user,
        text=text,
        blocks=blocks or [],
        ts=ts,
        thread_ts=thread_ts,
        response_url="http://127.0.0.1:1/hooks/x",
    )


def _ws(**kw: Any) -> Workspace:
    return Workspace(channel=GENERAL, users=USERS, channels=CHANNELS, **kw)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _buttons(*specs: tuple[str, str, str | None]) -> dict[str, Any]:
    elements = []
    for action_id, label, style in specs:
        element: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "text": {"type": "plain_text", "text": label},
            "value": "v",
        }
        if style:
            element["style"] = style
        elements.append(element)
    return {"type": "actions", "elements": elements}


# -- mrkdwn ---------------------------------------------------------------------------------------


def test_user_and_channel_mentions_become_names() -> None:
    text = "<@U0ALICE0001> asked <@U0BOB000001|bobby> in <#C0GENERAL01> and <#C0RANDOM001|random>"
    assert render_mrkdwn(text, USERS, CHANNELS) == "@alice asked @bob in #general and #random"


def test_unknown_mentions_fall_back_to_label_then_id() -> None:
    assert render_mrkdwn(
        "<@U0NOBODY01|carol> <@U0NOBODY02> <#C0NONE0001|secret> <#C0NONE0002>"
    ) == ("@carol @U0NOBODY02 #secret #C0NONE0002")


def test_dates_show_their_fallback_text() -> None:
    text = "until <!date^1700000000^{time_secs}|2023-11-14 22:13 UTC> (<!date^1700000000^{date_short_pretty} at {time}|2023-11-14 22:13 UTC>)"
    assert render_mrkdwn(text) == "until 2023-11-14 22:13 UTC (2023-11-14 22:13 UTC)"


def test_escapes_are_undone_once_and_markup_inside_text_is_not_invented() -> None:
    assert render_mrkdwn("a &lt;b&gt; &amp; c &amp;lt;d&amp;gt;") == "a <b> & c &lt;d&gt;"
    # an escaped would-be mention stays text, it does not become a mention
    assert render_mrkdwn("&lt;@U0ALICE0001&gt;", USERS) == "<@U0ALICE0001>"


def test_links_special_mentions_and_emoji() -> None:
    text = "<https://example.com/a?b=1&amp;c=2|the docs> <https://example.com> <mailto:x@example.com|x@example.com> <!here> :warning: *bold* `code`"
    assert render_mrkdwn(text) == (
        "the docs (https://example.com/a?b=1&c=2) https://example.com x@example.com @here"
        " :warning: *bold* `code`"
    )


# -- blocks ---------------------------------------------------------------------------------------


def test_blocks_section_fields_context_header_divider_image_and_plain_text() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Title &lt;raw&gt;"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "Hi <@U0ALICE0001>\nsecond line"},
            "fields": [
                {"type": "mrkdwn", "text": "*Owner:* <@U0BOB000001>"},
                {"type": "plain_text", "text": "Region: US"},
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "small &amp; grey"}]},
        {"type": "divider"},
        {"type": "image", "image_url": "https://example.com/i.png", "alt_text": "a chart"},
        {"type": "mystery"},
    ]
    assert render_blocks(blocks, users=USERS) == [
        "Title &lt;raw&gt;",  # plain_text is shown literally
        "Hi @alice",
        "second line",
        "*Owner:* @bob",
        "Region: US",
        "  small & grey",
        "─" * 24,
        "[image: a chart]",
        "(mystery block)",
    ]


def test_render_blocks_shows_buttons_unnumbered() -> None:
    lines = render_blocks([_buttons(("go", "Go", "primary"), ("stop", "Stop", None))])
    assert lines == ["[Go] (primary)   [Stop]"]


# -- screens --------------------------------------------------------------------------------------


def test_a_small_channel_renders_exactly() -> None:
    card = _msg(
        "1700000000.000200",
        "fallback text is not shown when there are blocks",
        [
            _section(":warning: <@U0ALICE0001> asked to *delete* `org-1`."),
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "Only <@U0ALICE0001> can confirm."}],
            },
            _buttons(("confirm", "Confirm deletion", "danger"), ("cancel", "Cancel", None)),
        ],
    )
    reply = _msg("1700000000.000300", "`204 No Content` for <#C0GENERAL01>", thread_ts=card.ts)
    said = _msg("1700000000.000100", "hi &amp; hello", user=BOB, bot=False, via="user")
    screen = render_screen(_ws(messages=[card, reply, said]))
    assert screen.text == (
        "#general\n"
        "────────────────────────\n"
        "bob\n"
        "  hi & hello\n"
        "\n"
        "delete-org-bot\n"
        "  :warning: @alice asked to *delete* `org-1`.\n"
        "    Only @alice can confirm.\n"
        "  [1] Confirm deletion (danger)   [2] Cancel\n"
        "  │ thread (1 reply)\n"
        "  │ delete-org-bot\n"
        "  │   `204 No Content` for #general\n"
    )
    assert "\x1b" not in screen.text
    assert render_screen(_ws(messages=[card, reply, said])) == screen  # deterministic


def test_time_order_threads_and_edited_marker() -> None:
    parent = _msg("1700000000.000100", "parent", edited=True)
    second = _msg("1700000000.000400", "second top-level")
    replies = [
        _msg("1700000000.000300", "reply two", thread_ts=parent.ts),
        _msg("1700000000.000200", "reply one", thread_ts=parent.ts),
    ]
    text = render_screen(_ws(messages=[second, *replies, parent])).text
    assert text.index("parent") < text.index("reply one") < text.index("reply two")
    assert text.index("reply two") < text.index("second top-level")
    assert "delete-org-bot (edited)\n  parent\n  │ thread (2 replies)\n" in text
    assert "  │ delete-org-bot\n  │   reply one\n" in text


def test_ephemerals_are_marked_and_filtered_by_viewer() -> None:
    card = _msg("1700000000.000100", "card")
    for_alice = _eph("1700000000.000200", ALICE, "Linked as alice@example.com (region US)")
    for_bob = _eph("1700000000.000300", BOB, "Only <@U0ALICE0001> can confirm", thread_ts=card.ts)
    ws = _ws(messages=[card], ephemerals=[for_alice, for_bob])

    everyone = render_screen(ws).text
    assert (
        "delete-org-bot (only visible to @alice)\n  Linked as alice@example.com (region US)"
        in everyone
    )
    assert "  │ delete-org-bot (only visible to @bob)\n  │   Only @alice can confirm" in everyone
    assert "  │ thread\n" in everyone  # no real replies, only an ephemeral in the thread

    alice = render_screen(ws, viewer=ALICE).text
    assert "Linked as" in alice and "only visible to @bob" not in alice
    bob = render_screen(ws, viewer=BOB).text
    assert "Linked as" not in bob and "only visible to @bob" in bob
    public = render_screen(ws, show_ephemerals=False).text
    assert "only visible" not in public


def test_buttons_are_numbered_across_the_screen_with_what_a_click_needs() -> None:
    first = _msg(
        "1700000000.000100",
        blocks=[
            _section("one"),
            _buttons(("a", "Confirm deletion", "danger"), ("b", "Cancel", None)),
        ],
    )
    prompt = _eph(
        "1700000000.000200",
        ALICE,
        "link",
        blocks=[
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "Not linked"},
                "accessory": {
                    "type": "button",
                    "action_id": "open",
                    "text": {"type": "plain_text", "text": "Link Coveo account"},
                    "style": "primary",
                },
            }
        ],
    )
    screen = render_screen(_ws(messages=[first], ephemerals=[prompt]), viewer=ALICE)
    assert "[1] Confirm deletion (danger)   [2] Cancel" in screen.text
    assert "[3] Link Coveo account (primary)" in screen.text
    assert [(b.number, b.action_id, b.ephemeral, b.message_ts) for b in screen.buttons] == [
        (1, "a", False, first.ts),
        (2, "b", False, first.ts),
        (3, "open", True, prompt.ts),
    ]
    link = screen.button(3)
    assert link is not None and link.user == ALICE
    assert screen.button(4) is None


def test_a_confirm_dialog_is_kept_on_the_button() -> None:
    confirm = {
        "title": {"type": "plain_text", "text": "Sure?"},
        "confirm": {"type": "plain_text", "text": "Delete"},
    }
    block = _buttons(("a", "Confirm deletion", "danger"))
    block["elements"][0]["confirm"] = confirm
    screen = render_screen(_ws(messages=[_msg("1700000000.000100", blocks=[block])]))
    assert screen.buttons[0].confirm == confirm


def _link_modal(closed: bool = False, user: str = ALICE) -> OpenView:
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Link Coveo account"},
        "submit": {"type": "plain_text", "text": "Link"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _section("Paste *your own* token."),
            {
                "type": "input",
                "block_id": "token",
                "label": {"type": "plain_text", "text": "Coveo access token"},
                "element": {"type": "plain_text_input", "action_id": "token_input"},
            },
            {
                "type": "input",
                "block_id": "region",
                "label": {"type": "plain_text", "text": "Region"},
                "element": {
                    "type": "static_select",
                    "action_id": "region_select",
                    "options": [
                        {"text": {"type": "plain_text", "text": "US"}, "value": "us"},
                        {"text": {"type": "plain_text", "text": "EU"}, "value": "eu"},
                    ],
                    "initial_option": {"text": {"type": "plain_text", "text": "US"}, "value": "us"},
                },
            },
        ],
    }
    return OpenView(id="V0MODAL001", user=user, view=view, trigger_id="t", closed=closed)


def test_open_modal_fields_are_numbered_with_values_and_errors() -> None:
    modal = _link_modal()
    screen = render_screen(_ws(views=[modal]), viewer=ALICE)
    assert screen.text.endswith(
        "┌ modal: Link Coveo account (open for @alice)\n"
        "│ Paste *your own* token.\n"
        "│ (1) Coveo access token: ________\n"
        "│ (2) Region: US ▾   choices: US, EU\n"
        "│ [submit: Link]   [close: Cancel]\n"
        "└\n"
    )
    assert [(f.number, f.kind, f.block_id, f.action_id, f.initial) for f in screen.fields] == [
        (1, "text", "token", "token_input", None),
        (2, "select", "region", "region_select", "us"),
    ]
    assert screen.fields[1].options == (("us", "US"), ("eu", "EU"))

    filled = render_screen(
        _ws(
            views=[modal],
            form_values={
                modal.id: {("token", "token_input"): "abc", ("region", "region_select"): "eu"}
            },
            view_errors={modal.id: {"token": "Coveo refused this token"}},
        ),
        viewer=ALICE,
    ).text
    assert (
        "│ (1) Coveo access token: abc\n│   ⚠ Coveo refused this token\n│ (2) Region: EU ▾"
        in filled
    )


def test_closed_modals_and_other_peoples_modals_are_hidden() -> None:
    assert "modal" not in render_screen(_ws(views=[_link_modal(closed=True)])).text
    assert "modal" not in render_screen(_ws(views=[_link_modal(user=BOB)]), viewer=ALICE).text
    assert "modal" not in render_screen(_ws(views=[_link_modal()]), show_views=False).text
    assert "open for @bob" in render_screen(_ws(views=[_link_modal(user=BOB)])).text


def test_changed_since_lists_new_and_edited_entries_only() -> None:
    card = _msg(
        "1700000000.000100", "card", blocks=[_section("pending"), _buttons(("a", "Go", None))]
    )
    other = _msg("1700000000.000200", "other")
    before = render_screen(_ws(messages=[card, other]))
    assert [e.key for e in before.changed_since(None)] == ["msg:" + card.ts, "msg:" + other.ts]
    assert before.changed_since(before) == []

    done = _msg(card.ts, "card", blocks=[_section("done")], edited=True)
    reply = _msg("1700000000.000300", "outcome", thread_ts=card.ts)
    later = _msg("1700000000.000400", "new")
    after: Screen = render_screen(_ws(messages=[done, other, reply, later]))
    assert [e.key for e in after.changed_since(before)] == ["msg:" + card.ts, "msg:" + later.ts]


def test_colour_is_opt_in() -> None:
    ws = _ws(
        messages=[_msg("1700000000.000100", blocks=[_buttons(("a", "Confirm deletion", "danger"))])]
    )
    plain = render_screen(ws).text
    coloured = render_screen(ws, colour=True).text
    assert "\x1b[" not in plain and "\x1b[" in coloured
    assert "Confirm deletion" in coloured


def test_an_empty_channel_says_so() -> None:
    assert render_screen(_ws()).text == "#general\n────────────────────────\n(nothing here yet)\n"
