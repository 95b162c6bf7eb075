"""Coveo's OAuth 2 authorization-code flow for **Sign in with Coveo** (RFC 6749 §4.1, §6).

Endpoints, on the platform host of the user's region (``shared/coveo-api.md`` §5):

- ``GET {host}/oauth/authorize?response_type=code&client_id=…&redirect_uri=…&scope=full&state=…``
  (the coveo/cli login builds the same URL [V]);
- ``POST {host}/oauth/token``, form-encoded, HTTP Basic client authentication
  ``base64(client_id:client_secret)`` (coveo/cli and the archived Cloud V2 OAuth doc [V]):
  ``grant_type=authorization_code&code=…&redirect_uri=…`` and
  ``grant_type=refresh_token&refresh_token=…``.

Assumptions where the notes say the facts are unknown [?], stated here once:

- a third-party client is registered by Coveo (their Support) for the app's exact HTTPS redirect
  URI; no current public doc says how, nor which grants and scopes such a client gets. We ask for
  ``scope=full``, as the CLI's client does;
- the token answer is RFC 6749 §5.1 JSON (``access_token``, ``token_type``, optional
  ``expires_in`` seconds and ``refresh_token``), as the archived doc's sample shows; a missing
  ``refresh_token`` means no refresh (the user relinks when the token expires);
- a refused grant is answered 400/401 with RFC 6749 §5.2 ``{"error": …}``; a refresh answer
  may carry a new ``refresh_token`` (rotation), which then replaces the old one.
- no PKCE (the CLI's client uses none); the client secret stays on the server.

Errors are :mod:`bot.coveo`'s tree: :class:`GrantRefused` (a :class:`~bot.coveo.CoveoAPIError`)
when Coveo refuses a code or refresh token, ``CoveoUnavailable``/``CoveoTimeout`` for network
failures, ``CoveoProtocolError`` for an unreadable answer. Codes, tokens and the client secret
never appear in an exception message or a log line.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

import httpx

from bot.coveo import (
    CoveoAPIError,
    CoveoClient,
    CoveoProtocolError,
    CoveoTimeout,
    CoveoUnavailable,
    api_error_from_response,
)
from bot.logfields import log_fields

logger = logging.getLogger(__name__)

SCOPE = "full"
"""OAuth scope asked for (the one coveo/cli's client uses; third-party scopes are undocumented)."""
TOKEN_TIMEOUT = httpx.Timeout(connect=3.0, read=10.0, write=5.0, pool=5.0)
"""Seconds allowed for a token request (the browser waits on the callback meanwhile)."""
MAX_EXPIRES_IN = 366 * 86_400
"""Seconds: a larger ``expires_in`` is read as no expiry given (nonsense)."""


class GrantRefused(CoveoAPIError):
    """``POST /oauth/token`` refused the code or refresh token (RFC 6749 §5.2 ``error`` in
    ``code``: ``invalid_grant``, ``invalid_client``, ...)."""


@dataclass(frozen=True)
class TokenGrant:
    """What ``/oauth/token`` granted: ``expires_at`` is aware UTC (from ``expires_in``), None
    when not said; ``refresh_token`` None when none was issued. Secrets are hidden from repr."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None


@dataclass(frozen=True)
class OAuthClientSettings:
    """The registered client: ``redirect_uri`` is ``{PUBLIC_URL}/coveo/oauth/callback``."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str


class CoveoOAuth:
    """Builds authorize URLs and calls ``/oauth/token`` at each region's platform host.

    ``coveo`` supplies the host of a region (so ``COVEO_PLATFORM_URL`` reaches the fake too);
    ``http`` is the app's shared client (redirects are not followed).
    """

    def __init__(self, http: httpx.Client, coveo: CoveoClient, settings: OAuthClientSettings):
        self._http = http
        self._coveo = coveo
        self.settings = settings

    def authorize_url(self, region: str, state: str) -> str:
        """The URL of Coveo's sign-in page for ``region`` carrying ``state``.

        Raises:
            ValueError: unknown region.
        """
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": self.settings.redirect_uri,
                "scope": SCOPE,
                "state": state,
            }
        )
        return f"{self._coveo.base_url(region)}/oauth/authorize?{query}"

    def exchange_code(self, region: str, code: str, now: datetime) -> TokenGrant:
        """Trade an authorization ``code`` for tokens (``grant_type=authorization_code``).

        Raises:
            GrantRefused: Coveo refused the code (used, expired, wrong redirect URI, bad client).
            CoveoUnavailable / CoveoTimeout / CoveoProtocolError: no usable answer.
        """
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri,
        }
        return self._token_request(region, form, code, now)

    def refresh(self, region: str, refresh_token: str, now: datetime) -> TokenGrant:
        """Get a new access token with ``refresh_token`` (``grant_type=refresh_token``). When
        Coveo sends no new refresh token the old one is kept in the returned grant.

        Raises:
            GrantRefused: the refresh token was refused (revoked, expired): the user must relink.
            CoveoUnavailable / CoveoTimeout / CoveoProtocolError: no usable answer.
        """
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        grant = self._token_request(region, form, refresh_token, now)
        if grant.refresh_token is None:
            return TokenGrant(grant.access_token, refresh_token, grant.expires_at)
        return grant

    def _basic_auth(self) -> str:
        pair = f"{self.settings.client_id}:{self.settings.client_secret}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _token_request(
        self, region: str, form: dict[str, str], secret: str, now: datetime
    ) -> TokenGrant:
        url = self._coveo.base_url(region) + "/oauth/token"
        headers = {"Authorization": self._basic_auth(), "Accept": "application/json"}
        grant_type = form["grant_type"]
        try:
            response = self._http.post(url, data=form, headers=headers, timeout=TOKEN_TIMEOUT)
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise CoveoTimeout("connecting to Coveo timed out (token)", maybe_sent=False) from error
        except httpx.TimeoutException as error:
            raise CoveoTimeout("Coveo did not answer in time (token)", maybe_sent=True) from error
        except httpx.ConnectError as error:
            raise CoveoUnavailable("cannot connect to Coveo (token)", maybe_sent=False) from error
        except httpx.HTTPError as error:
            raise CoveoUnavailable(
                f"network error talking to Coveo (token): {type(error).__name__}", maybe_sent=True
            ) from error
        request_id = response.headers.get("x-request-id")
        if response.status_code != 200:
            error_ = api_error_from_response(response, secret=secret)
            logger.info(
                "Coveo refused a %s grant: HTTP %s %s",
                grant_type,
                error_.status,
                error_.code,
                extra=log_fields("oauth_grant_refused"),
            )
            if response.status_code in (400, 401, 403):
                raise GrantRefused(
                    error_.status, error_.code, error_.detail, error_.request_id, None
                )
            raise error_
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as error:
            raise CoveoProtocolError("token answer is not JSON", request_id) from error
        return parse_grant(body, now, request_id)


def parse_grant(body: object, now: datetime, request_id: str | None = None) -> TokenGrant:
    """Read an RFC 6749 §5.1 token answer; ``expires_in`` (seconds) becomes ``now`` + it.

    Raises:
        CoveoProtocolError: no string ``access_token``, or a ``token_type`` other than bearer.
    """
    if not isinstance(body, dict):
        raise CoveoProtocolError("token answer is not an object", request_id)
    access = body.get("access_token")
    if not isinstance(access, str) or not access.strip() or len(access) > 4096:
        raise CoveoProtocolError("token answer without an access_token", request_id)
    token_type = body.get("token_type", "bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise CoveoProtocolError("token answer is not a bearer token", request_id)
    refresh = body.get("refresh_token")
    refresh = refresh if isinstance(refresh, str) and refresh.strip() else None
    expires_in = body.get("expires_in")
    expires_at = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        if 0 < expires_in <= MAX_EXPIRES_IN:
            expires_at = now + timedelta(seconds=float(expires_in))
    return TokenGrant(access.strip(), refresh, expires_at)
