"""Client for the few Coveo Platform API calls the app makes, over an injected ``httpx.Client``.

Exception tree (every error this module raises)::

    CoveoError
    ├── CoveoUnavailable        no usable HTTP answer (network error, timeout)
    │   └── CoveoTimeout        the call timed out; ``maybe_sent`` says whether it may have arrived
    ├── CoveoAPIError           Coveo answered with an error status (401, 403, 404, 429, 5xx, ...)
    ├── CoveoProtocolError      a success status with a body the client cannot read
    └── NotAUserToken           the token is valid but is not a user's (API key, platform token)

Facts come from ``shared/coveo-api.md`` (docs.coveo.com/en/22 for DELETE, /en/123 and
coveo/platform-client for tokens and error shapes, /en/2976 for regions and hosts).
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from bot.clock import utcnow
from bot.logfields import log_fields

logger = logging.getLogger(__name__)

REGIONS: tuple[str, ...] = ("us", "eu", "au", "ca", "hipaa")
REGION_LABELS = {"us": "US", "eu": "EU", "au": "AU", "ca": "CA", "hipaa": "HIPAA"}
PLATFORM_HOSTS = {
    "us": "https://platform.cloud.coveo.com",
    "eu": "https://platform-eu.cloud.coveo.com",
    "au": "https://platform-au.cloud.coveo.com",
    "ca": "https://platform-ca.cloud.coveo.com",
    "hipaa": "https://platformhipaa.cloud.coveo.com",
}
"""Platform host of each region (coveo/platform-client ``Endpoints.ts``; docs.coveo.com/en/2976)."""

READ_ONLY_CODES = frozenset(
    {
        "ORGANIZATION_IS_PAUSED",
        "OPERATION_FORBIDDEN_FOR_ORGANIZATION_IN_READ_ONLY",
        "ORGANIZATION_IS_READ_ONLY",
    }
)
"""Error codes that mean the organization is paused or read-only (Push API doc en/95 and the
privilege evaluator's report codes); DELETE's exact answer is undocumented."""

DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=5.0)
"""Seconds: connect, read, write and wait-for-a-pooled-connection limits of every Coveo call."""
LINK_CHECK_TIMEOUT = httpx.Timeout(connect=0.7, read=1.5, write=0.5, pool=0.2)
"""Seconds: tighter limits for the token check done inside Slack's 3-second view_submission ack."""
_MAX_MESSAGE = 300
MAX_RETRY_AFTER = 86_400.0
"""Seconds: a larger (or absurd) ``Retry-After`` is read as one day."""


class CoveoError(Exception):
    """Base class of every error raised by :class:`CoveoClient`."""


class CoveoUnavailable(CoveoError):
    """No usable HTTP answer from Coveo. ``maybe_sent`` is False only when the request
    certainly never reached Coveo (the connection could not be opened)."""

    def __init__(self, message: str, *, maybe_sent: bool) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


class CoveoTimeout(CoveoUnavailable):
    """The call took longer than its timeout; after a write, Coveo may still have acted on it."""


class CoveoAPIError(CoveoError):
    """Coveo answered with an error status.

    Attributes: ``status`` (HTTP status), ``code`` (Coveo error code from ``errorCode``,
    ``type``, ``code`` or ``title``, if any), ``detail`` (``message``/``detail``, at most 300
    characters), ``request_id`` (``X-Request-ID`` header), ``retry_after`` (seconds, if sent).
    """

    def __init__(
        self,
        status: int,
        code: str | None,
        detail: str | None,
        request_id: str | None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"Coveo answered HTTP {status} {code or ''}".strip())
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.retry_after = retry_after

    @property
    def read_only(self) -> bool:
        """True when the answer says the organization is paused or read-only."""
        text = (self.detail or "").lower()
        return (
            (self.code or "").upper() in READ_ONLY_CODES
            or "read-only" in text
            or ("read only" in text)
        )


class CoveoProtocolError(CoveoError):
    """A success status whose body is not what the documented API returns."""

    def __init__(self, message: str, request_id: str | None) -> None:
        super().__init__(message)
        self.request_id = request_id


class NotAUserToken(CoveoError):
    """The token is valid but belongs to no user (an API key or platform token): those cannot
    delete organizations (docs.coveo.com/en/22)."""


@dataclass(frozen=True)
class Identity:
    """Who a Coveo access token belongs to; ``expires_at`` is UTC, None when Coveo did not say."""

    username: str
    email: str | None
    display_name: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class Organization:
    """The fields of a Coveo OrganizationModel the preview card shows.

    ``created_at`` is UTC (Coveo sends epoch milliseconds). ``life_cycle_state`` is ``ACTIVE``,
    ``PAUSED`` or ``DELETING`` when the status was returned. ``product_type`` is
    ``license.productType`` (``STANDARD``, ``TRIAL``, ``SANDBOX``...).
    """

    id: str
    display_name: str
    type: str | None
    owner_email: str | None
    created_at: datetime | None
    read_only: bool
    paused: bool
    life_cycle_state: str | None
    product_type: str | None

    @property
    def deletable_state(self) -> bool:
        """False when Coveo refuses deletion as it stands: read-only, paused or being deleted."""
        return not (self.read_only or self.paused or self.life_cycle_state == "DELETING")


@dataclass(frozen=True)
class DeleteOutcome:
    """A successful ``DELETE``: HTTP status (204) and Coveo's ``X-Request-ID``."""

    status: int
    request_id: str | None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER) if len(value) < 12 else MAX_RETRY_AFTER
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(MAX_RETRY_AFTER, max(0.0, (when - utcnow()).total_seconds()))


def _first_str(body: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def api_error_from_response(
    response: httpx.Response, *, secret: str | None = None
) -> CoveoAPIError:
    """Build a :class:`CoveoAPIError` from any error response shape Coveo uses.

    ``secret`` (the token used) is replaced by ``[redacted]`` if the body echoes it.
    Shapes (coveo/platform-client ``ResponseHandlers.ts``): ``{errorCode, message}``,
    RFC 7807-like ``{title, detail}``, ``{type|code, message}``, or a non-JSON page (502 and
    WAF blocks send HTML). The request id comes from the ``X-Request-ID`` header, else the body.
    """
    request_id = response.headers.get("x-request-id")
    code: str | None = None
    detail: str | None = None
    content_type = response.headers.get("content-type", "")
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        body = None
    if isinstance(body, dict):
        code = _first_str(body, "errorCode", "type", "code", "title", "error")
        detail = _first_str(body, "message", "detail", "error_description")
        request_id = request_id or _first_str(body, "requestID", "requestId", "request_id")
    elif response.headers.get("x-coveo-waf-action", "").lower() == "block":
        detail = "the request was blocked by Coveo's web application firewall"
    elif "html" in content_type or response.text.lstrip().startswith("<"):
        detail = f"Coveo returned an HTML error page ({response.reason_phrase or 'no reason'})"
    elif response.text.strip():
        detail = response.text
    if secret and detail:
        detail = detail.replace(secret, "[redacted]")
    if secret and code:
        code = code.replace(secret, "[redacted]")
    if secret and request_id:
        request_id = request_id.replace(secret, "[redacted]")
    return CoveoAPIError(
        response.status_code,
        code,
        _clip(detail),
        request_id,
        _retry_after(response.headers.get("retry-after")),
    )


def _ms_to_datetime(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def parse_organization(body: object, request_id: str | None) -> Organization:
    """Read an OrganizationModel (with optional ``organizationStatusModel`` and ``license``).

    Raises:
        CoveoProtocolError: the body is not an object with a string ``id``.
    """
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise CoveoProtocolError("organization response without an id", request_id)
    status = body.get("organizationStatusModel")
    status = status if isinstance(status, dict) else {}
    license_ = body.get("license")
    license_ = license_ if isinstance(license_, dict) else {}
    owner = body.get("owner")
    owner_email = _first_str(owner, "email") if isinstance(owner, dict) else None
    return Organization(
        id=body["id"],
        display_name=_first_str(body, "displayName") or body["id"],
        type=_first_str(body, "type"),
        owner_email=owner_email,
        created_at=_ms_to_datetime(body.get("createdDate")),
        read_only=bool(body.get("readOnly")) or bool(status.get("readOnly")),
        paused=bool(status.get("paused")) or status.get("lifeCycleState") == "PAUSED",
        life_cycle_state=_first_str(status, "lifeCycleState"),
        product_type=_first_str(license_, "productType"),
    )


RETRYABLE_READ_STATUSES = frozenset({429, 502, 503, 504})
"""Statuses after which a *read* is tried again (the request had no effect)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    ``attempts`` is the total number of tries; waits are ``base_delay * 2**n`` seconds (plus up
    to 25 % jitter), or Coveo's ``Retry-After`` when sent; a wait longer than ``max_delay``
    seconds is not worth making and the error is raised instead.
    """

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 5.0

    def delay(self, retry: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry number ``retry`` (0-based), or None to give up."""
        if retry + 1 >= self.attempts:
            return None
        wait = retry_after if retry_after is not None else self.base_delay * 2**retry
        if wait > self.max_delay:
            return None
        return wait * (1 + 0.25 * _jitter.random()) if retry_after is None else wait


_jitter = random.Random()  # noqa: S311 - backoff jitter, not a secret


class CoveoClient:
    """The Coveo Platform API calls of the app, each made with the calling user's own token.

    ``http`` is a long-lived ``httpx.Client`` (its pool and timeouts are the caller's choice; see
    :func:`make_http_client`). ``platform_url``, when set, replaces every region's host (a proxy
    or a local fake); otherwise the host comes from :data:`PLATFORM_HOSTS`. ``retry`` bounds the
    retries of reads and of a ``DELETE`` that certainly did not arrive; ``sleep`` waits (seconds).
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        platform_url: str | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http
        self._platform_url = platform_url.rstrip("/") if platform_url else None
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    def base_url(self, region: str) -> str:
        """Return the platform host URL used for ``region`` (no trailing slash).

        Raises:
            ValueError: unknown region.
        """
        if region not in PLATFORM_HOSTS:
            raise ValueError(f"unknown Coveo region {region!r}")
        return self._platform_url or PLATFORM_HOSTS[region]

    def _send(
        self,
        method: str,
        region: str,
        path: str,
        token: str,
        *,
        params: httpx.QueryParams | None = None,
        data: dict[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        url = self.base_url(region) + path
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout
        try:
            return self._http.request(
                method, url, params=params, data=data, headers=headers, **extra
            )
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise CoveoTimeout(
                f"connecting to Coveo timed out ({method} {path})", maybe_sent=False
            ) from error
        except httpx.TimeoutException as error:
            raise CoveoTimeout(
                f"Coveo did not answer in time ({method} {path})", maybe_sent=True
            ) from error
        except httpx.ConnectError as error:
            raise CoveoUnavailable(
                f"cannot connect to Coveo ({method} {path})", maybe_sent=False
            ) from error
        except httpx.TransportError as error:
            raise CoveoUnavailable(
                f"network error talking to Coveo ({method} {path})", maybe_sent=True
            ) from error
        except httpx.HTTPError as error:  # e.g. DecodingError: an answer came but is unreadable
            raise CoveoProtocolError(
                f"unreadable answer from Coveo ({method} {path}): {type(error).__name__}", None
            ) from error

    def check_token(
        self, token: str, region: str, *, timeout: httpx.Timeout | None = None
    ) -> Identity:
        """Check that ``token`` is a live *user* access token at ``region``'s host.

        Calls ``POST /oauth/check_token`` (form field ``token``; platform-client
        ``APICore.checkToken``). A 200 whose ``authentication`` names a user is accepted; ``exp``
        (epoch seconds), when present, becomes ``expires_at``.

        Raises:
            CoveoAPIError: the token is refused (expired, revoked, unknown: 400 or 401).
            NotAUserToken: the token is an API key or otherwise has no user.
            CoveoUnavailable / CoveoTimeout / CoveoProtocolError: see the module docstring.
        """
        response = self._send(
            "POST", region, "/oauth/check_token", token, data={"token": token}, timeout=timeout
        )
        request_id = response.headers.get("x-request-id")
        if response.status_code != 200:
            raise api_error_from_response(response, secret=token)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as error:
            raise CoveoProtocolError("token check answer is not JSON", request_id) from error
        if not isinstance(body, dict):
            raise CoveoProtocolError("token check answer is not an object", request_id)
        auth = body.get("authentication")
        auth = auth if isinstance(auth, dict) else {}
        username = _first_str(auth, "username") or _first_str(body, "user_name")
        if auth.get("anonymous") is True or not username:
            raise NotAUserToken("this token is not tied to a user (API key or platform token)")
        exp = body.get("exp")
        expires_at = None
        if isinstance(exp, int | float) and not isinstance(exp, bool) and exp > 0:
            try:
                expires_at = datetime.fromtimestamp(exp, UTC)
            except (OverflowError, OSError, ValueError):
                expires_at = None  # nonsense expiry: treat as unknown
        return Identity(
            username=username,
            email=_first_str(auth, "email"),
            display_name=_first_str(auth, "displayName"),
            expires_at=expires_at,
        )

    def get_organization(self, token: str, region: str, org_id: str) -> Organization:
        """Read organization ``org_id`` with its status and license.

        ``GET /rest/organizations/{id}?additionalFields=status&additionalFields=license``
        (docs.coveo.com/en/mcc80216; platform-client ``Organization.get``). The ID is sent
        percent-encoded as one path segment. Retried per the :class:`RetryPolicy` on 429
        (honouring ``Retry-After``), 502, 503, 504 and connection failures.

        Raises:
            CoveoAPIError, CoveoUnavailable, CoveoTimeout, CoveoProtocolError (after retries).
        """
        retry = 0
        while True:
            try:
                return self._get_organization_once(token, region, org_id)
            except CoveoAPIError as error:
                if error.status not in RETRYABLE_READ_STATUSES:
                    raise
                wait = self._retry.delay(retry, error.retry_after)
                if wait is None:
                    raise
            except CoveoUnavailable as error:
                if isinstance(error, CoveoTimeout) and error.maybe_sent:
                    raise  # a read that timed out already waited its full timeout
                wait = self._retry.delay(retry, None)
                if wait is None:
                    raise
            logger.info(
                "retrying organization read in %.1f s (attempt %d)",
                wait,
                retry + 2,
                extra=log_fields("coveo_retry", org_id=org_id),
            )
            self._sleep(wait)
            retry += 1

    def _get_organization_once(self, token: str, region: str, org_id: str) -> Organization:
        response = self._send(
            "GET",
            region,
            f"/rest/organizations/{quote(org_id, safe='')}",
            token,
            params=httpx.QueryParams(
                [("additionalFields", "status"), ("additionalFields", "license")]
            ),
        )
        if response.status_code != 200:
            raise api_error_from_response(response, secret=token)
        request_id = response.headers.get("x-request-id")
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as error:
            raise CoveoProtocolError("organization answer is not JSON", request_id) from error
        return parse_organization(body, request_id)

    def delete_organization(self, token: str, region: str, org_id: str) -> DeleteOutcome:
        """Delete organization ``org_id``: ``DELETE /rest/organizations/{id}``, no body.

        Coveo answers ``204 No Content`` when the organization is deleted (docs.coveo.com/en/22;
        any 2xx is accepted as success). Sent again only when the previous try certainly had no
        effect: the connection could not be opened, or Coveo answered 429 (``Retry-After``
        honoured). Never after a timeout or a 5xx, when Coveo may have acted.

        Raises:
            CoveoAPIError: Coveo refused (status, code, detail and request id attached).
            CoveoTimeout: no answer in time; the deletion may or may not have happened.
            CoveoUnavailable: ``maybe_sent`` False means Coveo certainly did not get it.
        """
        retry = 0
        while True:
            try:
                response = self._send(
                    "DELETE", region, f"/rest/organizations/{quote(org_id, safe='')}", token
                )
            except CoveoUnavailable as error:
                wait = None if error.maybe_sent else self._retry.delay(retry, None)
                if wait is None:
                    raise
            else:
                if 200 <= response.status_code < 300:
                    request_id = response.headers.get("x-request-id")
                    if request_id:
                        request_id = request_id.replace(token, "[redacted]")
                    return DeleteOutcome(response.status_code, request_id)
                error_ = api_error_from_response(response, secret=token)
                wait = (
                    self._retry.delay(retry, error_.retry_after) if error_.status == 429 else None
                )
                if wait is None:
                    raise error_
            logger.info(
                "DELETE did not reach Coveo; retrying in %.1f s",
                wait,
                extra=log_fields("coveo_retry", org_id=org_id),
            )
            self._sleep(wait)
            retry += 1


def make_http_client(*, max_connections: int = 50) -> httpx.Client:
    """Create the app's one shared ``httpx.Client`` for Coveo: :data:`DEFAULT_TIMEOUT`, a bounded
    pool of ``max_connections``, no redirects followed (a redirect is reported, not obeyed)."""
    return httpx.Client(
        timeout=DEFAULT_TIMEOUT,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=min(32, max_connections)
        ),
        follow_redirects=False,
    )
