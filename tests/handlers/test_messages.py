"""Unit tests of ``handlers.messages``: how Coveo failures are explained to people."""

from __future__ import annotations

import pytest

from bot.coveo import (
    CoveoAPIError,
    CoveoError,
    CoveoProtocolError,
    CoveoTimeout,
    CoveoUnavailable,
    NotAUserToken,
)
from bot.orgid import OrgIdError, parse_org_argument
from handlers.messages import (
    HOW_TO_GET_TOKEN,
    Explanation,
    esc,
    explain_coveo_error,
    link_refused,
    not_deletable,
    org_id_problem,
)

ORG = "acme42"


def explain(error: CoveoError, *, deleting: bool, region: str = "eu") -> Explanation:
    return explain_coveo_error(error, org_id=ORG, region=region, deleting=deleting)


def api_error(
    status: int,
    code: str | None = None,
    detail: str | None = None,
    request_id: str | None = "req-77",
    retry_after: float | None = None,
) -> CoveoAPIError:
    return CoveoAPIError(status, code, detail, request_id, retry_after)


# --- explain_coveo_error: HTTP answers ----------------------------------------------------


@pytest.mark.parametrize("deleting", [True, False])
def test_401_asks_to_relink(deleting: bool) -> None:
    explanation = explain(api_error(401, "INVALID_TOKEN", "expired"), deleting=deleting)
    assert explanation.relink is True
    assert explanation.status == 401
    assert explanation.code == "INVALID_TOKEN"
    assert "/delete-org link" in explanation.next_step
    assert "HTTP 401" in explanation.summary
    assert "INVALID_TOKEN" in explanation.summary
    assert explanation.request_id == "req-77"
    assert explanation.detail == "expired"


def test_403_when_deleting_mentions_the_edit_privilege() -> None:
    explanation = explain(api_error(403, "ACCESS_DENIED"), deleting=True)
    assert explanation.relink is False
    assert "Organization - Edit" in explanation.next_step
    assert f"`{ORG}`" in explanation.next_step
    assert "region EU" in explanation.next_step


def test_403_in_preview_says_no_access_or_no_such_org() -> None:
    explanation = explain(api_error(403, "ACCESS_DENIED"), deleting=False)
    assert explanation.relink is False
    assert "No access, or no such organization" in explanation.next_step
    assert "Organization - Edit" not in explanation.next_step
    assert "region EU" in explanation.next_step


def test_404_when_deleting() -> None:
    explanation = explain(api_error(404, "ORGANIZATION_NOT_FOUND"), deleting=True, region="au")
    assert f"No organization `{ORG}` is visible to you in region AU" in explanation.next_step
    assert explanation.relink is False


def test_404_in_preview_reads_like_403() -> None:
    not_found = explain(api_error(404), deleting=False)
    forbidden = explain(api_error(403), deleting=False)
    assert not_found.next_step == forbidden.next_step
    assert not_found.summary != forbidden.summary


@pytest.mark.parametrize(
    ("status", "code", "detail"),
    [
        (400, "ORGANIZATION_IS_PAUSED", None),
        (403, "OPERATION_FORBIDDEN_FOR_ORGANIZATION_IN_READ_ONLY", None),
        (412, None, "The organization is read-only"),
        (404, "ORGANIZATION_IS_PAUSED", None),
    ],
)
@pytest.mark.parametrize("deleting", [True, False])
def test_read_only_answers(
    status: int, code: str | None, detail: str | None, deleting: bool
) -> None:
    explanation = explain(api_error(status, code, detail), deleting=deleting)
    assert "paused or read-only" in explanation.next_step
    assert "Coveo Support" in explanation.next_step
    assert explanation.relink is False


def test_401_wins_over_read_only() -> None:
    explanation = explain(api_error(401, "ORGANIZATION_IS_PAUSED"), deleting=True)
    assert explanation.relink is True
    assert "read-only" not in explanation.next_step


def test_429_with_retry_after() -> None:
    explanation = explain(api_error(429, "TOO_MANY_REQUESTS", retry_after=30.0), deleting=True)
    assert "rate limiting" in explanation.next_step
    assert "wait 30 s" in explanation.next_step
    assert explanation.relink is False


def test_429_without_retry_after() -> None:
    explanation = explain(api_error(429), deleting=False)
    assert "rate limiting" in explanation.next_step
    assert "asks to wait" not in explanation.next_step


@pytest.mark.parametrize("retry_after", [0.4, 0.999])
def test_429_never_asks_to_wait_zero_seconds(retry_after: float) -> None:
    # An HTTP-date Retry-After is turned into fractional seconds; truncating them tells the user
    # to wait "0 s" (or less than Coveo asked).
    explanation = explain(api_error(429, retry_after=retry_after), deleting=True)
    assert "wait 0 s" not in explanation.next_step


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("deleting", [True, False])
def test_server_errors(status: int, deleting: bool) -> None:
    explanation = explain(
        api_error(status, detail="Coveo returned an HTML error page"), deleting=deleting
    )
    assert "server error" in explanation.next_step
    assert "status.cloud.coveo.com" in explanation.next_step
    assert f"HTTP {status}" in explanation.summary
    assert explanation.status == status
    assert explanation.relink is False


def test_other_4xx_falls_back_to_generic_refusal() -> None:
    explanation = explain(api_error(409, "CONFLICT", "busy"), deleting=True)
    assert "Coveo refused the request" in explanation.next_step


def test_summary_without_code() -> None:
    assert explain(api_error(500), deleting=True).summary == "HTTP 500"


# --- explain_coveo_error: no usable answer ------------------------------------------------


def test_timeout_while_deleting_means_outcome_unknown() -> None:
    explanation = explain(CoveoTimeout("read timed out", maybe_sent=True), deleting=True)
    assert "outcome is unknown" in explanation.summary
    assert explanation.code == "TIMEOUT"
    assert "may or may not have been deleted" in explanation.next_step
    assert f"`{ORG}`" in explanation.next_step
    assert explanation.relink is False
    assert explanation.status is None


def test_timeout_in_preview_deleted_nothing() -> None:
    explanation = explain(CoveoTimeout("read timed out", maybe_sent=True), deleting=False)
    assert explanation.code == "TIMEOUT"
    assert "unknown" not in explanation.summary
    assert "Nothing was deleted" in explanation.next_step


def test_network_error_after_send_while_deleting_is_also_unknown() -> None:
    explanation = explain(CoveoUnavailable("reset", maybe_sent=True), deleting=True)
    assert "outcome is unknown" in explanation.summary
    assert explanation.code == "TIMEOUT"


@pytest.mark.parametrize(
    "error",
    [
        CoveoUnavailable("refused", maybe_sent=False),
        CoveoTimeout("connect timed out", maybe_sent=False),
    ],
)
@pytest.mark.parametrize("deleting", [True, False])
def test_never_sent_means_nothing_changed(error: CoveoError, deleting: bool) -> None:
    explanation = explain(error, deleting=deleting)
    assert explanation.summary == "Could not reach Coveo"
    assert "never reached Coveo" in explanation.next_step
    assert "unknown" not in explanation.summary
    assert explanation.code is None


def test_not_a_user_token() -> None:
    explanation = explain(NotAUserToken("api key"), deleting=False)
    assert explanation.relink is True
    assert "API keys" in explanation.next_step
    assert HOW_TO_GET_TOKEN in explanation.next_step


def test_protocol_error_keeps_request_id() -> None:
    explanation = explain(
        CoveoProtocolError("organization answer is not JSON", "r-9"), deleting=True
    )
    assert explanation.detail is None  # the app's own words are not shown as Coveo's
    assert explanation.request_id == "r-9"
    assert "Nothing was deleted" in explanation.next_step


def test_bare_coveo_error() -> None:
    explanation = explain(CoveoError("odd"), deleting=False)
    assert explanation.detail == "odd"


@pytest.mark.parametrize(
    "error",
    [
        CoveoAPIError(403, None, None, None),
        CoveoAPIError(404, None, None, None),
        CoveoTimeout("t", maybe_sent=True),
        CoveoUnavailable("u", maybe_sent=True),
    ],
)
@pytest.mark.parametrize("deleting", [True, False])
def test_org_id_is_escaped_everywhere(error: CoveoError, deleting: bool) -> None:
    hostile = "x<!channel>&y"
    explanation = explain_coveo_error(error, org_id=hostile, region="us", deleting=deleting)
    text = explanation.as_text()
    assert "<!channel>" not in text
    assert "&y" not in text.replace("&amp;y", "")


# --- as_text ------------------------------------------------------------------------------


def test_as_text_escapes_coveo_words() -> None:
    error = api_error(400, "<!here>", "<!channel> & co <@U0ALICE0001>", request_id="<#C1|x>")
    text = explain(error, deleting=True).as_text()
    assert "<!channel>" not in text
    assert "<!here>" not in text
    assert "<@U0ALICE0001>" not in text
    assert "<#C1|x>" not in text
    assert "&lt;!channel&gt; &amp; co &lt;@U0ALICE0001&gt;" in text
    assert "Coveo request ID: `&lt;#C1|x&gt;`" in text


def test_as_text_layout() -> None:
    text = Explanation("HTTP 500", "boom", "req-1", "Try later.").as_text()
    assert text.splitlines() == [
        "HTTP 500",
        "Coveo says: _boom_",
        "Coveo request ID: `req-1`",
        "*Next step:* Try later.",
    ]


def test_as_text_omits_missing_parts() -> None:
    text = Explanation("Could not reach Coveo", None, None, "Retry.").as_text()
    assert text.splitlines() == ["Could not reach Coveo", "*Next step:* Retry."]


# --- esc ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("<!channel>", "&lt;!channel&gt;"),
        ("a & b", "a &amp; b"),
        ("&lt;", "&amp;lt;"),
        ("<&>", "&lt;&amp;&gt;"),
        ("<https://evil.example|click>", "&lt;https://evil.example|click&gt;"),
        ("", ""),
    ],
)
def test_esc(raw: str, escaped: str) -> None:
    assert esc(raw) == escaped


@pytest.mark.parametrize("raw", ["<@U1>", "a&b<c>d", "&&<<>>", "x" * 50])
def test_esc_output_has_no_markup_characters(raw: str) -> None:
    out = esc(raw)
    assert "<" not in out
    assert ">" not in out
    assert out.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").count("&") == 0


# --- link_refused -------------------------------------------------------------------------


def test_link_refused_not_a_user_token() -> None:
    text = link_refused(NotAUserToken("x"), "us")
    assert "API key" in text
    assert "personal access token" in text


@pytest.mark.parametrize("status", [400, 401, 403])
def test_link_refused_token_refused(status: int) -> None:
    text = link_refused(api_error(status), "ca")
    assert f"HTTP {status}" in text
    assert "region CA" in text
    assert "Nothing was saved" in text


@pytest.mark.parametrize("status", [429, 500, 502])
def test_link_refused_cannot_check(status: int) -> None:
    text = link_refused(api_error(status), "us")
    assert f"HTTP {status}" in text
    assert "could not check" in text
    assert "Nothing was saved" in text


@pytest.mark.parametrize(
    "error",
    [CoveoTimeout("t", maybe_sent=True), CoveoUnavailable("u", maybe_sent=False)],
)
def test_link_refused_unavailable(error: CoveoError) -> None:
    assert "not checked or saved" in link_refused(error, "us")


def test_link_refused_protocol_error() -> None:
    assert "not saved" in link_refused(CoveoProtocolError("bad", None), "us")


def test_link_refused_never_shows_coveo_detail() -> None:
    error = api_error(401, "INVALID_TOKEN", "<!channel> secret-ish detail")
    text = link_refused(error, "us")
    assert "<!channel>" not in text
    assert "secret-ish" not in text


# --- not_deletable ------------------------------------------------------------------------


def test_not_deletable_deleting() -> None:
    text = not_deletable(ORG, False, "DELETING")
    assert "already being deleted" in text
    assert f"`{ORG}`" in text


def test_not_deletable_paused() -> None:
    text = not_deletable(ORG, False, "PAUSED")
    assert f"`{ORG}` is paused" in text
    assert "Reactivate" in text
    assert "Nothing was deleted" in text


@pytest.mark.parametrize("state", [None, "ACTIVE"])
def test_not_deletable_read_only(state: str | None) -> None:
    text = not_deletable(ORG, True, state)
    assert f"`{ORG}` is read-only" in text
    assert "Coveo Support" in text
    assert f"/delete-org {ORG}" in text


def test_not_deletable_escapes_the_id() -> None:
    text = not_deletable("<!channel>", True, None)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("abc\u202edef", "abcU+202Edef"),  # right-to-left override
        ("a\u2066b\u2069", "aU+2066bU+2069"),  # isolates
        ("zero\u200bwidth", "zeroU+200Bwidth"),
        ("bell\x07", "bellU+0007"),
        ("line\u2028sep", "lineU+2028sep"),
        ("org-é", "org-é"),  # visible non-ASCII stays as it is
        ("two\nlines\tand tab", "two\nlines\tand tab"),
    ],
)
def test_esc_shows_invisible_and_bidi_characters_as_code_points(raw: str, shown: str) -> None:
    assert esc(raw) == shown


def test_refused_org_id_with_bidi_override_is_echoed_escaped() -> None:
    with pytest.raises(OrgIdError) as info:
        parse_org_argument("evil\u202eprod")
    text = org_id_problem(info.value)
    assert "\u202e" not in text
    assert "`evilU+202Eprod`" in text
