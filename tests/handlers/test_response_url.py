"""The response_url rule (30 minutes, 5 posts) and the flow that plans with it: a card posted
through the command's response_url gets a deadline that its expiry can still reach, and when
the URL is dead the requester is told by direct message; freezegun drives the time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import httpx
import pytest
from freezegun import freeze_time
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.clock import utcnow
from bot.coveo import CoveoClient
from bot.orgid import OrgRef
from bot.policy import PolicyHolder
from handlers.deletion import DeletionFlow
from handlers.delivery import Delivery, DeliveryError
from handlers.deps import Actor, Deps
from handlers.errors import report_unexpected
from handlers.messages import INTERNAL_ERROR
from handlers.response_url import (
    LIFETIME_SECONDS,
    MAX_USES,
    UrlBudget,
    capped_timeout,
    usable,
    why_unusable,
)
from storage import Store

T0 = datetime(2026, 12, 3, 9, 0, 0, tzinfo=UTC)
URL = "https://hooks.slack.test/commands/T1/1/secret"
CLICK_URL = "https://hooks.slack.test/actions/T1/2/secret"
ORG = {
    "id": "acmeprod1",
    "displayName": "Acme Production",
    "type": "Sandbox",
    "owner": {"email": "owner@example.com"},
    "createdDate": 1_700_000_000_000,
    "readOnly": False,
    "organizationStatusModel": {"lifeCycleState": "ACTIVE", "paused": False},
}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- the rule ---------------------------------------------------------------------------------


def test_a_url_is_usable_until_its_30_minutes_minus_the_issue_margin() -> None:
    budget = UrlBudget(received_at=T0, uses=0)
    assert LIFETIME_SECONDS == 1800 and MAX_USES == 5
    assert usable(budget, at(1769.999))
    assert not usable(budget, at(1770))  # 30 s before Slack's 30 minutes: treated as dead
    assert why_unusable(budget) == "response_url_expired"


@pytest.mark.parametrize(
    ("uses", "private", "allowed"),
    [(4, False, True), (5, False, False), (2, True, True), (3, True, False)],
)
def test_five_posts_and_the_last_two_are_kept_for_the_card_s_end(
    uses: int, private: bool, allowed: bool
) -> None:
    budget = UrlBudget(received_at=T0, uses=uses)
    assert usable(budget, at(60), private=private) is allowed
    if not allowed:
        assert why_unusable(budget, private=private) == "response_url_used_up"


@pytest.mark.parametrize(
    ("requested", "received_ago", "sweep", "expected"),
    [
        (120, 0, 5, 120),  # fits: unchanged
        (1705, 0, 5, 1705),  # exactly fits: 1770 - 5 - 60
        (1800, 0, 5, 1680),  # 1705 s of room → whole minutes: 28
        (1800, 0, 25, 1680),  # 1685 s of room
        (1776, 0, 25, 1680),  # the issue's case: above ~1775 s the sweep came too late
        (1800, 600, 25, 1080),  # URL already 10 minutes old
        (600, 1770, 25, 0),  # URL already dead: nothing left
    ],
)
def test_capped_timeout_leaves_room_for_the_sweep_and_retries(
    requested: int, received_ago: int, sweep: int, expected: int
) -> None:
    with freeze_time(T0):
        now = utcnow()
        budget = UrlBudget(received_at=now - timedelta(seconds=received_ago), uses=1)
        assert capped_timeout(requested, budget, now, sweep) == expected


def test_no_deadline_when_the_url_cannot_carry_the_card_and_its_end() -> None:
    with freeze_time(T0):
        now = utcnow()
        assert capped_timeout(120, UrlBudget(received_at=now, uses=2), now, 5) == 120
        assert capped_timeout(120, UrlBudget(received_at=now, uses=3), now, 5) == 0
        assert why_unusable(UrlBudget(received_at=now, uses=3), posts=3) == "response_url_used_up"


# -- the flow, with a real store and a Slack client that cannot post in the channel ----------


class HookDelivery(Delivery):
    """The real Delivery (budget rule included) with the response_url POST recorded."""

    def __init__(self, client: WebClient, store: Store) -> None:
        super().__init__(client, ledger=store, clock=utcnow)
        self.posts: list[dict[str, Any]] = []

    def _post(self, url: str, body: dict[str, Any]) -> None:
        assert url in (URL, CLICK_URL)
        self.posts.append(body)


def _slack(in_channel: bool) -> Mock:
    """A WebClient whose chat.postMessage works only for direct messages (``U…``) unless the
    app is in the channel; chat.postEphemeral always answers ``not_in_channel``."""
    client = Mock(spec=WebClient)

    def refuse(error: str) -> SlackApiError:
        response = SlackResponse(
            client=client,
            http_verb="POST",
            api_url="x",
            req_args={},
            data={"ok": False, "error": error},
            headers={},
            status_code=200,
        )
        return SlackApiError(error, response)

    def post_message(**kwargs: Any) -> dict[str, Any]:
        if in_channel or str(kwargs["channel"]).startswith("U"):
            return {"ok": True, "ts": "1700000000.000100", "channel": kwargs["channel"]}
        raise refuse("not_in_channel")

    client.chat_postMessage.side_effect = post_message
    client.chat_postEphemeral.side_effect = lambda **_: (_ for _ in ()).throw(
        refuse("not_in_channel")
    )
    return client


def _flow(
    store: Store, timeout: int, *, in_channel: bool = False, policy: Path | None = None
) -> DeletionFlow:
    coveo = CoveoClient(
        httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(200, json=ORG))),
        platform_url="https://coveo.test",
    )
    delivery = HookDelivery(_slack(in_channel), store)
    deps = Deps(
        store=store,
        coveo=coveo,
        delivery=delivery,
        confirm_timeout=timeout,
        sweep_interval=25,
        policy=PolicyHolder(policy),
    )
    store.save_link(
        workspace="T1",
        user_id="U1",
        token="tok-1",
        region="us",
        coveo_username="a@example.com",
        coveo_email="a@example.com",
        expires_at=None,
        now=T0,
    )
    return DeletionFlow(deps)


ALICE = Actor(workspace="T1", team_id="T1", user_id="U1", channel_id="G1", response_url=URL)


def _texts(body: dict[str, Any]) -> str:
    return body.get("text", "") + str(body.get("blocks", ""))


def test_a_response_url_card_gets_a_deadline_its_expiry_can_reach_and_says_so(
    store: Store,
) -> None:
    flow = _flow(store, 1800)
    with freeze_time(T0):
        flow.request(ALICE, OrgRef("acmeprod1"))
    delivery = flow.delivery
    assert isinstance(delivery, HookDelivery)
    (card,) = delivery.posts
    assert "This card expires in 28 minutes, not 30 minutes" in _texts(card)
    assert "Invite the app" in _texts(card)
    request = store.live_request_for_org("acmeprod1", "us")
    assert request is not None and request.delivery == "response_url"
    assert request.expires_at == at(1680)
    (event,) = [e for e in store.audit_events(request.id) if e.event == "expiry_shortened"]
    assert "1680 s instead of 1800 s" in str(event.detail)
    with freeze_time(at(1679)):
        assert flow.expire_due() == 0
    with freeze_time(at(1680 + 25)):  # the sweep at its latest
        assert flow.expire_due() == 1
    assert len(delivery.posts) == 3  # the card, then its expiry: card update and thread reply
    assert "Expired — nothing was deleted" in _texts(delivery.posts[2])
    flow.delivery.client.chat_postMessage.assert_called_once()  # type: ignore[attr-defined]


def test_no_card_is_posted_on_a_url_without_room_for_its_end(store: Store) -> None:
    flow = _flow(store, 1800)
    with freeze_time(T0):
        store.note_response_url(URL, T0)
        for _ in range(3):  # posts made through this URL already (by anyone)
            store.spend_response_url(URL, T0, 5)
        flow.request(ALICE, OrgRef("acmeprod1"))
    delivery = flow.delivery
    assert isinstance(delivery, HookDelivery)
    assert delivery.posts == []  # neither the card nor the refusal: no post is left for them
    assert store.live_request_for_org("acmeprod1", "us") is None
    (abandoned,) = [e for e in store.audit_events() if e.event == "abandoned"]
    assert "response_url_used_up" in str(abandoned.detail)


def test_an_approval_wait_on_a_response_url_card_fits_the_click_s_url(
    store: Store, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "[typed_confirmation]\ntypes = []\nproduct_types = []\n"
        '[second_approver]\ntypes = ["Sandbox"]\napprover_users = ["U0BOB000001"]\n'
        "approval_timeout = 3600\n"
    )
    flow = _flow(store, 120, policy=policy)
    with freeze_time(T0):
        flow.request(ALICE, OrgRef("acmeprod1"))
    request = store.live_request_for_org("acmeprod1", "us")
    assert request is not None and request.delivery == "response_url"
    clicker = replace(ALICE, response_url=CLICK_URL)
    with freeze_time(at(30)):
        flow.confirm(clicker, request.id, "1700000000.000100", via_modal=True, reason="cleanup")
    waiting = store.get_request(request.id)
    assert waiting is not None and waiting.state == "awaiting_approval"
    assert waiting.approval_expires_at == at(30 + 1680)
    delivery = flow.delivery
    assert isinstance(delivery, HookDelivery)
    assert "Approvers have 28 minutes, not 60 minutes" in _texts(delivery.posts[-1])
    (event,) = [e for e in store.audit_events(request.id) if e.event == "expiry_shortened"]
    assert "approval window" in str(event.detail) and "1680 s instead of 3600 s" in str(
        event.detail
    )


def test_a_short_timeout_is_left_alone(store: Store) -> None:
    flow = _flow(store, 120)
    with freeze_time(T0):
        flow.request(ALICE, OrgRef("acmeprod1"))
    request = store.live_request_for_org("acmeprod1", "us")
    assert request is not None and request.expires_at == at(120)
    assert not [e for e in store.audit_events(request.id) if e.event == "expiry_shortened"]
    delivery = flow.delivery
    assert isinstance(delivery, HookDelivery)
    assert "expires in" not in _texts(delivery.posts[0])


def test_a_card_the_app_posted_in_its_channel_keeps_the_full_timeout(store: Store) -> None:
    flow = _flow(store, 1800, in_channel=True)
    with freeze_time(T0):
        flow.request(ALICE, OrgRef("acmeprod1"))
    request = store.live_request_for_org("acmeprod1", "us")
    assert request is not None and request.delivery == "channel"
    assert request.expires_at == at(1800)


def test_a_dead_url_is_not_posted_to_and_the_requester_is_told_once_by_dm(
    store: Store,
) -> None:
    flow = _flow(store, 1800)
    with freeze_time(T0):
        flow.request(ALICE, OrgRef("acmeprod1"))
    request = store.live_request_for_org("acmeprod1", "us")
    assert request is not None
    with freeze_time(at(1800)):  # the sweeper was not running: the URL is dead by now
        assert flow.expire_due() == 1
        flow.outbox.deliver_due()
    delivery = flow.delivery
    assert isinstance(delivery, HookDelivery)
    assert len(delivery.posts) == 1  # only the card: nothing planned on the dead URL
    client = delivery.client
    dms = [c for c in client.chat_postMessage.call_args_list if c.kwargs["channel"] == "U1"]  # type: ignore[attr-defined]
    assert len(dms) == 1
    assert "could not be updated" in dms[0].kwargs["text"]
    assert "Expired — nothing was deleted" in dms[0].kwargs["text"]
    events = [e.event for e in store.audit_events(request.id)]
    assert events.count("told_by_direct_message") == 1
    assert [i.status for i in store.outbox_items(request.id)] == ["dead", "dead"]


def test_a_retry_is_not_planned_past_the_url_s_death(store: Store) -> None:
    flow = _flow(store, 1800)
    with freeze_time(T0):
        flow.request(ALICE, OrgRef("acmeprod1"))
    delivery = flow.delivery
    assert isinstance(delivery, HookDelivery)

    def busy(url: str, body: dict[str, Any]) -> None:
        raise DeliveryError("response_url_http_503", transient=True)

    delivery._post = busy  # type: ignore[method-assign]
    with freeze_time(at(1769)):  # a late pass: a retry (2 s) would land after the URL dies
        assert flow.expire_due() == 1
    request = store.get_request(store.outbox_items()[0].request_id)
    assert request is not None
    assert [i.status for i in store.outbox_items(request.id)] == ["dead", "dead"]
    assert [e.event for e in store.audit_events(request.id)].count("told_by_direct_message") == 1


def test_the_five_posts_budget(store: Store) -> None:
    delivery = HookDelivery(_slack(in_channel=False), store)
    with freeze_time(T0):
        store.note_response_url(URL, T0)
        for n in range(3):
            delivery.private(channel_id="G1", user_id="U1", text=f"notice {n}", response_url=URL)
        with pytest.raises(DeliveryError):  # a 4th private would take the card's last posts
            delivery.private(channel_id="G1", user_id="U1", text="notice 3", response_url=URL)
        assert len(delivery.posts) == 3
        request = Mock(delivery="response_url", card_ts=None, channel_id="G1", id="r")
        delivery.update_card(request, text="final", blocks=[], response_url=URL)
        delivery.thread_reply(request, text="outcome", response_url=URL)
        assert len(delivery.posts) == 5
        with pytest.raises(DeliveryError) as refused:
            delivery.thread_reply(request, text="a sixth", response_url=URL)
    assert refused.value.error == "response_url_used_up"
    assert len(delivery.posts) == 5
    assert store.response_url_budget(URL) == (T0, 5)


def test_an_unexpected_error_is_reported_under_the_same_rule(store: Store) -> None:
    delivery = HookDelivery(_slack(in_channel=False), store)
    with freeze_time(T0):
        store.note_response_url(URL, T0)
        report_unexpected(RuntimeError("boom"), {"response_url": URL}, delivery)
    assert [body["text"] for body in delivery.posts] == [INTERNAL_ERROR]
    with freeze_time(at(1800)):  # dead: not posted (chat.postEphemeral is tried and refused)
        report_unexpected(RuntimeError("boom"), {"response_url": URL}, delivery)
    assert len(delivery.posts) == 1
