"""Unit tests of the pure Block Kit builders in ``handlers.blocks``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.coveo import Organization
from handlers.blocks import (
    build_final_card,
    build_link_modal,
    build_preview_card,
    build_status,
    slack_date,
)
from handlers.ids import (
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_REGION,
    ACTION_TOKEN,
    BLOCK_REGION,
    BLOCK_TOKEN,
    VIEW_LINK,
)
from handlers.messages import BACKUP_NOTE
from storage import DeletionRequest, Link

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
REQUESTER = "U0ALICE0001"


def make_request(**changes: Any) -> DeletionRequest:
    request = DeletionRequest(
        id="req-4f9c2a",
        workspace="T0WORKSPACE",
        team_id="T0WORKSPACE",
        requester_id=REQUESTER,
        channel_id="C0GENERAL01",
        org_id="acme42",
        org_name="ACME Production",
        org_type="Production",
        region="eu",
        state="pending",
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=2),
        updated_at=NOW,
        card_ts=None,
        delivery="channel",
        response_url=None,
        decided_by=None,
        decided_at=None,
        attempted_at=None,
        http_status=None,
        coveo_request_id=None,
        error_code=None,
        error_detail=None,
    )
    return replace(request, **changes)


def make_org(**changes: Any) -> Organization:
    org = Organization(
        id="acme42",
        display_name="ACME Production",
        type="Production",
        owner_email="owner@example.com",
        created_at=datetime(2016, 4, 15, 7, 35, 26, tzinfo=UTC),
        read_only=False,
        paused=False,
        life_cycle_state="ACTIVE",
        product_type="STANDARD",
    )
    return replace(org, **changes)


def make_link(**changes: Any) -> Link:
    link = Link(
        workspace="T0WORKSPACE",
        user_id=REQUESTER,
        token="xx-secret-token",
        region="eu",
        coveo_username="alice@example.com-google",
        coveo_email="alice@example.com",
        linked_at=NOW,
        expires_at=NOW + timedelta(hours=4),
        status="active",
    )
    return replace(link, **changes)


def texts(node: Any) -> Iterator[str]:
    """Every ``text`` string anywhere in a block structure."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from texts(item)


def all_text(blocks: Any) -> str:
    return "\n".join(texts(blocks))


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [block["text"]["text"] for block in blocks if block["type"] == "section"]


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "button"
    ]


# --- preview card -------------------------------------------------------------------------


def test_preview_card_has_danger_confirm_with_dialog_and_cancel() -> None:
    request = make_request()
    blocks = build_preview_card(request, make_org())
    actions = [block for block in blocks if block["type"] == "actions"]
    assert len(actions) == 1
    confirm, cancel = buttons(blocks)

    assert confirm["action_id"] == ACTION_CONFIRM
    assert confirm["style"] == "danger"
    assert confirm["value"] == request.id
    dialog = confirm["confirm"]
    assert set(dialog) >= {"title", "text", "confirm", "deny"}
    # One consistent statement (not "deleted permanently" then "can restore it within 30 days").
    assert dialog["text"]["text"].endswith(
        "will be deleted. Coveo keeps a backup for 30 days; only Coveo Support can restore it."
    )
    assert "permanently" not in dialog["text"]["text"]
    assert dialog["style"] == "danger"
    assert "acme42" in dialog["text"]["text"]
    assert "30 days" in dialog["text"]["text"]

    assert cancel["action_id"] == ACTION_CANCEL
    assert cancel["value"] == request.id
    assert cancel.get("style") != "danger"
    assert "confirm" not in cancel


def test_preview_card_buttons_carry_only_the_request_id() -> None:
    request = make_request(id="opaque-123")
    for button in buttons(build_preview_card(request, make_org())):
        assert button["value"] == "opaque-123"
        assert "acme42" not in button["value"]


def test_preview_card_shows_the_facts() -> None:
    request = make_request()
    text = all_text(build_preview_card(request, make_org()))
    assert "`acme42`" in text
    assert "ACME Production" in text
    assert "*Type:* Production" in text
    assert "*Owner:* owner@example.com" in text
    assert "*Region:* EU" in text
    assert BACKUP_NOTE in text
    assert "30 days" in text
    assert f"<@{REQUESTER}>" in text
    assert f"<!date^{int(request.expires_at.timestamp())}^" in text
    assert "<!date^" in text


@pytest.mark.parametrize(
    ("org", "state"),
    [
        (make_org(read_only=True), "read-only"),
        (make_org(life_cycle_state="PAUSED", paused=True), "paused"),
        (make_org(life_cycle_state=None), "active"),
    ],
)
def test_preview_card_state_line(org: Organization, state: str) -> None:
    assert f"*State:* {state}" in all_text(build_preview_card(make_request(), org))


def test_preview_card_without_created_date_or_owner() -> None:
    text = all_text(build_preview_card(make_request(), make_org(created_at=None, owner_email=None)))
    assert "*Created:* —" in text
    assert "*Owner:* —" in text


HOSTILE = "<!channel> <@U0EVIL00001> <!here|here> & <https://evil.example|click>"


@pytest.mark.parametrize(
    "changes",
    [
        {"org_name": HOSTILE},
        {"org_type": HOSTILE},
    ],
)
def test_preview_card_escapes_coveo_text(changes: dict[str, str]) -> None:
    blocks = build_preview_card(make_request(**changes), make_org(owner_email=HOSTILE))
    dumped = json.dumps(blocks)
    for raw in ("<!channel>", "<@U0EVIL00001>", "<!here|here>", "<https://evil.example|click>"):
        assert raw not in dumped
    assert "&lt;!channel&gt;" in dumped
    assert " &amp; " in dumped


def test_preview_card_clips_very_long_names() -> None:
    name = "N" * 10_000
    blocks = build_preview_card(make_request(org_name=name), make_org())
    dumped = json.dumps(blocks, ensure_ascii=False)
    assert "N" * 151 not in dumped
    facts = section_texts(blocks)[1]
    name_line = next(line for line in facts.splitlines() if line.startswith("*Name:*"))
    assert name_line.endswith("…")
    assert len(name_line) <= len("*Name:* ") + 150
    for text in texts(blocks):
        assert len(text) <= 3000


@pytest.mark.parametrize(
    ("org_id", "name"),
    [
        ("acme42", "ACME Production"),
        ("a" * 100, "N" * 500),
        ("a" * 100, "R&D " * 200),
        ("acme42", "<" * 500),
    ],
    ids=["normal", "long-id-long-name", "long-id-ampersands", "angle-brackets"],
)
def test_preview_card_within_slack_limits(org_id: str, name: str) -> None:
    # docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object:
    # title 100, text 300, confirm/deny 30 characters; button text 75, value 2000.
    blocks = build_preview_card(make_request(org_id=org_id, org_name=name), make_org())
    confirm, cancel = buttons(blocks)
    dialog = confirm["confirm"]
    assert len(dialog["title"]["text"]) <= 100
    assert len(dialog["confirm"]["text"]) <= 30
    assert len(dialog["deny"]["text"]) <= 30
    for button in (confirm, cancel):
        assert len(button["text"]["text"]) <= 75
        assert len(button["value"]) <= 2000
    assert len(dialog["text"]["text"]) <= 300


def test_preview_card_is_json_serialisable() -> None:
    blocks = build_preview_card(make_request(), make_org())
    assert json.loads(json.dumps(blocks)) == blocks


# --- final card ---------------------------------------------------------------------------


def test_final_card_has_no_actions() -> None:
    request = make_request(state="deleted")
    blocks = build_final_card(request, ":white_check_mark: Deleted by <@U0ALICE0001>.")
    assert all(block["type"] != "actions" for block in blocks)
    assert buttons(blocks) == []
    assert "button" not in json.dumps(blocks)
    text = all_text(blocks)
    assert "`acme42`" in text
    assert "Deleted by <@U0ALICE0001>." in text
    assert "*Region:* EU" in text


def test_final_card_escapes_the_name() -> None:
    blocks = build_final_card(make_request(org_name="<!channel>"), "Cancelled.")
    assert "<!channel>" not in json.dumps(blocks)


# --- link modal ---------------------------------------------------------------------------


def _find_block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(block for block in view["blocks"] if block.get("block_id") == block_id)


@pytest.mark.parametrize("region", ["us", "eu", "au", "ca", "hipaa"])
def test_link_modal_structure(region: str) -> None:
    metadata = {"channel_id": "C0GENERAL01", "response_url": "https://hooks.slack.com/x/y"}
    view = build_link_modal(private_metadata=metadata, region=region)

    assert view["type"] == "modal"
    assert view["callback_id"] == VIEW_LINK
    assert len(view["title"]["text"]) <= 24
    assert json.loads(view["private_metadata"]) == metadata

    token = _find_block(view, BLOCK_TOKEN)
    assert token["type"] == "input"
    assert token["element"]["type"] == "plain_text_input"
    assert token["element"]["action_id"] == ACTION_TOKEN

    select = _find_block(view, BLOCK_REGION)["element"]
    assert select["type"] == "static_select"
    assert select["action_id"] == ACTION_REGION
    assert [option["text"]["text"] for option in select["options"]] == [
        "US",
        "EU",
        "AU",
        "CA",
        "HIPAA",
    ]
    assert [option["value"] for option in select["options"]] == ["us", "eu", "au", "ca", "hipaa"]
    assert select["initial_option"]["value"] == region
    assert select["initial_option"] in select["options"]


def test_link_modal_default_region_is_us() -> None:
    view = build_link_modal(private_metadata={})
    assert _find_block(view, BLOCK_REGION)["element"]["initial_option"]["value"] == "us"


def test_link_modal_metadata_round_trips_awkward_values() -> None:
    metadata = {"channel_id": "C1", "note": 'quotes " and \\ and <!channel> and é'}
    view = build_link_modal(private_metadata=metadata)
    assert json.loads(view["private_metadata"]) == metadata


def test_link_modal_metadata_over_3000_characters_is_refused() -> None:
    with pytest.raises(ValueError):
        build_link_modal(private_metadata={"response_url": "x" * 3000})


def test_link_modal_metadata_just_under_the_limit_is_accepted() -> None:
    overhead = len(json.dumps({"k": ""}))
    view = build_link_modal(private_metadata={"k": "x" * (3000 - overhead)})
    assert len(view["private_metadata"]) == 3000


def test_link_modal_error_is_shown() -> None:
    with_error = build_link_modal(private_metadata={}, error="Coveo refused this token.")
    without = build_link_modal(private_metadata={})
    assert ":warning: Coveo refused this token." in all_text(with_error)
    assert ":warning:" not in all_text(without)
    assert len(with_error["blocks"]) == len(without["blocks"]) + 1


# --- status -------------------------------------------------------------------------------


def test_status_not_linked() -> None:
    text = build_status(None)
    assert "not linked" in text
    assert "/delete-org link" in text


def test_status_active_with_expiry() -> None:
    link = make_link()
    assert link.expires_at is not None
    text = build_status(link)
    assert "Linked as alice@example.com (region EU)" in text
    assert "alice@example.com-google" in text
    assert f"Token expires <!date^{int(link.expires_at.timestamp())}^" in text
    assert f"<!date^{int(link.linked_at.timestamp())}^" in text
    assert ":warning:" not in text


def test_status_active_without_expiry() -> None:
    text = build_status(make_link(expires_at=None, coveo_email=None))
    assert "Token expiry: unknown" in text
    assert "Linked as alice@example.com-google (region EU)" in text
    assert ":warning:" not in text


def test_status_invalid_link() -> None:
    text = build_status(make_link(status="invalid"))
    assert ":warning:" in text
    assert "/delete-org link" in text


def test_status_escapes_identity() -> None:
    text = build_status(make_link(coveo_username="<!channel>", coveo_email="<@U0EVIL00001>"))
    assert "<!channel>" not in text
    assert "<@U0EVIL00001>" not in text


def test_status_never_shows_the_token() -> None:
    assert "xx-secret-token" not in build_status(make_link())


# --- shared limits and helpers ------------------------------------------------------------


def test_slack_date_token() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert slack_date(moment) == (
        f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|2026-01-02 03:04 UTC>"
    )


@pytest.mark.parametrize(
    "blocks",
    [
        build_preview_card(make_request(org_name="&" * 5000, org_type="<" * 5000), make_org()),
        build_preview_card(make_request(), make_org(owner_email="&" * 5000)),
        build_final_card(make_request(org_name="<" * 5000), "x" * 5000),
        build_link_modal(private_metadata={}, error="e" * 5000)["blocks"],
    ],
    ids=["preview-name-type", "preview-owner", "final", "modal"],
)
def test_every_section_and_context_text_is_at_most_3000(blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            for element in block["elements"]:
                assert len(element["text"]) <= 3000
