"""DeletionFlow and the listeners with a real store, a MockTransport Coveo client and a
recording delivery: expiry driven by freezegun, and ack always first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from unittest.mock import Mock

import httpx
import pytest
from freezegun import freeze_time
from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.clock import utcnow
from bot.coveo import CoveoClient
from bot.orgid import OrgRef
from handlers.actions import ActionListeners
from handlers.commands import CommandListeners
from handlers.deletion import DeletionFlow
from handlers.delivery import Delivery
from handlers.deps import Actor, Deps
from handlers.errors import OutcomeNotRecorded
from storage import Store, StoreUnavailable

ORG = {
    "id": "acmeprod1",
    "displayName": "Acme Production",
    "type": "Sandbox",  # the built-in policy asks typed confirmation for production ones
    "owner": {"email": "owner@example.com"},
    "createdDate": 1_700_000_000_000,
    "readOnly": False,
    "organizationStatusModel": {"lifeCycleState": "ACTIVE", "paused": False},
}
T0 = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


class RecordingDelivery(Delivery):
    """Records what the flow sends instead of calling Slack."""

    def __init__(self) -> None:
        super().__init__(Mock(spec=WebClient))
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def post_card(self, **kwargs: Any) -> tuple[str, str | None]:  # type: ignore[override]
        self.sent.append(("card", kwargs))
        return "channel", "1700000000.000100"

    def update_card(self, request: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.sent.append(("update", kwargs))

    def thread_reply(self, request: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.sent.append(("thread", kwargs))

    def private(self, **kwargs: Any) -> None:  # type: ignore[override]
        self.sent.append(("private", kwargs))

    def texts(self, kind: str) -> list[str]:
        return [str(k.get("text")) for what, k in self.sent if what == kind]


@pytest.fixture
def coveo_calls() -> list[httpx.Request]:
    return []


@pytest.fixture
def deps(store: Store, coveo_calls: list[httpx.Request]) -> Deps:
    def handler(request: httpx.Request) -> httpx.Response:
        coveo_calls.append(request)
        if request.method == "DELETE":
            return httpx.Response(204, headers={"X-Request-ID": "req-1"})
        return httpx.Response(200, json=ORG, headers={"X-Request-ID": "req-0"})

    coveo = CoveoClient(
        httpx.Client(transport=httpx.MockTransport(handler)), platform_url="https://coveo.test"
    )
    return Deps(store=store, coveo=coveo, delivery=RecordingDelivery(), confirm_timeout=120)


ALICE = Actor(workspace="T1", team_id="T1", user_id="U1", channel_id="C1", response_url=None)


def _link(store: Store) -> None:
    store.save_link(
        workspace="T1",
        user_id="U1",
        token="tok-1",
        region="us",
        coveo_username="a@example.com",
        coveo_email="a@example.com",
        expires_at=None,
        now=utcnow(),
    )


def test_confirm_after_deadline_never_calls_delete(
    deps: Deps, coveo_calls: list[httpx.Request]
) -> None:
    flow = DeletionFlow(deps)
    with freeze_time(T0):
        _link(deps.store)
        flow.request(ALICE, OrgRef("acmeprod1"))
    request = deps.store.live_request_for_org("acmeprod1", "us")
    assert request is not None and request.expires_at == T0.replace(minute=2)
    with freeze_time("2026-11-29 12:02:00"):  # exactly the deadline: too late
        flow.confirm(ALICE, request.id, "1700000000.000100")
    assert [c.method for c in coveo_calls] == ["GET"]
    final = deps.store.get_request(request.id)
    assert final is not None and final.state == "expired"
    delivery = deps.delivery
    assert isinstance(delivery, RecordingDelivery)
    assert any("expired before your click" in t for t in delivery.texts("private"))
    assert any("Expired" in t for t in delivery.texts("thread"))


def test_confirm_just_before_deadline_deletes_once(
    deps: Deps, coveo_calls: list[httpx.Request]
) -> None:
    flow = DeletionFlow(deps)
    with freeze_time(T0):
        _link(deps.store)
        flow.request(ALICE, OrgRef("acmeprod1"))
    request = deps.store.live_request_for_org("acmeprod1", "us")
    assert request is not None
    with freeze_time("2026-11-29 12:01:59.999"):
        flow.confirm(ALICE, request.id, "1700000000.000100")
        flow.confirm(ALICE, request.id, "1700000000.000100")
    assert [c.method for c in coveo_calls] == ["GET", "DELETE"]
    assert coveo_calls[1].headers["authorization"] == "Bearer tok-1"
    final = deps.store.get_request(request.id)
    assert final is not None and final.state == "deleted" and final.http_status == 204


def test_an_outcome_the_database_cannot_take_is_never_reported_as_nothing_deleted(
    deps: Deps, coveo_calls: list[httpx.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = DeletionFlow(deps)
    with freeze_time(T0):
        _link(deps.store)
        flow.request(ALICE, OrgRef("acmeprod1"))
    request = deps.store.live_request_for_org("acmeprod1", "us")
    assert request is not None

    def database_gone(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable("PostgreSQL at postgresql://bot:***@db/delorg is unreachable")

    monkeypatch.setattr(deps.store, "finish", database_gone)
    with freeze_time(T0), pytest.raises(OutcomeNotRecorded) as caught:
        flow.confirm(ALICE, request.id, "1700000000.000100")
    assert caught.value.answer == "Coveo answered HTTP 204"
    assert isinstance(caught.value.__cause__, StoreUnavailable)
    assert [c.method for c in coveo_calls] == ["GET", "DELETE"]
    # left for recovery (no longer in flight), which reads the organization: no second DELETE
    left = deps.store.get_request(request.id)
    assert left is not None and left.state == "deleting" and request.id not in deps.inflight


def test_sweeper_pass_expires_only_due_cards(deps: Deps) -> None:
    flow = DeletionFlow(deps)
    with freeze_time(T0):
        _link(deps.store)
        flow.request(ALICE, OrgRef("acmeprod1"))
    with freeze_time("2026-11-29 12:01:59"):
        assert flow.expire_due() == 0
    with freeze_time("2026-11-29 12:02:00"):
        assert flow.expire_due() == 1
        assert flow.expire_due() == 0


def test_slash_command_ack_function_only_acks_and_the_work_comes_after(
    deps: Deps, coveo_calls: list[httpx.Request]
) -> None:
    parent = Mock()
    ack = Mock(spec=Ack)
    client = Mock(spec=WebClient)
    parent.attach_mock(ack, "ack")
    parent.attach_mock(client, "client")
    listeners = CommandListeners(deps)
    listeners.flow.delivery = parent.delivery
    context = BoltContext(team_id="T1", user_id="U1", channel_id="C1")
    body = {"text": "acmeprod1", "trigger_id": "t"}
    listeners.ack_delete_org(ack=ack, body=body, context=context, client=client)
    assert [call[0] for call in parent.mock_calls] == ["ack"]
    assert not parent.mock_calls[0].kwargs.get("text")  # nothing is "looked up" before checks
    assert coveo_calls == []
    listeners.work_delete_org(body=body, context=context)
    assert [call[0] for call in parent.mock_calls][1:] == ["delivery.private"]  # not linked yet


def test_link_command_acks_then_opens_modal_with_trigger_id(deps: Deps) -> None:
    parent = Mock()
    ack = Mock(spec=Ack)
    client = Mock(spec=WebClient)
    parent.attach_mock(ack, "ack")
    parent.attach_mock(client, "client")
    context = BoltContext(team_id="T1", user_id="U1", channel_id="C1")
    CommandListeners(deps).ack_delete_org(
        ack=ack, body={"text": "link", "trigger_id": "trig-1"}, context=context, client=client
    )
    names = [call[0] for call in parent.mock_calls]
    assert names == ["ack", "client.views_open"]
    assert parent.mock_calls[1].kwargs["trigger_id"] == "trig-1"


def test_click_ack_is_immediate_and_unknown_request_is_told_privately(deps: Deps) -> None:
    from handlers.actions import ack_only

    parent = Mock()
    ack = Mock(spec=Ack)
    parent.attach_mock(ack, "ack")
    ack_only(ack=ack)
    listeners = ActionListeners(deps)
    listeners.flow.delivery = parent.delivery
    context = BoltContext(team_id="T1", user_id="U1", channel_id="C1")
    body = {"actions": [{"value": "x" * 22}], "container": {"message_ts": "1.2"}}
    listeners.on_confirm(body=body, context=context)
    assert [call[0] for call in parent.mock_calls] == ["ack", "delivery.private"]


@pytest.mark.parametrize(
    ("enterprise_id", "team_id", "expected"),
    [("E1", "T1", "E1"), (None, "T1", "T1")],
)
def test_links_are_keyed_by_enterprise_then_team(
    enterprise_id: str | None, team_id: str, expected: str
) -> None:
    from handlers.context import workspace_key

    assert workspace_key(BoltContext(enterprise_id=enterprise_id, team_id=team_id)) == expected


def test_a_late_answer_never_overwrites_a_settled_outcome(store: Store) -> None:
    """If another process settled the request while this one waited for Coveo (it was
    presumed dead), the settled state stays; the late answer is recorded and shown."""
    holder: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            store.finish(
                holder["id"],
                outcome="unknown",
                now=utcnow(),
                actor_id="system",
                http_status=None,
                coveo_request_id=None,
                error_code="RESTARTED",
            )
            return httpx.Response(204)
        return httpx.Response(200, json=ORG)

    coveo = CoveoClient(
        httpx.Client(transport=httpx.MockTransport(handler)), platform_url="https://coveo.test"
    )
    delivery = RecordingDelivery()
    deps = Deps(store=store, coveo=coveo, delivery=delivery, confirm_timeout=120)
    flow = DeletionFlow(deps)
    _link(store)
    flow.request(ALICE, OrgRef("acmeprod1"))
    request = store.live_request_for_org("acmeprod1", "us")
    assert request is not None
    holder["id"] = request.id
    flow.confirm(ALICE, request.id, "1700000000.000100")
    final = store.get_request(request.id)
    assert final is not None and final.state == "unknown"
    late = [e for e in store.audit_events(request.id) if e.event == "late_outcome"]
    assert len(late) == 1 and late[0].http_status == 204
    assert any("Late answer from Coveo" in t for t in delivery.texts("thread"))
