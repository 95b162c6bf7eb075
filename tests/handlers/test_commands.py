"""``/delete-org`` text parsing: command words, their near misses, and organization IDs."""

from __future__ import annotations

import pytest

from handlers.commands import near_miss, parse_command_text


@pytest.mark.parametrize(
    ("word", "suggested"),
    [
        ("lnk", ["link"]),
        ("lnik", ["link"]),
        ("LINKK", ["link"]),
        ("unlnik", ["unlink"]),
        ("stauts", ["status"]),
        ("stat", ["status"]),
        ("hlep", ["help"]),
        ("polcy", ["policy"]),
        ("freez", ["freeze"]),
        ("unfrezee", ["unfreeze"]),
        ("unfeeze", ["unfreeze"]),
    ],
)
def test_near_misses_of_command_words_are_suggested(word: str, suggested: list[str]) -> None:
    assert near_miss(word) == suggested
    parsed = parse_command_text(word)
    assert parsed.kind == "unknown" and parsed.ref is None  # never sent to Coveo
    assert parsed.reply is not None
    assert "did you mean" in parsed.reply and f"`/delete-org {suggested[0]}`" in parsed.reply
    assert "Admin Console URL" in parsed.reply  # how to name an org with such an ID anyway


@pytest.mark.parametrize(
    "org_id",
    [
        "exampleprodus4k7q2m",  # Coveo's usual shape: name plus random alphanumeric suffix
        "mycoveoorganizationg8tp8wu3",
        "link2",  # a digit: an ID, not a typo
        "status-page",
        "linked",  # two edits from "link": too far for a 4-letter word
        "helpdesk",
        "freezer1",
        "mycoveosearchorg",  # legacy, letters only, far from every command word
        "ab",
    ],
)
def test_valid_looking_organization_ids_are_still_looked_up(org_id: str) -> None:
    assert near_miss(org_id) == []
    parsed = parse_command_text(org_id)
    assert parsed.kind == "delete" and parsed.ref is not None and parsed.ref.org_id == org_id
    assert parsed.reply is None  # "Looking up…" is said after the link and region checks


def test_exact_command_words_are_commands_not_near_misses() -> None:
    for word in ("link", "unlink", "status", "policy", "freeze", "unfreeze", "help", "Status"):
        assert near_miss(word) == []
        assert parse_command_text(word).kind == word.lower()


def test_a_near_miss_with_more_words_is_suggested_too() -> None:
    parsed = parse_command_text("frezee the deploys")
    assert parsed.kind == "unknown" and parsed.reply and "`/delete-org freeze`" in parsed.reply


def test_an_admin_console_url_names_an_org_whose_id_looks_like_a_typo() -> None:
    parsed = parse_command_text("https://platform.cloud.coveo.com/admin/#/lnk/settings")
    assert parsed.kind == "delete" and parsed.ref is not None and parsed.ref.org_id == "lnk"
