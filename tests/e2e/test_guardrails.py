"""Guardrails over real HTTP: one test per policy rule, plus bypass attempts."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ALICE, BOB, CHANNEL, Harness, build_harness

from handlers.ids import (
    ACTION_APPROVE,
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_REASON,
    ACTION_REJECT,
    ACTION_TYPED,
    BLOCK_REASON,
    BLOCK_TYPED,
    VIEW_CONFIRM,
)

PROD = "exampleprodus4k7q2m"  # type Production, license STANDARD
SANDBOX = "examplesandboxus2r9t5w"  # type Sandbox
TRIAL = "exampletrialus8p3d1x"
CAROL = "U0CAROL0001"
APPROVERS = "S0APPROVE01"
OTHER_CHANNEL = "C0RANDOM001"

PERMISSIVE = "[typed_confirmation]\ntypes = []\nproduct_types = []\n"


def _harness(tmp_path: Path, policy: str, **env: str) -> Iterator[Harness]:
    (tmp_path / "policy.toml").write_text(policy)
    yield from build_harness(tmp_path, **env)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[object]:
    gens: list[Iterator[Harness]] = []

    def factory(policy: str) -> Harness:
        gen = _harness(tmp_path, policy)
        gens.append(gen)
        e2e = next(gen)
        e2e.slack.add_user(CAROL, "carol")
        e2e.slack.add_channel(OTHER_CHANNEL, "random")
        return e2e

    yield factory
    for gen in gens:
        gen.close()


def _link(e2e: Harness, user: str, token: str = "admin_us") -> None:
    assert e2e.link(user, token).status == 200
    e2e.slack.wait_for(lambda: e2e.store.get_link("T0TEST0001", user))


def _told(e2e: Harness, user: str, text: str) -> str:
    return e2e.slack.wait_for(lambda: [t for t in e2e.ephemeral_texts(user) if text in t])[0]


def _card_or_none(e2e: Harness, before: int, channel: str = CHANNEL) -> list[object]:
    time.sleep(0.4)
    return e2e.slack.messages(channel, include_replies=False)[before:]


def _last_event(e2e: Harness, name: str) -> object:
    events = [ev for ev in e2e.store.audit_events() if ev.event == name]
    assert events, [ev.event for ev in e2e.store.audit_events()]
    return events[-1]


# -- who and where ----------------------------------------------------------------------------
def test_requesters_by_user_id(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(PERMISSIVE + f'[requesters]\nusers = ["{ALICE}"]\n')
    _link(e2e, ALICE)
    _link(e2e, BOB)
    e2e.slack.send_command(BOB, CHANNEL, SANDBOX)
    text = _told(e2e, BOB, "requesters")
    assert "policy" in text
    assert _card_or_none(e2e, 0) == []
    assert "rule requesters" in (_last_event(e2e, "refused").detail or "")
    assert e2e.coveo.requests(path_prefix="/rest") == []
    assert e2e.request_card(ALICE, SANDBOX) is not None


def test_requesters_by_user_group(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(PERMISSIVE + '[requesters]\nusergroups = ["S0DBAS0001"]\n')
    e2e.slack.set_usergroup("S0DBAS0001", [BOB])
    _link(e2e, ALICE)
    _link(e2e, BOB)
    e2e.slack.send_command(ALICE, CHANNEL, SANDBOX)
    _told(e2e, ALICE, "requesters")
    assert e2e.request_card(BOB, SANDBOX) is not None


def test_channel_allow_list_and_direct_messages(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(PERMISSIVE + f'[channels]\nallow = ["{CHANNEL}"]\nallow_direct_messages = false\n')
    _link(e2e, ALICE)
    e2e.slack.send_command(ALICE, OTHER_CHANNEL, SANDBOX)
    _told(e2e, ALICE, "channels.allow")
    dm = "D0ALICEDM01"
    e2e.slack.add_channel(dm, "directmessage", kind="im")
    e2e.slack.send_command(ALICE, dm, SANDBOX)
    _told(e2e, ALICE, "channels.allow_direct_messages")
    assert e2e.coveo.requests(path_prefix="/rest") == []
    assert e2e.request_card(ALICE, SANDBOX) is not None


# -- protected -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "rule"),
    [
        (f'[protected]\nids = ["{SANDBOX}"]\n', f'protected.ids "{SANDBOX}"'),
        ('[protected]\npatterns = ["*sandbox*"]\n', 'protected.patterns "*sandbox*"'),
    ],
)
def test_protected_organizations_are_refused_with_the_rule_named(
    make, policy: str, rule: str
) -> None:  # type: ignore[no-untyped-def]
    e2e = make(PERMISSIVE + policy)
    _link(e2e, ALICE)
    e2e.slack.send_command(ALICE, CHANNEL, SANDBOX)
    text = _told(e2e, ALICE, "protected")
    assert rule.split(" ")[0] in text
    assert _card_or_none(e2e, 0) == []
    assert e2e.coveo.deletes() == []


# -- typed confirmation ------------------------------------------------------------------------
def _confirm_view(e2e: Harness, user: str) -> object:
    return e2e.slack.wait_for(
        lambda: [
            v
            for v in e2e.slack.views(user, open_only=True)
            if v.view.get("callback_id") == VIEW_CONFIRM
        ]
    )[-1]


@pytest.mark.parametrize(
    "near_miss",
    [
        PROD.upper(),
        PROD + " ",
        " " + PROD,
        PROD.replace("o", "\u043e", 1),
        PROD[:-1],
        "exampleprodus4k7q2m\u200b",
    ],
)
def test_typed_confirmation_refuses_near_misses(make, near_miss: str) -> None:  # type: ignore[no-untyped-def]
    e2e = make("")  # the built-in default for typed confirmation: Production types
    _link(e2e, ALICE)
    card = e2e.request_card(ALICE, PROD)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    view = _confirm_view(e2e, ALICE)
    response = e2e.slack.submit_view(ALICE, view.id, {BLOCK_TYPED: {ACTION_TYPED: near_miss}})
    assert response.status == 200
    assert "does not match" in e2e.slack.view_errors(view.id)[BLOCK_TYPED]
    time.sleep(0.3)
    assert e2e.coveo.deletes() == []
    assert e2e.store.live_request_for_org(PROD, "us").state == "pending"
    assert _last_event(e2e, "typed_confirmation_failed").org_id == PROD


def test_typed_confirmation_exact_id_deletes(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make("")
    _link(e2e, ALICE)
    card = e2e.request_card(ALICE, PROD)
    assert "Typed confirmation required" in str(card.blocks)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    time.sleep(0.3)
    assert e2e.coveo.deletes() == []  # the click alone deletes nothing
    view = _confirm_view(e2e, ALICE)
    e2e.slack.submit_view(ALICE, view.id, {BLOCK_TYPED: {ACTION_TYPED: PROD}})
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))[0]
    assert "204 No Content" in reply.text
    assert len(e2e.coveo.deletes()) == 1


# -- second approver ---------------------------------------------------------------------------
FOUR_EYES = (
    PERMISSIVE
    + f'[second_approver]\ntypes = ["Production"]\napprover_usergroups = ["{APPROVERS}"]\napproval_timeout = 60\n'
)


def _awaiting(e2e: Harness, reason: str = "Decommissioned after the migration") -> object:
    e2e.slack.set_usergroup(APPROVERS, [ALICE, CAROL])  # alice is an approver too: no self-approval
    _link(e2e, ALICE)
    card = e2e.request_card(ALICE, PROD)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    view = _confirm_view(e2e, ALICE)
    e2e.slack.submit_view(ALICE, view.id, {BLOCK_REASON: {ACTION_REASON: reason}})
    reply = e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))[0]
    assert reason in reply.text
    e2e.slack.wait_for(lambda: ACTION_APPROVE in str(e2e.slack.message(CHANNEL, card.ts).blocks))
    return card


def test_second_approver_flow_deletes_with_the_requesters_token(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(FOUR_EYES)
    card = _awaiting(e2e)
    assert e2e.coveo.deletes() == []
    e2e.slack.click(CAROL, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_APPROVE)
    e2e.slack.wait_for(lambda: len(e2e.slack.thread(CHANNEL, card.ts)) == 2)
    final = e2e.slack.thread(CHANNEL, card.ts)[-1]
    assert "204 No Content" in final.text and f"approved by <@{CAROL}>" in final.text
    (delete,) = e2e.coveo.deletes()
    assert delete.bearer == e2e.tokens["admin_us"]
    assert _last_event(e2e, "approved").actor_id == CAROL


def test_requester_cannot_approve_their_own_request(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(FOUR_EYES)
    card = _awaiting(e2e)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_APPROVE)
    _told(e2e, ALICE, "cannot approve")
    assert e2e.coveo.deletes() == []
    assert _last_event(e2e, "approval_refused").actor_id == ALICE


def test_non_member_cannot_approve_or_reject(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(FOUR_EYES)
    card = _awaiting(e2e)
    for action in (ACTION_APPROVE, ACTION_REJECT):
        e2e.slack.click(BOB, channel_id=CHANNEL, message_ts=card.ts, action_id=action)
    e2e.slack.wait_for(
        lambda: len([t for t in e2e.ephemeral_texts(BOB) if "Only approvers" in t]) == 2
    )
    assert e2e.coveo.deletes() == []
    assert e2e.store.live_request_for_org(PROD, "us").state == "awaiting_approval"


def test_membership_is_checked_at_click_time(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(FOUR_EYES)
    card = _awaiting(e2e)
    e2e.slack.set_usergroup(APPROVERS, [ALICE])  # carol left the group after the card was made
    e2e.slack.click(CAROL, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_APPROVE)
    _told(e2e, CAROL, "Only approvers")
    assert e2e.coveo.deletes() == []


def test_replayed_approval_after_expiry_deletes_nothing(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(FOUR_EYES)
    card = _awaiting(e2e)
    old_click = e2e.slack.build_click(
        CAROL, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_APPROVE
    )
    e2e.clock.advance(61)
    e2e.slack.send_interaction(old_click)
    _told(e2e, CAROL, "approval window")
    assert e2e.coveo.deletes() == []
    assert e2e.store.get_request(e2e.store.audit_events()[-1].request_id).state == "expired"
    reply = e2e.slack.wait_for(
        lambda: [m for m in e2e.slack.thread(CHANNEL, card.ts) if "Expired" in m.text]
    )[0]
    assert "No approver approved in time" in reply.text


def test_reject_and_withdraw(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(FOUR_EYES)
    card = _awaiting(e2e)
    e2e.slack.click(CAROL, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_REJECT)
    e2e.slack.wait_for(
        lambda: any("Rejected by" in m.text for m in e2e.slack.thread(CHANNEL, card.ts))
    )
    assert e2e.coveo.deletes() == []
    # a new request, withdrawn by the requester while waiting
    card = e2e.request_card(ALICE, PROD)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    view = _confirm_view(e2e, ALICE)
    e2e.slack.submit_view(ALICE, view.id, {BLOCK_REASON: {ACTION_REASON: "again"}})
    e2e.slack.wait_for(lambda: ACTION_APPROVE in str(e2e.slack.message(CHANNEL, card.ts).blocks))
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CANCEL)
    e2e.slack.wait_for(
        lambda: any("Cancelled by" in m.text for m in e2e.slack.thread(CHANNEL, card.ts))
    )
    assert e2e.coveo.deletes() == []


def test_reason_is_required(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(FOUR_EYES)
    e2e.slack.set_usergroup(APPROVERS, [CAROL])
    _link(e2e, ALICE)
    card = e2e.request_card(ALICE, PROD)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    view = _confirm_view(e2e, ALICE)
    e2e.slack.submit_view(ALICE, view.id, {BLOCK_REASON: {ACTION_REASON: "   "}})
    assert "reason is required" in e2e.slack.view_errors(view.id)[BLOCK_REASON]
    assert e2e.store.live_request_for_org(PROD, "us").state == "pending"


# -- caps and freeze -----------------------------------------------------------------------------
def test_per_user_hourly_cap(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(PERMISSIVE + "[caps]\nper_user_per_hour = 1\n")
    _link(e2e, ALICE)
    card = e2e.request_card(ALICE, SANDBOX)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))
    e2e.slack.send_command(ALICE, CHANNEL, TRIAL)
    text = _told(e2e, ALICE, "caps.per_user_per_hour")
    assert "frees up" in text
    assert len(e2e.coveo.deletes()) == 1


def test_freeze_blocks_new_and_pending_and_only_admins_can_freeze(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(PERMISSIVE + f'[admins]\nusers = ["{CAROL}"]\n')
    _link(e2e, ALICE)
    card = e2e.request_card(ALICE, SANDBOX)
    e2e.slack.send_command(ALICE, CHANNEL, "freeze because I can")
    _told(e2e, ALICE, "Only the admins")
    assert e2e.store.freeze_state() is None
    e2e.slack.send_command(CAROL, CHANNEL, "freeze release weekend")
    _told(e2e, CAROL, "Deletions are frozen")
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    text = _told(e2e, ALICE, "frozen by")
    assert "release weekend" in text
    e2e.slack.send_command(ALICE, CHANNEL, TRIAL)
    e2e.slack.wait_for(
        lambda: len([t for t in e2e.ephemeral_texts(ALICE) if "frozen by" in t]) == 2
    )
    assert e2e.coveo.deletes() == []
    e2e.slack.send_command(CAROL, CHANNEL, "unfreeze")
    _told(e2e, CAROL, "allowed again")
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    e2e.slack.wait_for(lambda: e2e.slack.thread(CHANNEL, card.ts))
    assert len(e2e.coveo.deletes()) == 1
    assert [ev.event for ev in e2e.store.audit_events() if ev.event in ("frozen", "unfrozen")] == [
        "frozen",
        "unfrozen",
    ]


# -- bypass attempts -------------------------------------------------------------------------
def test_edited_button_value_is_not_trusted(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(PERMISSIVE)
    _link(e2e, ALICE)
    _link(e2e, BOB)
    alices = e2e.request_card(ALICE, SANDBOX)
    bobs = e2e.request_card(BOB, TRIAL)
    bob_request = e2e.store.live_request_for_org(TRIAL, "us")
    for value in (bob_request.id, "../../etc", "x" * 500, ""):
        body = e2e.slack.build_click(
            ALICE, channel_id=CHANNEL, message_ts=alices.ts, action_id=ACTION_CONFIRM
        )
        payload = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
        payload["actions"][0]["value"] = value
        e2e.slack.send_interaction(
            urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        )
    time.sleep(0.5)
    assert e2e.coveo.deletes() == []
    assert e2e.slack.thread(CHANNEL, bobs.ts) == []
    assert e2e.store.get_request(bob_request.id).state == "pending"


def test_policy_reload_removing_a_user_blocks_their_pending_card(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    e2e = make(PERMISSIVE + f'[requesters]\nusers = ["{ALICE}", "{BOB}"]\n')
    _link(e2e, ALICE)
    card = e2e.request_card(ALICE, SANDBOX)
    policy = tmp_path / "policy.toml"
    policy.write_text(PERMISSIVE + f'[requesters]\nusers = ["{BOB}"]\n')
    stat = policy.stat()
    os.utime(policy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    _told(e2e, ALICE, "requesters")
    assert e2e.coveo.deletes() == []


def test_invalid_policy_reload_keeps_the_old_one(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    e2e = make(PERMISSIVE + f'[protected]\nids = ["{SANDBOX}"]\n')
    (tmp_path / "policy.toml").write_text('[protected]\nids = ["@alice"]\n[typo]\n')
    _link(e2e, ALICE)
    e2e.slack.send_command(ALICE, CHANNEL, SANDBOX)
    _told(e2e, ALICE, "protected")


def test_policy_command_explains_what_the_caller_may_do(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(
        PERMISSIVE + f'[requesters]\nusers = ["{ALICE}"]\n[protected]\npatterns = ["*-prod"]\n'
    )
    e2e.slack.send_command(BOB, CHANNEL, "policy")
    text = _told(e2e, BOB, "*-prod")
    assert "requesters" in text


def test_concurrent_confirms_cannot_overrun_a_cap(make) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    e2e = make(PERMISSIVE + "[caps]\nper_user_per_hour = 1\nglobal_per_hour = 2\n")
    _link(e2e, ALICE)
    _link(e2e, BOB)
    orgs = [PROD, SANDBOX, TRIAL, "exampleprodeu9f4g6z"]
    cards = [e2e.request_card(ALICE, org) for org in orgs[:3]]
    bodies = [
        e2e.slack.build_click(
            ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM
        )
        for card in cards
    ]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(e2e.slack.send_interaction, bodies))
    e2e.slack.wait_for(
        lambda: len([t for t in e2e.ephemeral_texts(ALICE) if "caps.per_user_per_hour" in t]) == 2
    )
    time.sleep(0.3)
    assert len(e2e.coveo.deletes()) == 1


def test_outbox_never_brings_back_a_stale_card(make) -> None:  # type: ignore[no-untyped-def]
    e2e = make(FOUR_EYES)
    e2e.slack.set_usergroup(APPROVERS, [CAROL])
    _link(e2e, ALICE)
    card = e2e.request_card(ALICE, PROD)
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
    view = _confirm_view(e2e, ALICE)
    e2e.slack.fail_method("chat.update", "ratelimited", times=1, retry_after=1)
    e2e.slack.submit_view(ALICE, view.id, {BLOCK_REASON: {ACTION_REASON: "old"}})
    e2e.slack.wait_for(
        lambda: [i for i in e2e.store.outbox_items() if i.kind == "card" and i.attempts == 1]
    )
    e2e.slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CANCEL)
    e2e.slack.wait_for(lambda: "Cancelled" in str(e2e.slack.message(CHANNEL, card.ts).blocks))
    e2e.clock.advance(5)
    e2e.runtime.sweeper.run_once()
    blocks = str(e2e.slack.message(CHANNEL, card.ts).blocks)
    assert "Cancelled" in blocks and ACTION_APPROVE not in blocks
    assert "superseded" in [i.status for i in e2e.store.outbox_items()]
