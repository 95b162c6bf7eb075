"""End-to-end tests of the fake Coveo Platform API over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.emulator.coveo import FakeCoveo, FakeOrganization, FakeToken, RecordedRequest

ADMIN = "tok-admin-us"
VIEWER = "tok-viewer-us"
SCOPED = "tok-scoped-us"
EU = "tok-admin-eu"
EXPIRED = "tok-expired"
STALE = "tok-stale"
API_KEY = "tok-apikey"

PROD = "prodorgus1"
TRIAL = "trialorgus2"
READONLY = "readonlyorgus3"
PAUSED = "pausedorgus4"
EU_ORG = "euorg5"

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeCoveo]:
    with FakeCoveo() as server:
        server.add_organization(FakeOrganization(PROD, "Prod US", created_ms=1_650_000_000_000))
        server.add_organization(
            FakeOrganization(TRIAL, "Trial US", type="TRIAL", product_type="TRIAL")
        )
        server.add_organization(FakeOrganization(READONLY, "Read-only US", read_only=True))
        server.add_organization(FakeOrganization(PAUSED, "Paused US", paused=True))
        server.add_organization(FakeOrganization(EU_ORG, "Prod EU", region="eu"))
        server.add_token(
            FakeToken(ADMIN, "alice@example.com", "alice@example.com", expires_at=2_000_000_000.0)
        )
        server.add_token(
            FakeToken(VIEWER, "bob@example.com", "bob@example.com", can_edit=frozenset())
        )
        server.add_token(
            FakeToken(
                SCOPED,
                "carol@example.com",
                "carol@example.com",
                can_view=frozenset({TRIAL}),
            )
        )
        server.add_token(FakeToken(EU, "dave@example.com", "dave@example.com", region="eu"))
        server.add_token(FakeToken(EXPIRED, "erin@example.com", "erin@example.com", expired=True))
        server.add_token(
            FakeToken(STALE, "fay@example.com", "fay@example.com", expires_at=time.time() - 5)
        )
        server.add_token(FakeToken(API_KEY, "apikey", "", kind="api_key"))
        yield server


@pytest.fixture
def client(fake: FakeCoveo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, timeout=5.0) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- basics -----------------------------------------------------------------------------------


def test_url_has_no_trailing_slash_and_real_port(fake: FakeCoveo) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.url)
    assert not fake.url.endswith(":0")


def test_every_response_has_unique_request_id_and_json_content_type(
    client: httpx.Client, fake: FakeCoveo
) -> None:
    responses = [
        client.get(f"/rest/organizations/{PROD}", headers=bearer(ADMIN)),
        client.get("/rest/organizations/nope", headers=bearer(ADMIN)),
        client.get("/rest/organizations"),
        client.get("/nowhere"),
        client.delete(f"/rest/organizations/{TRIAL}", headers=bearer(ADMIN)),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)
    for r in responses[:4]:
        assert r.headers["content-type"] == "application/json"
    assert [r.request_id for r in fake.requests()] == ids


def test_unknown_path_is_404_not_found(client: httpx.Client) -> None:
    r = client.get("/rest/whatever", headers=bearer(ADMIN))
    assert r.status_code == 404
    assert r.json()["errorCode"] == "NOT_FOUND"
    assert r.json()["message"]
    odd = client.request("TRACE", "/rest/organizations", headers=bearer(ADMIN))
    assert odd.status_code == 404
    assert odd.json()["errorCode"] == "NOT_FOUND"
    assert odd.headers["x-request-id"]


# -- authentication ---------------------------------------------------------------------------


def test_missing_authorization_is_401_unauthorized(client: httpx.Client) -> None:
    for r in (
        client.get(f"/rest/organizations/{PROD}"),
        client.delete(f"/rest/organizations/{PROD}"),
    ):
        assert r.status_code == 401
        assert r.json()["errorCode"] == "UNAUTHORIZED"
        assert r.json()["message"]


@pytest.mark.parametrize("token", ["no-such-token", EXPIRED, STALE])
def test_unknown_or_expired_token_is_401_invalid_token(client: httpx.Client, token: str) -> None:
    r = client.get("/rest/organizations", headers=bearer(token))
    assert r.status_code == 401
    assert r.json()["errorCode"] == "INVALID_TOKEN"


def test_recorded_request_exposes_bearer(client: httpx.Client, fake: FakeCoveo) -> None:
    client.get("/rest/organizations", headers=bearer(ADMIN), params={"x": ["1", "2"]})
    client.get("/rest/organizations", headers={"Authorization": "Basic abc"})
    first, second = fake.requests("GET", "/rest/organizations")
    assert first.bearer == ADMIN
    assert first.query == {"x": ["1", "2"]}
    assert first.headers["authorization"] == f"Bearer {ADMIN}"
    assert second.bearer is None


# -- /oauth/check_token -----------------------------------------------------------------------


def test_check_token_user_form_encoded(client: httpx.Client) -> None:
    r = client.post("/oauth/check_token", data={"token": ADMIN}, headers=bearer(ADMIN))
    assert r.status_code == 200
    assert r.json() == {
        "active": True,
        "user_name": "alice@example.com",
        "exp": 2_000_000_000,
        "authentication": {
            "username": "alice@example.com",
            "email": "alice@example.com",
            "displayName": "Alice",
        },
    }


def test_check_token_multipart_and_no_exp_when_unset(client: httpx.Client) -> None:
    r = client.post("/oauth/check_token", files={"token": (None, VIEWER)})
    assert r.status_code == 200
    body = r.json()
    assert body["user_name"] == "bob@example.com"
    assert "exp" not in body


def test_check_token_api_key_is_anonymous(client: httpx.Client) -> None:
    r = client.post("/oauth/check_token", data={"token": API_KEY})
    assert r.status_code == 200
    assert r.json() == {"active": True, "authentication": {"anonymous": True, "username": None}}


@pytest.mark.parametrize("token", ["no-such-token", EXPIRED, STALE])
def test_check_token_invalid_is_400(client: httpx.Client, token: str) -> None:
    r = client.post("/oauth/check_token", data={"token": token})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_token"
    assert r.json()["error_description"]


# -- GET organization(s) ----------------------------------------------------------------------


def test_get_organization_model(client: httpx.Client) -> None:
    r = client.get(f"/rest/organizations/{PROD}", headers=bearer(ADMIN))
    assert r.status_code == 200
    assert r.json() == {
        "id": PROD,
        "displayName": "Prod US",
        "createdDate": 1_650_000_000_000,
        "publicContentOnly": False,
        "type": "Production",
        "owner": {"email": "owner@example.com"},
        "readOnly": False,
        "configuration": {"servingExperimentAllowed": False},
    }


def test_get_organization_additional_fields(client: httpx.Client) -> None:
    params = {"additionalFields": ["status", "license"]}
    trial = client.get(f"/rest/organizations/{TRIAL}", headers=bearer(ADMIN), params=params).json()
    assert trial["license"] == {
        "productType": "TRIAL",
        "productEdition": "ENTERPRISE",
        "expirationStatus": "ACTIVE",
        "type": "TRIAL",
    }
    status = trial["organizationStatusModel"]
    assert status["lifeCycleState"] == "ACTIVE" and status["pauseState"] == "ACTIVE"
    assert status["paused"] is False and status["readOnly"] is False
    assert status["status"] == "HEALTHY" and status["errorCodes"] == []
    assert status["supportActivated"] is False and "provisioningStatus" in status

    paused = client.get(
        f"/rest/organizations/{PAUSED}",
        headers=bearer(ADMIN),
        params={"additionalFields": "status"},
    ).json()
    assert paused["readOnly"] is True and "license" not in paused
    assert paused["organizationStatusModel"]["lifeCycleState"] == "PAUSED"
    assert paused["organizationStatusModel"]["pauseState"] == "PAUSED"
    assert paused["organizationStatusModel"]["paused"] is True


def test_get_unknown_organization_is_404(client: httpx.Client) -> None:
    r = client.get("/rest/organizations/doesnotexist", headers=bearer(ADMIN))
    assert r.status_code == 404
    assert r.json()["errorCode"] == "ORGANIZATION_NOT_FOUND"


@pytest.mark.parametrize(("token", "org_id"), [(EU, PROD), (ADMIN, EU_ORG), (SCOPED, PROD)])
def test_get_other_region_or_not_viewable_is_403(
    client: httpx.Client, token: str, org_id: str
) -> None:
    r = client.get(f"/rest/organizations/{org_id}", headers=bearer(token))
    assert r.status_code == 403
    assert r.json()["errorCode"] == "ACCESS_DENIED"


def test_list_organizations_is_region_and_view_scoped(client: httpx.Client) -> None:
    def ids(token: str) -> list[str]:
        r = client.get("/rest/organizations", headers=bearer(token))
        assert r.status_code == 200
        assert isinstance(r.json(), list)
        return [org["id"] for org in r.json()]

    assert ids(ADMIN) == [PROD, TRIAL, READONLY, PAUSED]
    assert ids(EU) == [EU_ORG]
    assert ids(SCOPED) == [TRIAL]


def test_list_organizations_paged_when_paging_params(client: httpx.Client) -> None:
    r = client.get(
        "/rest/organizations",
        headers=bearer(ADMIN),
        params={"page": 1, "perPage": 3, "sortBy": "id"},
    )
    assert r.json() == {
        "items": [
            {
                "id": TRIAL,
                "displayName": "Trial US",
                "createdDate": 1_700_000_000_000,
                "publicContentOnly": False,
                "type": "TRIAL",
                "owner": {"email": "owner@example.com"},
                "readOnly": False,
                "configuration": {"servingExperimentAllowed": False},
            }
        ],
        "totalEntries": 4,
        "totalPages": 2,
    }


# -- DELETE -----------------------------------------------------------------------------------


def test_delete_removes_organization(client: httpx.Client, fake: FakeCoveo) -> None:
    r = client.delete(f"/rest/organizations/{TRIAL}", headers=bearer(ADMIN))
    assert r.status_code == 204
    assert r.content == b""
    assert "content-type" not in r.headers
    assert fake.organization(TRIAL) is None
    assert fake.organization(PROD) is not None
    again = client.get(f"/rest/organizations/{TRIAL}", headers=bearer(ADMIN))
    assert again.status_code == 404
    twice = client.delete(f"/rest/organizations/{TRIAL}", headers=bearer(ADMIN))
    assert twice.status_code == 404
    assert twice.json()["errorCode"] == "ORGANIZATION_NOT_FOUND"
    assert len(fake.deletes(TRIAL)) == 2
    assert fake.deletes(PROD) == []
    assert [d.bearer for d in fake.deletes()] == [ADMIN, ADMIN]


def test_concurrent_deletes_of_one_org_succeed_once(fake: FakeCoveo) -> None:
    statuses: list[int] = []
    lock = threading.Lock()

    def delete() -> None:
        with httpx.Client(base_url=fake.url, timeout=5.0) as http:
            status = http.delete(f"/rest/organizations/{PROD}", headers=bearer(ADMIN)).status_code
        with lock:
            statuses.append(status)

    workers = [threading.Thread(target=delete) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(5.0)
    assert sorted(statuses) == [204] + [404] * 7
    assert len(fake.deletes(PROD)) == 8


@pytest.mark.parametrize(
    ("token", "org_id", "status", "body"),
    [
        (ADMIN, "doesnotexist", 404, {"errorCode": "ORGANIZATION_NOT_FOUND"}),
        (EU, PROD, 403, {"errorCode": "ACCESS_DENIED"}),
        (SCOPED, PROD, 403, {"errorCode": "ACCESS_DENIED"}),
        (API_KEY, PROD, 403, {"type": "OPERATION_FORBIDDEN_FOR_ANONYMOUS_AUTHENTICATION"}),
        (VIEWER, PROD, 403, {"title": "ACCESS_DENIED"}),
        (ADMIN, PAUSED, 400, {"errorCode": "ORGANIZATION_IS_PAUSED"}),
        (ADMIN, READONLY, 412, {"title": "OPERATION_FORBIDDEN_FOR_ORGANIZATION_IN_READ_ONLY"}),
        (EXPIRED, PROD, 401, {"errorCode": "INVALID_TOKEN"}),
    ],
)
def test_delete_refusals(
    client: httpx.Client,
    fake: FakeCoveo,
    token: str,
    org_id: str,
    status: int,
    body: dict[str, str],
) -> None:
    r = client.delete(f"/rest/organizations/{org_id}", headers=bearer(token))
    assert r.status_code == status
    payload = r.json()
    assert payload.items() >= body.items()
    assert payload.get("message") or payload.get("detail")
    if org_id != "doesnotexist":
        assert fake.organization(org_id) is not None


def test_viewer_refusal_mentions_edit_privilege(client: httpx.Client) -> None:
    r = client.delete(f"/rest/organizations/{PROD}", headers=bearer(VIEWER))
    assert "Organization - Edit" in r.json()["detail"]


# -- fault injection --------------------------------------------------------------------------


def test_fail_next_counts_down_and_is_recorded(client: httpx.Client, fake: FakeCoveo) -> None:
    fake.fail_next(
        "GET",
        r"^/rest/organizations/",
        429,
        body={"errorCode": "TOO_MANY_REQUESTS", "message": "slow down"},
        headers={"Retry-After": "1"},
        times=2,
    )
    url = f"/rest/organizations/{PROD}"
    first = client.get(url, headers=bearer(ADMIN))
    assert first.status_code == 429
    assert first.json()["errorCode"] == "TOO_MANY_REQUESTS"
    assert first.headers["retry-after"] == "1"
    assert first.headers["x-request-id"]
    # A non-matching method is not affected and does not consume the rule.
    assert client.delete("/rest/organizations/nope", headers=bearer(ADMIN)).status_code == 404
    assert client.get(url, headers=bearer(ADMIN)).status_code == 429
    assert client.get(url, headers=bearer(ADMIN)).status_code == 200
    assert len(fake.requests("GET", url)) == 3


def test_fail_next_html_502_and_canned_delete_keeps_org(
    client: httpx.Client, fake: FakeCoveo
) -> None:
    fake.fail_next("DELETE", PROD, 502, body="<html><body>Bad Gateway</body></html>")
    r = client.delete(f"/rest/organizations/{PROD}", headers=bearer(ADMIN))
    assert r.status_code == 502
    assert r.headers["content-type"].startswith("text/html")
    assert r.text.startswith("<html>")
    assert fake.organization(PROD) is not None
    assert len(fake.deletes(PROD)) == 1


def test_set_latency_delays_matching_requests(client: httpx.Client, fake: FakeCoveo) -> None:
    fake.set_latency(0.2, "GET", r"^/rest/organizations$")
    started = time.monotonic()
    assert client.get("/rest/organizations", headers=bearer(ADMIN)).status_code == 200
    assert time.monotonic() - started >= 0.2
    fake.set_latency(0)
    started = time.monotonic()
    client.get("/rest/organizations", headers=bearer(ADMIN))
    assert time.monotonic() - started < 0.2


def test_hang_then_drop_times_out_client(fake: FakeCoveo) -> None:
    fake.hang("GET", r"/rest/organizations", 1.0)
    with httpx.Client(base_url=fake.url, timeout=0.3) as http:
        with pytest.raises((httpx.ReadTimeout, httpx.RemoteProtocolError)):
            http.get("/rest/organizations", headers=bearer(ADMIN))


def test_hang_then_drop_closes_without_answer(fake: FakeCoveo) -> None:
    fake.hang("GET", r"/rest/organizations", 0.1)
    with httpx.Client(base_url=fake.url, timeout=5.0) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.get("/rest/organizations", headers=bearer(ADMIN))
        # Only `times` requests hang; the next one is answered.
        assert http.get("/rest/organizations", headers=bearer(ADMIN)).status_code == 200


def test_hang_then_process_deletes_after_client_gave_up(fake: FakeCoveo) -> None:
    fake.hang("DELETE", rf"/rest/organizations/{TRIAL}$", 0.4, then="process")
    with httpx.Client(base_url=fake.url, timeout=0.15) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.delete(f"/rest/organizations/{TRIAL}", headers=bearer(ADMIN))
    assert fake.organization(TRIAL) is not None  # still held server-side
    deadline = time.monotonic() + 3.0
    while fake.organization(TRIAL) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.organization(TRIAL) is None
    assert len(fake.deletes(TRIAL)) == 1


def test_stop_is_prompt_while_a_request_hangs() -> None:
    server = FakeCoveo().start()
    outcome: list[BaseException | int] = []
    try:
        server.add_token(FakeToken(ADMIN, "alice@example.com", "alice@example.com"))
        server.hang("GET", "/rest/organizations", 30.0)

        def call() -> None:
            with httpx.Client(base_url=server.url, timeout=10.0) as http:
                try:
                    outcome.append(
                        http.get("/rest/organizations", headers=bearer(ADMIN)).status_code
                    )
                except httpx.HTTPError as exc:
                    outcome.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        server.wait_for_requests(1, "GET")
    finally:
        started = time.monotonic()
        server.stop()
        elapsed = time.monotonic() - started
    caller.join(5.0)
    assert elapsed < 2.0
    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError)
    server.stop()  # idempotent


def test_stop_is_prompt_with_idle_keepalive_connection() -> None:
    server = FakeCoveo().start()
    with httpx.Client(base_url=server.url, timeout=5.0) as http:
        assert http.get("/nowhere").status_code == 404
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2.0


def test_wait_for_requests_returns_and_times_out(client: httpx.Client, fake: FakeCoveo) -> None:
    client.get("/rest/organizations", headers=bearer(ADMIN))
    found = fake.wait_for_requests(1, "get", "/rest/organizations", timeout=1.0)
    assert isinstance(found[0], RecordedRequest)
    with pytest.raises(AssertionError, match=r"waiting for 2 request.*GET /rest/organizations"):
        fake.wait_for_requests(2, "GET", "/rest/organizations", timeout=0.1)


def test_fault_rule_arguments_are_validated(fake: FakeCoveo) -> None:
    with pytest.raises(ValueError):
        fake.hang("GET", "/", 1.0, then="explode")
    with pytest.raises(ValueError):
        fake.fail_next("GET", "/", 500, times=0)
    with pytest.raises(ValueError):
        fake.set_latency(-1)
    with pytest.raises(ValueError):
        FakeOrganization("x", "X", region="mars")
    with pytest.raises(ValueError):
        FakeToken("t", "u", "e", kind="robot")


# -- demo data and entry point ----------------------------------------------------------------


def test_seed_demo_tokens_work() -> None:
    with FakeCoveo() as server, httpx.Client(base_url=server.url, timeout=5.0) as http:
        tokens = server.seed_demo()
        assert {"admin_us", "viewer_us", "expired", "api_key", "admin_eu"} <= tokens.keys()
        assert all(value.startswith("fake-coveo-") for value in tokens.values())

        def listed(name: str) -> httpx.Response:
            return http.get("/rest/organizations", headers=bearer(tokens[name]))

        us_orgs = listed("admin_us").json()
        eu_orgs = listed("admin_eu").json()
        assert len(us_orgs) >= 3 and len(eu_orgs) >= 1
        assert not {o["id"] for o in us_orgs} & {o["id"] for o in eu_orgs}
        assert {"Production", "TRIAL", "Sandbox"} <= {o["type"] for o in us_orgs}
        assert any(o["readOnly"] for o in us_orgs)
        assert listed("expired").status_code == 401
        orgs = server.organizations()
        assert {o.region for o in orgs} == {"us", "eu", "au", "ca", "hipaa"}
        assert any(o.paused for o in orgs) and any(o.read_only and not o.paused for o in orgs)
        assert all(o.owner_email.endswith("@example.com") for o in orgs)

        target = next(o["id"] for o in us_orgs if o["type"] == "Sandbox")
        viewer = http.delete(f"/rest/organizations/{target}", headers=bearer(tokens["viewer_us"]))
        assert viewer.status_code == 403
        check = http.post("/oauth/check_token", data={"token": tokens["api_key"]})
        assert check.json()["authentication"]["anonymous"] is True
        admin = http.delete(f"/rest/organizations/{target}", headers=bearer(tokens["admin_us"]))
        assert admin.status_code == 204


def test_main_serves_demo_data_until_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "bot.emulator.coveo", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            match = re.search(r"(http://127\.0\.0\.1:\d+)", first)
            assert match, first
            lines = [proc.stdout.readline() for _ in range(3)]
            token = lines[1].split()[-1]
            assert token.startswith("fake-coveo-token-")
            with httpx.Client(base_url=match.group(1), timeout=5.0) as http:
                r = http.get("/rest/organizations", headers=bearer(token))
                assert r.status_code == 200 and r.json()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=5.0) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
