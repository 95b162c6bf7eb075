"""The App Home end to end: signed ``app_home_opened`` events and Home clicks over real HTTP to
the real app, which publishes with ``views.publish`` to the fake Slack."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ALICE, BOB, CHANNEL, Harness, build_harness

from bot.emulator.harness import LocalStack, sign_in_url
from bot.emulator.slack import FakeSlack
from handlers.ids import (
    ACTION_OPEN_LINK,
    ACTION_REGION,
    ACTION_SIGN_IN_REGION,
    ACTION_TOKEN,
    ACTION_UNLINK,
    BLOCK_REGION,
    BLOCK_TOKEN,
    VIEW_HOME,
    VIEW_LINK,
)
from tests.handlers.test_blocks import all_text

ORG = "exampleprodus4k7q2m"


def home_text(slack: FakeSlack, user: str) -> str:
    home = slack.home(user)
    assert home is not None
    return all_text(home.view["blocks"])


def wait_publishes(slack: FakeSlack, user: str, count: int) -> str:
    """Wait until ``count`` Homes were published for ``user``; the latest one's text."""
    slack.wait_for(lambda: len(slack.homes(user)) >= count)
    return home_text(slack, user)


def submit_link_form(e2e: Harness, user: str, token_name: str) -> None:
    view = e2e.slack.wait_for(
        lambda: [
            v
            for v in e2e.slack.views(user, open_only=True)
            if v.view.get("callback_id") == VIEW_LINK
        ]
    )[-1]
    e2e.slack.submit_view(
        user,
        view.id,
        {BLOCK_TOKEN: {ACTION_TOKEN: e2e.tokens[token_name]}, BLOCK_REGION: {ACTION_REGION: "us"}},
    )


def test_opening_the_home_publishes_it_for_that_user(e2e: Harness) -> None:
    response = e2e.slack.open_home(ALICE)
    assert response.status == 200

    text = wait_publishes(e2e.slack, ALICE, 1)
    home = e2e.slack.home(ALICE)
    assert home is not None and home.view["type"] == "home"
    assert home.view["callback_id"] == VIEW_HOME
    assert "You have not linked a Coveo account" in text
    assert "No deletion requests yet" in text
    assert "*not frozen*" in text
    assert "Operations" not in text  # the default policy names no admins
    assert e2e.slack.home(BOB) is None
    (call,) = e2e.slack.calls("views.publish")
    assert call.params["user_id"] == ALICE


def test_messages_tab_publishes_nothing(e2e: Harness) -> None:
    assert e2e.slack.open_home(ALICE, tab="messages").status == 200
    e2e.slack.open_home(BOB)
    wait_publishes(e2e.slack, BOB, 1)
    assert e2e.slack.home(ALICE) is None


def test_link_from_the_home_then_requests_then_unlink_republish_the_home(e2e: Harness) -> None:
    e2e.slack.open_home(ALICE)
    wait_publishes(e2e.slack, ALICE, 1)

    e2e.slack.click_home(ALICE, ACTION_OPEN_LINK)
    submit_link_form(e2e, ALICE, "admin_us")
    text = wait_publishes(e2e.slack, ALICE, 2)
    assert "alice@example.com" in text and "pasted access token" in text
    assert not [t for t in e2e.ephemeral_texts(ALICE) if "Linked as" in t]  # told on the Home

    card = e2e.request_card(ALICE, ORG)
    e2e.slack.open_home(ALICE)
    text = wait_publishes(e2e.slack, ALICE, 3)
    permalink = f"https://fake.slack.test/archives/{CHANNEL}/p{card.ts.replace('.', '')}"
    assert f"<{permalink}|card and thread>" in text
    assert f"`{ORG}`" in text and "waiting for your confirmation" in text

    e2e.slack.click_home(ALICE, ACTION_OPEN_LINK)  # Relink: the same form
    submit_link_form(e2e, ALICE, "admin_us")
    wait_publishes(e2e.slack, ALICE, 4)

    e2e.slack.click_home(ALICE, ACTION_UNLINK)
    text = wait_publishes(e2e.slack, ALICE, 5)
    assert "You have not linked a Coveo account" in text
    assert e2e.store.get_link("T0TEST0001", ALICE) is None
    assert "unlinked" in [event.event for event in e2e.store.audit_events()]


def test_a_refused_publish_is_logged_and_nothing_reaches_the_user(
    e2e: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    e2e.slack.fail_method("views.publish", "internal_error")
    with caplog.at_level(logging.WARNING, logger="handlers.home"):
        assert e2e.slack.open_home(ALICE).status == 200
        e2e.slack.wait_for(lambda: [r for r in caplog.records if "views.publish" in r.getMessage()])
    assert "internal_error" in caplog.text
    assert e2e.slack.home(ALICE) is None
    assert e2e.slack.ephemerals(ALICE) == []
    assert "Traceback" not in caplog.text


@pytest.fixture
def admin_e2e(tmp_path: Path) -> Iterator[Harness]:
    (tmp_path / "policy.toml").write_text(
        f'[admins]\nusers = ["{BOB}"]\n[typed_confirmation]\ntypes = []\nproduct_types = []\n'
    )
    yield from build_harness(tmp_path)


def test_admins_also_see_the_outbox_and_live_cards(admin_e2e: Harness) -> None:
    admin_e2e.link(ALICE, "admin_us")
    admin_e2e.request_card(ALICE, ORG)
    admin_e2e.slack.send_command(BOB, CHANNEL, "freeze incident 42")
    admin_e2e.slack.wait_for(admin_e2e.store.freeze_state)

    admin_e2e.slack.open_home(BOB)
    text = wait_publishes(admin_e2e.slack, BOB, 1)
    assert "Operations (admins)" in text
    assert "Live cards:* 1" in text and "Outbox:*" in text
    assert f"frozen* by <@{BOB}>" in text and "incident 42" in text

    admin_e2e.slack.open_home(ALICE)
    text = wait_publishes(admin_e2e.slack, ALICE, 1)
    assert "Operations" not in text and "frozen" in text


def test_sign_in_from_the_home_shows_the_button_then_the_link() -> None:
    with LocalStack(confirm_timeout=60) as stack:
        slack = stack.slack
        slack.open_home(ALICE)
        wait_publishes(slack, ALICE, 1)

        slack.click_home(ALICE, ACTION_SIGN_IN_REGION + "eu")
        slack.wait_for(lambda: len(slack.homes(ALICE)) >= 2)
        home = slack.home(ALICE)
        assert home is not None
        url = sign_in_url(home.view["blocks"])
        assert url

        page = stack.follow_sign_in(url, "admin_eu")
        assert page.status == 200
        text = wait_publishes(slack, ALICE, 3)
        assert "*How* Sign in with Coveo" in text and "*Region* EU" in text
        final = slack.home(ALICE)
        assert final is not None
        assert ACTION_UNLINK in str(final.view["blocks"])
        assert slack.calls("chat.postEphemeral") == []  # nothing posted: the Home says it
