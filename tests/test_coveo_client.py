"""Unit tests of ``bot.coveo.CoveoClient`` over ``httpx.MockTransport`` (no sockets)."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.coveo import (
    LINK_CHECK_TIMEOUT,
    PLATFORM_HOSTS,
    REGIONS,
    CoveoAPIError,
    CoveoClient,
    CoveoError,
    CoveoProtocolError,
    CoveoTimeout,
    CoveoUnavailable,
    DeleteOutcome,
    Identity,
    NotAUserToken,
    Organization,
    RetryPolicy,
    api_error_from_response,
    parse_organization,
)

TOKEN = "xx590a182c-SECRET-5045-4914-a00b-1f4099581b3e"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Builds clients over a MockTransport and keeps every request they send."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self._clients: list[httpx.Client] = []

    def client(
        self, handler: Handler, *, platform_url: str | None = None, retry: RetryPolicy | None = None
    ) -> CoveoClient:
        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return handler(request)

        http = httpx.Client(transport=httpx.MockTransport(record))
        self._clients.append(http)
        return CoveoClient(http, platform_url=platform_url, retry=retry, sleep=self.sleeps.append)

    def close(self) -> None:
        for http in self._clients:
            http.close()


@pytest.fixture
def rec() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


def reply(
    status: int = 200,
    body: Any = None,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        if body is None:
            return httpx.Response(status, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handler


def raising(error: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    return handler


ORG_BODY = {
    "id": "acme42",
    "displayName": "ACME Production",
    "createdDate": 1_460_705_726_000,
    "publicContentOnly": False,
    "type": "Production",
    "owner": {"email": "owner@example.com"},
    "readOnly": False,
    "configuration": {"servingExperimentAllowed": False},
    "organizationStatusModel": {
        "lifeCycleState": "ACTIVE",
        "pauseState": "ACTIVE",
        "paused": False,
        "readOnly": False,
        "status": "HEALTHY",
    },
    "license": {"productType": "TRIAL", "productEdition": "FREE"},
}


# --- GET organization ---------------------------------------------------------------------


def test_get_organization_request_shape(rec: Recorder) -> None:
    client = rec.client(reply(200, ORG_BODY, headers={"X-Request-ID": "r-get"}))
    org = client.get_organization(TOKEN, "eu", "acme42")

    assert org.id == "acme42"
    (request,) = rec.requests
    assert request.method == "GET"
    assert request.url.scheme == "https"
    assert request.url.host == "platform-eu.cloud.coveo.com"
    assert request.url.path == "/rest/organizations/acme42"
    assert request.url.params.get_list("additionalFields") == ["status", "license"]
    assert request.url.query == b"additionalFields=status&additionalFields=license"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"
    assert request.content == b""


@pytest.mark.parametrize(
    ("org_id", "encoded"),
    [
        ("a/b", "a%2Fb"),
        ("../admin", "..%2Fadmin"),
        ("x?y=1#z", "x%3Fy%3D1%23z"),
        ("sp ace%", "sp%20ace%25"),
    ],
)
def test_org_id_is_one_percent_encoded_segment(rec: Recorder, org_id: str, encoded: str) -> None:
    client = rec.client(reply(204))
    client.delete_organization(TOKEN, "us", org_id)
    client = rec.client(reply(200, {"id": org_id}))
    client.get_organization(TOKEN, "us", org_id)
    for request in rec.requests:
        raw_path = request.url.raw_path.split(b"?", 1)[0]
        assert raw_path == f"/rest/organizations/{encoded}".encode()
    assert rec.requests[1].url.params.get_list("additionalFields") == ["status", "license"]
    assert rec.requests[0].url.query == b""


def test_parse_organization_fields(rec: Recorder) -> None:
    client = rec.client(reply(200, ORG_BODY))
    org = client.get_organization(TOKEN, "us", "acme42")
    assert org == Organization(
        id="acme42",
        display_name="ACME Production",
        type="Production",
        owner_email="owner@example.com",
        created_at=datetime(2016, 4, 15, 7, 35, 26, tzinfo=UTC),
        read_only=False,
        paused=False,
        life_cycle_state="ACTIVE",
        product_type="TRIAL",
    )
    assert org.created_at is not None
    assert org.created_at.utcoffset() == timedelta(0)
    assert org.deletable_state is True


def test_parse_organization_keeps_milliseconds() -> None:
    org = parse_organization({"id": "x", "createdDate": 1_700_000_000_123}, None)
    assert org.created_at == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "read_only", "paused", "state", "deletable"),
    [
        ({"readOnly": True}, True, False, "ACTIVE", False),
        ({"organizationStatusModel": {"readOnly": True}}, True, False, None, False),
        ({"organizationStatusModel": {"paused": True}}, False, True, None, False),
        ({"organizationStatusModel": {"lifeCycleState": "PAUSED"}}, False, True, "PAUSED", False),
        (
            {"organizationStatusModel": {"lifeCycleState": "DELETING"}},
            False,
            False,
            "DELETING",
            False,
        ),
        ({"organizationStatusModel": None}, False, False, None, True),
        ({"organizationStatusModel": "weird"}, False, False, None, True),
    ],
)
def test_parse_organization_states(
    changes: dict[str, Any], read_only: bool, paused: bool, state: str | None, deletable: bool
) -> None:
    org = parse_organization({**ORG_BODY, **changes}, "r")
    assert org.read_only is read_only
    assert org.paused is paused
    assert org.life_cycle_state == state
    assert org.deletable_state is deletable


def test_parse_organization_minimal_body() -> None:
    org = parse_organization({"id": "bare"}, None)
    assert org.display_name == "bare"
    assert org.type is None
    assert org.owner_email is None
    assert org.created_at is None
    assert org.product_type is None
    assert org.life_cycle_state is None


@pytest.mark.parametrize("created", [True, 0, -5, "1460705726000", None, 1e30])
def test_parse_organization_ignores_unusable_created_date(created: object) -> None:
    assert parse_organization({"id": "x", "createdDate": created}, None).created_at is None


@pytest.mark.parametrize(
    "body", [[], "acme", None, {"displayName": "no id"}, {"id": 42}, {"id": None}]
)
def test_parse_organization_without_id_is_a_protocol_error(body: object) -> None:
    with pytest.raises(CoveoProtocolError) as info:
        parse_organization(body, "r-1")
    assert info.value.request_id == "r-1"


def test_get_organization_non_json_success_is_a_protocol_error(rec: Recorder) -> None:
    client = rec.client(reply(200, text="<html>ok</html>", headers={"X-Request-ID": "r-html"}))
    with pytest.raises(CoveoProtocolError) as info:
        client.get_organization(TOKEN, "us", "acme42")
    assert info.value.request_id == "r-html"


def test_get_organization_error_status_raises_api_error(rec: Recorder) -> None:
    client = rec.client(
        reply(404, {"errorCode": "ORGANIZATION_NOT_FOUND", "message": "nope"}, headers={})
    )
    with pytest.raises(CoveoAPIError) as info:
        client.get_organization(TOKEN, "us", "acme42")
    assert info.value.status == 404
    assert info.value.code == "ORGANIZATION_NOT_FOUND"


# --- DELETE organization ------------------------------------------------------------------


def test_delete_organization_204(rec: Recorder) -> None:
    client = rec.client(reply(204, headers={"X-Request-ID": "req-delete-1"}))
    outcome = client.delete_organization(TOKEN, "ca", "acme42")
    assert outcome == DeleteOutcome(204, "req-delete-1")
    (request,) = rec.requests
    assert request.method == "DELETE"
    assert str(request.url) == "https://platform-ca.cloud.coveo.com/rest/organizations/acme42"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.content == b""


def test_delete_organization_without_request_id(rec: Recorder) -> None:
    assert rec.client(reply(204)).delete_organization(TOKEN, "us", "a") == DeleteOutcome(204, None)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 500, 502, 503, 301])
def test_delete_organization_non_2xx_raises(rec: Recorder, status: int) -> None:
    client = rec.client(reply(status, {"errorCode": "X", "message": "m"}))
    with pytest.raises(CoveoAPIError) as info:
        client.delete_organization(TOKEN, "us", "acme42")
    assert info.value.status == status
    assert len(rec.requests) == 1  # sent once: Coveo may have acted, never retried
    assert rec.sleeps == []


def test_delete_429_is_retried_with_backoff_then_raised(rec: Recorder) -> None:
    client = rec.client(reply(429, {"errorCode": "TOO_MANY_REQUESTS"}))
    with pytest.raises(CoveoAPIError) as info:
        client.delete_organization(TOKEN, "us", "acme42")
    assert info.value.status == 429
    assert len(rec.requests) == 3
    assert len(rec.sleeps) == 2 and 0.5 <= rec.sleeps[0] <= 0.625 and 1.0 <= rec.sleeps[1] <= 1.25


def test_delete_429_honours_retry_after_then_succeeds(rec: Recorder) -> None:
    answers = iter([reply(429, headers={"Retry-After": "2"}), reply(204)])
    client = rec.client(lambda request: next(answers)(request))
    assert client.delete_organization(TOKEN, "us", "acme42").status == 204
    assert rec.sleeps == [2.0]
    assert len(rec.requests) == 2


def test_delete_429_with_long_retry_after_is_not_waited_for(rec: Recorder) -> None:
    client = rec.client(reply(429, headers={"Retry-After": "600"}))
    with pytest.raises(CoveoAPIError):
        client.delete_organization(TOKEN, "us", "acme42")
    assert len(rec.requests) == 1 and rec.sleeps == []


def test_delete_retried_only_when_the_connection_was_refused(rec: Recorder) -> None:
    calls = {"n": 0}

    def refuse_then_delete(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(204)

    assert rec.client(refuse_then_delete).delete_organization(TOKEN, "us", "a1").status == 204
    assert calls["n"] == 2


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError]
)
def test_delete_never_retried_when_it_may_have_arrived(rec: Recorder, exc: type[Exception]) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)  # type: ignore[call-arg]

    with pytest.raises(CoveoUnavailable):
        rec.client(fail).delete_organization(TOKEN, "us", "a1")
    assert len(rec.requests) == 1 and rec.sleeps == []


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_organization_read_retries_transient_statuses(rec: Recorder, status: int) -> None:
    answers = iter([reply(status), reply(status), reply(200, ORG_BODY_FOR_RETRY)])
    client = rec.client(lambda request: next(answers)(request))
    assert client.get_organization(TOKEN, "us", "acme42").id == "acme42"
    assert len(rec.requests) == 3 and len(rec.sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
def test_organization_read_does_not_retry_other_statuses(rec: Recorder, status: int) -> None:
    with pytest.raises(CoveoAPIError):
        rec.client(reply(status)).get_organization(TOKEN, "us", "acme42")
    assert len(rec.requests) == 1


def test_organization_read_retries_connection_errors_but_not_read_timeouts(rec: Recorder) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(CoveoUnavailable):
        rec.client(refuse).get_organization(TOKEN, "us", "acme42")
    assert len(rec.requests) == 3
    rec.requests.clear()

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(CoveoTimeout):
        rec.client(slow).get_organization(TOKEN, "us", "acme42")
    assert len(rec.requests) == 1


ORG_BODY_FOR_RETRY = {"id": "acme42", "displayName": "Acme"}


# --- error shapes -------------------------------------------------------------------------

ERROR_SHAPES: list[tuple[str, int, dict[str, str], Any, str | None, str | None, str | None]] = [
    # id, status, headers, body (dict -> JSON, str -> text), code, detail fragment, request id
    (
        "errorCode+message",
        403,
        {"X-Request-ID": "h-1"},
        {"errorCode": "ACCESS_DENIED", "message": "You are not allowed."},
        "ACCESS_DENIED",
        "You are not allowed.",
        "h-1",
    ),
    (
        "title+detail",
        401,
        {},
        {"title": "INVALID_TOKEN", "detail": "The token is expired", "requestID": "b-2"},
        "INVALID_TOKEN",
        "The token is expired",
        "b-2",
    ),
    (
        "type+message",
        400,
        {},
        {"type": "ORGANIZATION_IS_PAUSED", "message": "Paused."},
        "ORGANIZATION_IS_PAUSED",
        "Paused.",
        None,
    ),
    (
        "code+message",
        412,
        {},
        {"code": "INVALID_PARAMETER", "message": "Bad id"},
        "INVALID_PARAMETER",
        "Bad id",
        None,
    ),
    (
        "oauth error",
        400,
        {},
        {"error": "invalid_token", "error_description": "Token was not recognised"},
        "invalid_token",
        "Token was not recognised",
        None,
    ),
    (
        "errorCode wins over title",
        403,
        {},
        {"title": "Forbidden", "errorCode": "ACCESS_DENIED", "detail": "d"},
        "ACCESS_DENIED",
        "d",
        None,
    ),
    (
        "html 502",
        502,
        {"content-type": "text/html; charset=utf-8", "X-Request-ID": "h-502"},
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        None,
        "HTML error page",
        "h-502",
    ),
    (
        "html without content type",
        503,
        {"content-type": "text/plain"},
        "  <!DOCTYPE html><html>down</html>",
        None,
        "HTML error page",
        None,
    ),
    (
        "waf block",
        403,
        {"x-coveo-waf-action": "block", "content-type": "text/html"},
        "<html>Request blocked</html>",
        None,
        "firewall",
        None,
    ),
    (
        "waf block uppercase",
        403,
        {"X-Coveo-WAF-Action": "BLOCK"},
        "blocked",
        None,
        "firewall",
        None,
    ),
    ("empty body", 500, {}, "", None, None, None),
    ("whitespace body", 500, {}, "   \n", None, None, None),
    (
        "plain text",
        500,
        {"content-type": "text/plain"},
        "Internal oops",
        None,
        "Internal oops",
        None,
    ),
    ("json list", 500, {}, [1, 2], None, "[1,", None),
    ("numeric code ignored", 418, {}, {"code": 418, "message": "teapot"}, None, "teapot", None),
    (
        "header request id wins over body",
        500,
        {"X-Request-ID": "from-header"},
        {"errorCode": "E", "message": "m", "requestID": "from-body"},
        "E",
        "m",
        "from-header",
    ),
    ("body requestId", 500, {}, {"message": "m", "requestId": "camel"}, None, "m", "camel"),
]


@pytest.mark.parametrize(
    ("status", "headers", "body", "code", "detail", "request_id"),
    [case[1:] for case in ERROR_SHAPES],
    ids=[case[0] for case in ERROR_SHAPES],
)
def test_error_shapes(
    rec: Recorder,
    status: int,
    headers: dict[str, str],
    body: Any,
    code: str | None,
    detail: str | None,
    request_id: str | None,
) -> None:
    if isinstance(body, str):
        client = rec.client(reply(status, text=body, headers=headers))
    else:
        client = rec.client(reply(status, body, headers=headers))
    with pytest.raises(CoveoAPIError) as info:
        client.delete_organization(TOKEN, "us", "acme42")
    error = info.value
    assert error.status == status
    assert error.code == code
    if detail is None:
        assert error.detail is None
    else:
        assert error.detail is not None
        assert detail in error.detail
    assert error.request_id == request_id
    assert str(status) in str(error)
    assert "<html" not in (error.detail or "").lower()


def test_long_detail_is_clipped_and_single_line() -> None:
    response = httpx.Response(500, json={"message": "word \n\t" * 400})
    error = api_error_from_response(response)
    assert error.detail is not None
    assert len(error.detail) <= 300
    assert "\n" not in error.detail
    assert error.detail.endswith("…")


# --- Retry-After --------------------------------------------------------------------------


def test_retry_after_seconds() -> None:
    error = api_error_from_response(httpx.Response(429, headers={"Retry-After": "120"}))
    assert error.retry_after == 120.0


def test_retry_after_http_date_in_future() -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    header = email.utils.format_datetime(when, usegmt=True)
    error = api_error_from_response(httpx.Response(429, headers={"Retry-After": header}))
    assert error.retry_after is not None
    assert 80 <= error.retry_after <= 91


def test_retry_after_http_date_is_measured_on_the_clock_helper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    monkeypatch.setattr("bot.coveo.utcnow", lambda: frozen)
    header = email.utils.format_datetime(frozen + timedelta(seconds=45), usegmt=True)
    error = api_error_from_response(httpx.Response(429, headers={"Retry-After": header}))
    assert error.retry_after == 45.0


def test_retry_after_http_date_under_freezegun() -> None:
    from freezegun import freeze_time

    with freeze_time("2026-03-01T12:00:00+00:00"):
        header = "Sun, 01 Mar 2026 12:01:00 GMT"
        error = api_error_from_response(httpx.Response(429, headers={"Retry-After": header}))
    assert error.retry_after == 60.0


def test_retry_after_http_date_in_past_is_zero() -> None:
    header = "Wed, 21 Oct 2015 07:28:00 GMT"
    error = api_error_from_response(httpx.Response(429, headers={"Retry-After": header}))
    assert error.retry_after == 0.0


@pytest.mark.parametrize("value", ["soon", "-5", "", "1.5.2"])
def test_retry_after_unreadable_is_none(value: str) -> None:
    error = api_error_from_response(httpx.Response(429, headers={"Retry-After": value}))
    assert error.retry_after is None


def test_retry_after_absent_is_none() -> None:
    assert api_error_from_response(httpx.Response(429)).retry_after is None


def test_retry_after_reaches_the_caller(rec: Recorder) -> None:
    client = rec.client(
        reply(429, {"errorCode": "TOO_MANY_REQUESTS"}, headers={"Retry-After": "7"})
    )
    with pytest.raises(CoveoAPIError) as info:
        client.get_organization(TOKEN, "us", "acme42")
    assert info.value.retry_after == 7.0
    assert info.value.code == "TOO_MANY_REQUESTS"


# --- read-only ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "detail", "read_only"),
    [
        ("ORGANIZATION_IS_PAUSED", None, True),
        ("organization_is_paused", None, True),
        ("OPERATION_FORBIDDEN_FOR_ORGANIZATION_IN_READ_ONLY", "x", True),
        ("ACCESS_DENIED", "The organization is in read-only mode.", True),
        (None, "Organization is READ-ONLY", True),
        (None, "organization is read only", True),
        ("ACCESS_DENIED", "You lack privileges", False),
        (None, None, False),
    ],
)
def test_read_only_detection(code: str | None, detail: str | None, read_only: bool) -> None:
    assert CoveoAPIError(400, code, detail, None).read_only is read_only


def test_read_only_from_a_response() -> None:
    response = httpx.Response(
        412,
        json={"errorCode": "OPERATION_FORBIDDEN_FOR_ORGANIZATION_IN_READ_ONLY", "message": "no"},
    )
    assert api_error_from_response(response).read_only is True


# --- transport failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind", "maybe_sent"),
    [
        (httpx.ReadTimeout("read timed out"), CoveoTimeout, True),
        (httpx.WriteTimeout("write timed out"), CoveoTimeout, True),
        (httpx.ConnectTimeout("connect timed out"), CoveoTimeout, False),
        (httpx.ConnectError("connection refused"), CoveoUnavailable, False),
        (httpx.ReadError("connection reset"), CoveoUnavailable, True),
        (httpx.RemoteProtocolError("server hung up"), CoveoUnavailable, True),
    ],
)
@pytest.mark.parametrize("call", ["delete", "get", "check"])
def test_transport_failures(
    rec: Recorder, error: Exception, kind: type[CoveoUnavailable], maybe_sent: bool, call: str
) -> None:
    client = rec.client(raising(error))
    with pytest.raises(CoveoUnavailable) as info:
        if call == "delete":
            client.delete_organization(TOKEN, "us", "acme42")
        elif call == "get":
            client.get_organization(TOKEN, "us", "acme42")
        else:
            client.check_token(TOKEN, "us")
    assert type(info.value) is kind
    assert info.value.maybe_sent is maybe_sent
    assert info.value.__cause__ is error
    assert TOKEN not in str(info.value)


def test_connect_error_is_not_a_timeout(rec: Recorder) -> None:
    client = rec.client(raising(httpx.ConnectError("refused")))
    with pytest.raises(CoveoUnavailable) as info:
        client.delete_organization(TOKEN, "us", "acme42")
    assert not isinstance(info.value, CoveoTimeout)


def test_pool_timeout_means_the_request_was_never_sent(rec: Recorder) -> None:
    # httpx raises PoolTimeout while waiting for a free connection from its pool, before
    # anything is written, so a DELETE cannot have reached Coveo.
    client = rec.client(raising(httpx.PoolTimeout("no connection available")))
    with pytest.raises(CoveoTimeout) as info:
        client.delete_organization(TOKEN, "us", "acme42")
    assert info.value.maybe_sent is False


# --- check_token --------------------------------------------------------------------------


def test_check_token_user(rec: Recorder) -> None:
    body = {
        "authentication": {
            "username": "alice@example.com-google",
            "email": "alice@example.com",
            "displayName": "Alice",
            "anonymous": False,
        },
        "exp": 1_900_000_000,
    }
    client = rec.client(reply(200, body))
    identity = client.check_token(TOKEN, "au", timeout=LINK_CHECK_TIMEOUT)
    assert identity == Identity(
        username="alice@example.com-google",
        email="alice@example.com",
        display_name="Alice",
        expires_at=datetime(2030, 3, 17, 17, 46, 40, tzinfo=UTC),
    )
    assert identity.expires_at is not None
    assert identity.expires_at.utcoffset() == timedelta(0)

    (request,) = rec.requests
    assert request.method == "POST"
    assert str(request.url) == "https://platform-au.cloud.coveo.com/oauth/check_token"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(httpx.QueryParams(request.content.decode())) == {"token": TOKEN}
    assert request.extensions["timeout"]["read"] == LINK_CHECK_TIMEOUT.read
    assert request.extensions["timeout"]["connect"] == LINK_CHECK_TIMEOUT.connect


def test_check_token_without_exp_and_with_top_level_user_name(rec: Recorder) -> None:
    client = rec.client(reply(200, {"user_name": "bob", "active": True}))
    identity = client.check_token(TOKEN, "us")
    assert identity == Identity(username="bob", email=None, display_name=None, expires_at=None)


@pytest.mark.parametrize(
    "body",
    [
        {"authentication": {"anonymous": True, "username": "apikey-xyz"}},
        {"authentication": {"anonymous": True}},
        {"authentication": {"username": ""}},
        {"authentication": {}},
        {},
        {"authentication": "apikey"},
    ],
)
def test_check_token_not_a_user(rec: Recorder, body: dict[str, Any]) -> None:
    client = rec.client(reply(200, body))
    with pytest.raises(NotAUserToken) as info:
        client.check_token(TOKEN, "us")
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize("status", [400, 401, 403, 500])
def test_check_token_refused(rec: Recorder, status: int) -> None:
    client = rec.client(
        reply(status, {"error": "invalid_token", "error_description": "Token has expired"})
    )
    with pytest.raises(CoveoAPIError) as info:
        client.check_token(TOKEN, "us")
    assert info.value.status == status
    assert info.value.code == "invalid_token"


@pytest.mark.parametrize(
    ("text", "headers"),
    [
        ("<html>login</html>", {"content-type": "text/html"}),
        ("", {}),
        ('["a"]', {"content-type": "application/json"}),
        ('"string"', {"content-type": "application/json"}),
    ],
)
def test_check_token_unreadable_success_is_a_protocol_error(
    rec: Recorder, text: str, headers: dict[str, str]
) -> None:
    client = rec.client(reply(200, text=text, headers={**headers, "X-Request-ID": "r-ct"}))
    with pytest.raises(CoveoProtocolError) as info:
        client.check_token(TOKEN, "us")
    assert info.value.request_id == "r-ct"


# --- hosts and regions --------------------------------------------------------------------


@pytest.mark.parametrize("region", REGIONS)
def test_platform_host_per_region(rec: Recorder, region: str) -> None:
    client = rec.client(reply(204))
    assert client.base_url(region) == PLATFORM_HOSTS[region]
    client.delete_organization(TOKEN, region, "acme42")
    assert str(rec.requests[0].url) == f"{PLATFORM_HOSTS[region]}/rest/organizations/acme42"


def test_platform_hosts_table() -> None:
    assert PLATFORM_HOSTS == {
        "us": "https://platform.cloud.coveo.com",
        "eu": "https://platform-eu.cloud.coveo.com",
        "au": "https://platform-au.cloud.coveo.com",
        "ca": "https://platform-ca.cloud.coveo.com",
        "hipaa": "https://platformhipaa.cloud.coveo.com",
    }


@pytest.mark.parametrize("region", REGIONS)
def test_platform_url_override_replaces_every_region(rec: Recorder, region: str) -> None:
    client = rec.client(reply(204), platform_url="http://127.0.0.1:8999/")
    assert client.base_url(region) == "http://127.0.0.1:8999"
    client.delete_organization(TOKEN, region, "acme42")
    assert str(rec.requests[0].url) == "http://127.0.0.1:8999/rest/organizations/acme42"


@pytest.mark.parametrize("platform_url", [None, "http://127.0.0.1:8999"])
@pytest.mark.parametrize("region", ["US", "eu-west-1", "", "dev", "us-east-1"])
def test_unknown_region_is_a_value_error(
    rec: Recorder, platform_url: str | None, region: str
) -> None:
    client = rec.client(reply(204), platform_url=platform_url)
    with pytest.raises(ValueError):
        client.base_url(region)
    with pytest.raises(ValueError):
        client.delete_organization(TOKEN, region, "acme42")
    with pytest.raises(ValueError):
        client.check_token(TOKEN, region)
    assert rec.requests == []


# --- the token never leaks ----------------------------------------------------------------

ECHOING_FAILURES: list[Handler] = [
    reply(401, {"errorCode": "INVALID_TOKEN", "message": "bad"}),
    reply(400, {"error": "invalid_token", "error_description": "Token was not recognised"}),
    reply(500, text="Internal error"),
    reply(502, text="<html>bad gateway</html>", headers={"content-type": "text/html"}),
    reply(403, text="blocked", headers={"x-coveo-waf-action": "block"}),
    reply(200, text="not json"),
    reply(200, {"authentication": {"anonymous": True}}),
    raising(httpx.ReadTimeout("timed out")),
    raising(httpx.ConnectTimeout("timed out")),
    raising(httpx.ConnectError("refused")),
    raising(httpx.ReadError("reset")),
]


@pytest.mark.parametrize("handler", ECHOING_FAILURES)
def test_token_never_in_raised_exception_text(rec: Recorder, handler: Handler) -> None:
    client = rec.client(handler)
    raised: list[CoveoError] = []
    for call in (
        lambda: client.check_token(TOKEN, "us"),
        lambda: client.get_organization(TOKEN, "us", "acme42"),
        lambda: client.delete_organization(TOKEN, "us", "acme42"),
    ):
        try:
            call()
        except CoveoError as error:
            raised.append(error)
    assert raised
    for error in raised:
        assert TOKEN not in str(error)
        assert TOKEN not in repr(error)
        assert all(TOKEN not in str(arg) for arg in error.args)


def test_token_echoed_by_coveo_is_not_kept_in_the_error(rec: Recorder) -> None:
    # OAuth servers commonly answer "Invalid access token: <token>"; the detail is later posted
    # in Slack and written to the audit log, so the client must not carry the token onward.
    client = rec.client(
        reply(
            401,
            {"error": "invalid_token", "error_description": f"Invalid access token: {TOKEN}"},
        )
    )
    with pytest.raises(CoveoAPIError) as info:
        client.check_token(TOKEN, "us")
    error = info.value
    assert TOKEN not in str(error)
    assert TOKEN not in (error.detail or "")
    assert TOKEN not in json.dumps(vars(error), default=str)


def test_absurd_token_expiry_is_read_as_unknown(rec: Recorder) -> None:
    body = '{"authentication": {"username": "a@example.com"}, "exp": 1e400}'
    identity = rec.client(
        reply(200, text=body, headers={"Content-Type": "application/json"})
    ).check_token(TOKEN, "us")
    assert identity.expires_at is None


def test_request_id_echoing_the_token_is_redacted(rec: Recorder) -> None:
    client = rec.client(
        reply(403, {"errorCode": "ACCESS_DENIED"}, headers={"X-Request-ID": f"r-{TOKEN}"})
    )
    with pytest.raises(CoveoAPIError) as info:
        client.delete_organization(TOKEN, "us", "acme42")
    assert info.value.request_id is not None and TOKEN not in info.value.request_id


def test_unreadable_answer_is_a_protocol_error(rec: Recorder) -> None:
    def gzip_lie(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not gzip", headers={"Content-Encoding": "gzip"})

    with pytest.raises(CoveoProtocolError):
        rec.client(gzip_lie).get_organization(TOKEN, "us", "acme42")
