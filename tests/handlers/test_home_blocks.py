"""Unit tests of the App Home builders in ``handlers.home_blocks`` (pure: facts in, view out)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.policy import default_policy, parse_policy
from handlers.home_blocks import (
    MAX_BLOCKS,
    MAX_TEXT,
    AdminStats,
    HomeFacts,
    SignInOffer,
    archive_link,
    build_home,
)
from handlers.ids import (
    ACTION_OPEN_LINK,
    ACTION_SIGN_IN,
    ACTION_SIGN_IN_REGION,
    ACTION_UNLINK,
    VIEW_HOME,
)
from storage import DELETED, FAILED
from tests.handlers.test_blocks import NOW, REQUESTER, all_text, make_link, make_request

URL = "https://acme.slack.com/"
ADMIN_POLICY = parse_policy('[admins]\nusers = ["U0ADMIN0001"]\n', "test policy")


def facts(**changes: Any) -> HomeFacts:
    base = HomeFacts(user_id=REQUESTER, now=NOW, policy=default_policy(), workspace_url=URL)
    return replace(base, **changes)


def action_ids(view: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_home_view_is_a_home_with_its_callback_id() -> None:
    view = build_home(facts())
    assert view["type"] == "home"
    assert view["callback_id"] == VIEW_HOME
    json.dumps(view)  # serialisable as views.publish sends it


def test_unlinked_with_pasted_tokens_offers_the_link_form() -> None:
    view = build_home(facts(link=None))
    text = all_text(view)
    assert "You have not linked a Coveo account" in text
    assert action_ids(view) == [ACTION_OPEN_LINK]
    assert ACTION_UNLINK not in action_ids(view)


def test_unlinked_with_sign_in_offers_regions_and_the_paste_option() -> None:
    view = build_home(facts(link=None, sign_in_enabled=True))
    ids = action_ids(view)
    assert ACTION_SIGN_IN_REGION + "us" in ids and ACTION_SIGN_IN_REGION + "eu" in ids
    assert ACTION_OPEN_LINK in ids  # "Paste a token instead"


def test_linked_with_a_pasted_token_shows_identity_region_expiry_and_relink_unlink() -> None:
    link = make_link(region="eu", coveo_email="alice@example.com", coveo_username="alice-sso")
    view = build_home(facts(link=link))
    text = all_text(view)
    assert "alice@example.com" in text and "alice-sso" in text
    assert "EU" in text and "pasted access token" in text
    assert link.expires_at is not None
    assert f"<!date^{int(link.expires_at.timestamp())}^" in text
    assert action_ids(view)[:2] == [ACTION_OPEN_LINK, ACTION_UNLINK]
    unlink = next(
        e
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == ACTION_UNLINK
    )
    assert unlink["style"] == "danger" and "confirm" in unlink  # Slack asks before unlinking


def test_linked_by_sign_in_relinks_with_a_sign_in_for_the_same_region() -> None:
    link = make_link(region="au", auth_kind="oauth", refreshable=True)
    view = build_home(facts(link=link, sign_in_enabled=True))
    text = all_text(view)
    assert "Sign in with Coveo" in text and "renewed automatically" in text
    assert action_ids(view)[:2] == [ACTION_SIGN_IN_REGION + "au", ACTION_UNLINK]


def test_expired_pasted_token_says_so_and_makes_relink_primary() -> None:
    link = make_link(expires_at=NOW - timedelta(minutes=1))
    view = build_home(facts(link=link))
    assert "Expired" in all_text(view)
    relink = next(b for b in view["blocks"] if b["type"] == "actions")["elements"][0]
    assert relink["action_id"] == ACTION_OPEN_LINK and relink["style"] == "primary"


def test_expired_refreshable_token_is_not_shown_as_expired() -> None:
    link = make_link(expires_at=NOW - timedelta(minutes=1), auth_kind="oauth", refreshable=True)
    text = all_text(build_home(facts(link=link, sign_in_enabled=True)))
    assert "Expired" not in text and "renewed automatically" in text


def test_invalid_link_asks_to_relink() -> None:
    view = build_home(facts(link=make_link(status="invalid")))
    assert "Coveo refused this token" in all_text(view)
    assert action_ids(view)[:2] == [ACTION_OPEN_LINK, ACTION_UNLINK]


def test_unreadable_link_asks_to_link_again() -> None:
    view = build_home(facts(link=None, link_unreadable=True))
    assert "cannot be read" in all_text(view)
    assert action_ids(view) == [ACTION_OPEN_LINK]


def test_a_started_sign_in_shows_the_private_sign_in_button() -> None:
    offer = SignInOffer("https://coveo.example/oauth?state=s", "eu", NOW + timedelta(minutes=10))
    view = build_home(facts(link=None, sign_in_enabled=True, sign_in=offer))
    button = next(
        e
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == ACTION_SIGN_IN
    )
    assert button["url"] == offer.url


def test_requests_show_outcome_time_and_a_link_to_the_card_thread() -> None:
    done = make_request(
        id="r1", state=DELETED, card_ts="1700000000.000100", updated_at=NOW, org_id="acme42"
    )
    failed = make_request(id="r2", state=FAILED, error_code="forbidden", card_ts=None)
    private = make_request(id="r3", delivery="response_url", card_ts=None)
    text = all_text(build_home(facts(requests=[done, failed, private])))
    assert "<https://acme.slack.com/archives/C0GENERAL01/p1700000000000100|card and thread>" in text
    assert "*deleted*" in text and "*failed*: forbidden" in text
    assert "in <#C0GENERAL01>" in text  # no ts known: the channel at least
    assert "card posted privately" in text
    assert f"<!date^{int(NOW.timestamp())}^" in text


def test_echoed_request_text_is_escaped() -> None:
    hostile = make_request(org_name="<!channel> & <https://evil.example|click>")
    text = all_text(build_home(facts(requests=[hostile])))
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt; &amp;" in text


def test_no_requests_says_how_to_start_one() -> None:
    text = all_text(build_home(facts(requests=[])))
    assert "No deletion requests yet" in text
    assert "&lt;org-id&gt;" in text  # not Slack markup


def test_many_requests_show_only_the_last_ten() -> None:
    many = [make_request(id=f"r{i}", org_id=f"org{i:02d}") for i in range(25)]
    text = all_text(build_home(facts(requests=many)))
    assert "`org09`" in text and "`org10`" not in text


def test_archive_link_needs_a_url_a_channel_and_a_ts() -> None:
    assert archive_link(URL, "C0GENERAL01", "1700000000.0001") == (
        "https://acme.slack.com/archives/C0GENERAL01/p1700000000000100"
    )
    assert archive_link(None, "C0GENERAL01", "1700000000.000100") is None
    assert archive_link(URL, "C0GENERAL01", None) is None
    assert archive_link(URL, "not a channel", "1700000000.000100") is None
    assert archive_link("javascript:alert(1)/", "C0GENERAL01", "1700000000.000100") is None


def test_admin_sees_outbox_depth_and_live_cards() -> None:
    stats = AdminStats(outbox=(3, NOW - timedelta(minutes=5)), live_cards=2)
    text = all_text(build_home(facts(user_id="U0ADMIN0001", policy=ADMIN_POLICY, admin=stats)))
    assert "Operations (admins)" in text
    assert "3 Slack deliveries waiting" in text and "Live cards:* 2" in text
    assert "You are:* requester, admin" in text


def test_non_admin_sees_no_operations() -> None:
    text = all_text(build_home(facts(policy=ADMIN_POLICY)))
    assert "Operations" not in text and "Outbox" not in text
    assert "not an admin" in text


def test_policy_summary_names_roles_channels_protection_and_caps() -> None:
    policy = parse_policy(
        '[requesters]\nusers = ["U0BOB000001"]\n'
        '[channels]\nallow = ["C0OPS000001"]\nallow_direct_messages = false\n'
        '[protected]\nids = ["globexprod1"]\npatterns = ["*-prod"]\n'
        "[caps]\nper_user_per_hour = 3\n",
        "test policy",
    )
    text = all_text(build_home(facts(policy=policy)))
    assert "*not* a requester" in text
    assert "only <#C0OPS000001>" in text and "direct messages with the app not allowed" in text
    assert "Protected organizations:* 2 ID rules" in text
    assert "3 deletions per hour per person" in text


def test_unknown_user_groups_say_roles_cannot_be_shown() -> None:
    text = all_text(build_home(facts(groups=None)))
    assert "Slack did not say which user groups" in text


def test_frozen_and_not_frozen() -> None:
    frozen = build_home(facts(freeze=("U0ADMIN0001", "incident <!here>", NOW)))
    text = all_text(frozen)
    assert ":snowflake: Deletions are *frozen* by <@U0ADMIN0001>" in text
    assert "&lt;!here&gt;" in text and "<!here>" not in text
    assert "*not frozen*" in all_text(build_home(facts(freeze=None)))


def test_home_at_the_limits_stays_within_slack_limits() -> None:
    """The longest of everything (names, reasons, identities, many requests): at most 100 blocks,
    sections of at most 3,000 characters, headers of at most 150."""
    long = "x" * 5000
    link = make_link(coveo_email=long, coveo_username=long, status="invalid")
    requests = [
        make_request(id=f"r{i}", org_id="o" * 100, org_name=long, state=FAILED, error_code=long)
        for i in range(200)
    ]
    view = build_home(
        facts(
            link=link,
            requests=requests,
            freeze=("U0ADMIN0001", long, NOW),
            user_id="U0ADMIN0001",
            policy=ADMIN_POLICY,
            admin=AdminStats((10**9, NOW), 10**6),
        ),
        limit=len(requests),
    )
    assert len(view["blocks"]) == MAX_BLOCKS
    assert view["blocks"][-1]["type"] == "context"  # the footer survives the cut
    for block in view["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_TEXT
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
    assert len(json.dumps(view)) < 250_000  # Slack's view size limit (view_too_large)
