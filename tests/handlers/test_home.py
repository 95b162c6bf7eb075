"""The App Home listener's publisher with a real store and a real (unreachable or fake) Slack."""

from __future__ import annotations

import logging

import httpx
import pytest
from slack_sdk import WebClient

from bot.clock import utcnow
from bot.coveo import CoveoClient
from bot.emulator.slack import FakeSlack
from handlers.delivery import Delivery
from handlers.deps import Actor, Deps
from handlers.home import HomePublisher, from_home, link_form_from_home
from storage import Store

ALICE = Actor(workspace="T1", team_id="T1", user_id="U0ALICE0001", channel_id="", response_url=None)


def _deps(store: Store, client: WebClient) -> Deps:
    coveo = CoveoClient(httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))))
    return Deps(store=store, coveo=coveo, delivery=Delivery(client), confirm_timeout=120)


def test_unreachable_slack_is_logged_and_reported_false(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    client = WebClient(token="xoxb-test-home", base_url="http://127.0.0.1:9/", timeout=1)
    with caplog.at_level(logging.WARNING, logger="handlers.home"):
        assert HomePublisher(_deps(store, client)).publish(ALICE) is False
    assert "views.publish for U0ALICE0001 failed" in caplog.text
    assert "xoxb-test-home" not in caplog.text


def test_a_non_user_id_is_not_published(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    client = WebClient(token="xoxb-test-home", base_url="http://127.0.0.1:9/", timeout=1)
    bad = Actor(workspace="T1", team_id="T1", user_id="<@U1>", channel_id="", response_url=None)
    with caplog.at_level(logging.WARNING, logger="handlers.home"):
        assert HomePublisher(_deps(store, client)).publish(bad) is False
    assert "not a Slack user ID" in caplog.text


def test_publish_sends_the_users_home_to_slack(store: Store) -> None:
    with FakeSlack(signing_secret="s3", bot_token="xoxb-test-home") as fake:
        fake.add_user(ALICE.user_id, "alice")
        client = WebClient(token="xoxb-test-home", base_url=fake.api_url)
        store.save_link(
            workspace="T1",
            user_id=ALICE.user_id,
            token="tok-1",
            region="eu",
            coveo_username="alice-sso",
            coveo_email="alice@example.com",
            expires_at=None,
            now=utcnow(),
        )
        assert HomePublisher(_deps(store, client)).publish(ALICE) is True
        home = fake.home(ALICE.user_id)
        assert home is not None and home.view["type"] == "home"
        assert "alice@example.com" in str(home.view["blocks"])
        assert "tok-1" not in str(home.view)


def test_click_and_submission_origin_matchers() -> None:
    assert from_home({"container": {"type": "view"}, "view": {"type": "home"}})
    assert not from_home({"container": {"type": "view"}, "view": {"type": "modal"}})
    assert not from_home({"container": {"type": "message"}})
    assert link_form_from_home({"private_metadata": '{"origin": "home"}'})
    assert not link_form_from_home({"private_metadata": '{"channel_id": "C1"}'})
    assert not link_form_from_home({"private_metadata": "not json"})
    assert not link_form_from_home({})
