"""Sign in with Coveo end to end over loopback: the real app, fake Slack, fake Coveo's OAuth
server, and a real HTTP client following the redirects."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.emulator.harness import ALICE, BOB, CHANNEL, LocalStack
from bot.metrics import METRICS_PATH
from handlers.ids import ACTION_CONFIRM, ACTION_SIGN_IN


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with LocalStack(confirm_timeout=60, quiet=False) as running:
        yield running


def _link(stack: LocalStack, user: str = ALICE):
    return stack.runtime.deps.store.get_link("T0TEST0001", user)


def _callback(stack: LocalStack, query: str) -> httpx.Response:
    return httpx.get(f"{stack.app_url}/coveo/oauth/callback?{query}", trust_env=False)


def _state(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def test_whole_sign_in_links_and_tells_in_slack(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the app's default level (slack_sdk logs bodies at DEBUG)
    page = stack.sign_in(ALICE, "admin_eu", "eu")
    assert page.status == 200
    assert "Linked as dave@example.com (region EU), you can close this tab." in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script" not in httpx.get(page.url, trust_env=False).text
    stack.wait_ephemeral(ALICE, "Linked as dave@example.com (region EU)")
    link = _link(stack)
    assert (
        link is not None and link.auth_kind == "oauth" and link.refreshable and link.region == "eu"
    )
    code = parse_qs(urlsplit(page.url).query)["code"][0]
    # The test's own HTTP client (httpx/httpcore) logs the URLs it opens; the app must not.
    app_log = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    )
    assert code not in app_log and link.token not in app_log and _state(page.url) not in app_log
    raw = stack.db_path.read_bytes()
    assert link.token.encode() not in raw and code.encode() not in raw
    assert _state(page.url).encode() not in raw


def test_state_reuse_is_refused_and_changes_nothing(stack: LocalStack) -> None:
    page = stack.sign_in(ALICE, "admin_us")
    before = _link(stack)
    replay = _callback(stack, urlsplit(page.url).query)
    assert replay.status_code == 400
    assert "already used" in replay.text
    assert _link(stack) == before


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("code=abc", "incomplete"),
        ("code=abc&state=forged-state-value", "not recognised"),
        ("", "incomplete"),
    ],
)
def test_missing_or_forged_state_is_refused(stack: LocalStack, query: str, words: str) -> None:
    response = _callback(stack, query)
    assert response.status_code == 400
    assert words in response.text
    assert "run /delete-org link" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert _link(stack) is None


def test_expired_state_is_refused(stack: LocalStack) -> None:
    url = stack.sign_in_link(ALICE, "us")
    stack.advance(601)
    page = stack.follow_sign_in(url, "admin_us")
    assert page.status == 400 and "expired" in page.text
    assert _link(stack) is None


def test_cancel_at_coveo_is_access_denied(stack: LocalStack) -> None:
    page = stack.follow_sign_in(stack.sign_in_link(ALICE), None)
    assert "error=access_denied" in page.url
    assert "cancelled the sign-in" in page.text
    assert _link(stack) is None


def test_token_exchange_failure_stores_nothing(stack: LocalStack) -> None:
    url = stack.sign_in_link(ALICE)
    stack.coveo.fail_next("POST", "^/oauth/token$", 400, body={"error": "invalid_grant"})
    page = stack.follow_sign_in(url, "admin_us")
    assert page.status == 502 and "refused the sign-in" in page.text
    assert _link(stack) is None


def test_check_token_refusal_stores_nothing(stack: LocalStack) -> None:
    url = stack.sign_in_link(ALICE)
    stack.coveo.fail_next("POST", "^/oauth/check_token$", 401, body={"error": "invalid_token"})
    page = stack.follow_sign_in(url, "admin_us")
    assert page.status == 502 and "did not accept the token" in page.text
    assert _link(stack) is None


def test_two_sign_ins_racing_for_one_user_leave_one_consistent_link(stack: LocalStack) -> None:
    first, second = stack.sign_in_link(ALICE), stack.sign_in_link(ALICE)
    pages: list[object] = []
    threads = [
        threading.Thread(target=lambda u=url, i=ident: pages.append(stack.follow_sign_in(u, i)))
        for url, ident in ((first, "admin_us"), (second, "viewer_us"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(pages) == 2 and all(p.status == 200 for p in pages)  # type: ignore[attr-defined]
    link = _link(stack)
    assert link is not None
    # The stored access token belongs to the stored identity (one grant, written at once).
    check = httpx.post(
        f"{stack.coveo.url}/oauth/check_token", data={"token": link.token}, trust_env=False
    )
    assert check.json()["user_name"] == link.coveo_username


def test_same_state_raced_succeeds_once(stack: LocalStack) -> None:
    url = stack.sign_in_link(ALICE)
    with httpx.Client(trust_env=False) as client:
        page = client.get(url)
        assert page.status_code == 200
    # Two codes for the one state: only the first callback may use the state.
    state = _state(url)
    results: list[int] = []

    def go() -> None:
        results.append(_callback(stack, f"code=whatever&state={state}").status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results).count(400) >= 3
    events = [e for e in stack.runtime.deps.store.audit_events() if e.event == "sign_in_refused"]
    assert sum(1 for e in events if e.detail == "state used") == 3


def test_expired_token_is_refreshed_once_at_the_delete(stack: LocalStack) -> None:
    stack.sign_in(ALICE, "admin_us")
    old = _link(stack)
    assert old is not None
    stack.command(ALICE, CHANNEL, "examplesandboxus2r9t5w")
    card = stack.wait_for(lambda: stack.latest_card(CHANNEL, ACTION_CONFIRM))
    stack.advance(3700)  # past the access token's hour, and the card extended below
    stack.runtime.deps.store._db().execute(  # keep the card confirmable at the new time
        "UPDATE deletion_requests SET expires_at = '2999-01-01T00:00:00.000000+00:00'"
    )
    stack.runtime.deps.store._db().conn.commit()
    stack.click(ALICE, ACTION_CONFIRM)
    stack.wait_thread_reply(card.ts, "204 No Content")
    new = _link(stack)
    assert new is not None and new.token != old.token
    refreshes = [g for g in stack.coveo.oauth.grants if g[0] == "refresh_token"]
    assert len(refreshes) == 1
    delete = stack.coveo.deletes()[-1]
    assert delete.bearer == new.token


def test_refused_refresh_marks_link_invalid_and_prompts_sign_in(stack: LocalStack) -> None:
    stack.sign_in(ALICE, "admin_us")
    stack.coveo.oauth.revoke_refresh_tokens()
    stack.advance(3700)
    stack.command(ALICE, CHANNEL, "examplesandboxus2r9t5w")
    stack.wait_ephemeral(ALICE, "refused to renew your sign-in")
    link = _link(stack)
    assert link is not None and not link.usable
    prompt = [e for e in stack.slack.ephemerals(ALICE) if "refused to renew" in e.text][-1]
    assert any(
        el.get("action_id") == ACTION_SIGN_IN and el.get("url")
        for block in prompt.blocks
        for el in block.get("elements") or []
    )
    assert not stack.coveo.deletes()


def test_without_client_link_opens_the_paste_form(tmp_path) -> None:
    with LocalStack(oauth=False) as plain:
        plain.link(BOB, "viewer_us")
        plain.wait_ephemeral(BOB, "Linked as bob@example.com (region US)")
        # No OAuth callback without a client; /metrics and /readyz are served in every
        # configuration.
        assert [route.path for route in plain.runtime.routes] == [METRICS_PATH, "/readyz"]
