"""The OAuth part of the fake Coveo: ``/oauth/authorize`` and ``/oauth/token`` (RFC 6749 §4.1, §6).

`FakeOAuth` is reached through ``FakeCoveo.oauth``; `FakeCoveo` hands it every request to these
two paths. It holds registered clients, the demo identities one may "sign in as", issued codes
(single use, 60 s) and refresh tokens (rotated at each use), and it adds every access token it
issues to the fake Coveo, so the token works for ``/oauth/check_token`` and the organization
endpoints like any demo token.

- ``GET /oauth/authorize``: a small HTML page (no script) listing the identities as buttons
  ("Sign in as alice@example.com (US)") and **Cancel**. A client or redirect URI that is not
  registered gets an error page and no redirect (RFC 6749 §4.1.2.1).
- ``POST /oauth/authorize`` (the page's form): ``303 See Other`` to the redirect URI with
  ``code`` and ``state``, or ``error=access_denied`` and ``state`` after **Cancel**.
- ``POST /oauth/token`` (HTTP Basic client authentication): ``authorization_code`` and
  ``refresh_token`` grants; RFC 6749 §5.1 JSON with ``expires_in`` = `access_ttl` seconds and
  a ``refresh_token`` (unless `issue_refresh_tokens` is False); §5.2 errors otherwise.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bot.pages import render

if TYPE_CHECKING:  # pragma: no cover
    from bot.emulator.coveo import FakeCoveo, FakeToken, RecordedRequest

__all__ = ["DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET", "FakeOAuth", "OAuthAnswer"]

DEMO_CLIENT_ID = "delete-org-bot-local"
DEMO_CLIENT_SECRET = "local-client-secret-not-real"
"""The client the local stack registers (invented; the fake accepts nothing else)."""
CODE_TTL_SECONDS = 60.0
AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"


@dataclass(frozen=True)
class OAuthAnswer:
    """What the fake answers: HTTP ``status``, ``body``, ``content_type`` and extra headers."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]


@dataclass
class _Client:
    secret: str
    redirect_uris: frozenset[str]


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    identity: str
    expires_at: float
    used: bool = False


@dataclass
class _Refresh:
    client_id: str
    identity: str
    revoked: bool = False


def _json(
    status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> OAuthAnswer:
    return OAuthAnswer(
        status,
        json.dumps(payload).encode("utf-8"),
        "application/json",
        {"Cache-Control": "no-store", **(headers or {})},
    )


def _grant_error(error: str, description: str, status: int = 400) -> OAuthAnswer:
    headers = {"WWW-Authenticate": 'Basic realm="oauth"'} if status == 401 else None
    return _json(status, {"error": error, "error_description": description}, headers)


def _page(
    status: int, title: str, lines: list[str], form: str = "", targets: tuple[str, ...] = ()
) -> OAuthAnswer:
    page = render(
        status=str(status),
        title=title,
        paragraphs=lines,
        ok=status == 200,
        form_html=form,
        form_targets=targets,
    )
    headers = {name: value for name, value in page.headers if name != "Content-Length"}
    content_type = headers.pop("Content-Type")
    return OAuthAnswer(status, page.body, content_type, headers)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


class FakeOAuth:
    """Clients, identities, codes and refresh tokens of the fake's OAuth server (thread-safe).

    ``access_ttl`` is the lifetime of issued access tokens in seconds (``expires_in``);
    ``clock`` gives epoch seconds (``time.time`` by default).
    """

    def __init__(self, fake: FakeCoveo, *, clock: Callable[[], float] = time.time) -> None:
        """Attach to ``fake`` (issued tokens are added to it)."""
        self._fake = fake
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._identities: dict[str, FakeToken] = {}
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, _Refresh] = {}
        self.access_ttl = 3600
        self.issue_refresh_tokens = True
        self.grants: list[tuple[str, str]] = []
        """Every grant issued: ``(grant_type, identity)``, in order."""

    # -- set-up ------------------------------------------------------------------------------
    def register_client(self, client_id: str, secret: str, redirect_uris: list[str]) -> None:
        """Register (or replace) a client and its exact redirect URIs."""
        with self._lock:
            self._clients[client_id] = _Client(secret, frozenset(redirect_uris))

    def add_identity(self, name: str, template: FakeToken) -> None:
        """Offer "sign in as ``name``": issued tokens copy ``template``'s user, region and
        permissions."""
        with self._lock:
            self._identities[name] = dataclasses.replace(template)

    def identities(self) -> dict[str, FakeToken]:
        """The identities offered on the sign-in page, by name (copies)."""
        with self._lock:
            return {name: dataclasses.replace(t) for name, t in self._identities.items()}

    def revoke_refresh_tokens(self) -> int:
        """Revoke every refresh token issued so far (the next refresh is refused); returns how
        many were live."""
        with self._lock:
            live = [r for r in self._refresh.values() if not r.revoked]
            for record in live:
                record.revoked = True
            return len(live)

    # -- requests ----------------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> OAuthAnswer | None:
        """Answer ``request`` if it is for ``/oauth/authorize`` or ``/oauth/token``, else None."""
        if request.path == AUTHORIZE_PATH and request.method == "GET":
            return self._authorize_page({k: v[0] for k, v in request.query.items() if v})
        if request.path == AUTHORIZE_PATH and request.method == "POST":
            return self._authorize_decision(_form(request.body))
        if request.path == TOKEN_PATH and request.method == "POST":
            return self._token(request.headers.get("authorization", ""), _form(request.body))
        return None

    def _known_redirect(self, params: dict[str, str]) -> str | None:
        with self._lock:
            client = self._clients.get(params.get("client_id", ""))
        redirect = params.get("redirect_uri", "")
        if client is None or redirect not in client.redirect_uris:
            return None
        return redirect

    def _authorize_page(self, params: dict[str, str]) -> OAuthAnswer:
        redirect = self._known_redirect(params)
        if redirect is None:
            return _page(
                400,
                "Sign-in error",
                ["Unknown client or redirect URI: this application is not registered here."],
            )
        if params.get("response_type") != "code":
            error = {"error": "unsupported_response_type", "state": params.get("state", "")}
            return OAuthAnswer(303, b"", "text/plain", {"Location": _with_query(redirect, error)})
        hidden = "".join(
            f'<input type="hidden" name="{escape(key)}" value="{escape(params.get(key, ""))}">'
            for key in ("client_id", "redirect_uri", "state", "scope")
        )
        buttons = "".join(
            f'<button type="submit" name="identity" value="{escape(name)}">'
            f"Sign in as {escape(token.email or token.username)} ({token.region.upper()})"
            "</button>"
            for name, token in self.identities().items()
        )
        form = (
            f'<form method="post" action="{AUTHORIZE_PATH}">{hidden}{buttons}'
            '<button type="submit" name="deny" value="1">Cancel</button></form>'
        )
        return _page(
            200,
            "Sign in to Coveo (local fake)",
            [
                f"The application {params.get('client_id', '')} asks to use Coveo as you"
                f" (scope {params.get('scope') or 'none'}).",
                "Choose a demo identity. Invented data; nothing leaves this machine.",
            ],
            form,
            ("'self'", _origin(redirect)),
        )

    def _authorize_decision(self, params: dict[str, str]) -> OAuthAnswer:
        redirect = self._known_redirect(params)
        if redirect is None:
            return _page(400, "Sign-in error", ["Unknown client or redirect URI."])
        state = params.get("state", "")
        if params.get("deny"):
            query = {"error": "access_denied", "state": state}
        else:
            identity = params.get("identity", "")
            with self._lock:
                if identity not in self._identities:
                    return _page(400, "Sign-in error", ["Unknown identity."])
                code = secrets.token_urlsafe(24)
                self._codes[code] = _Code(
                    params.get("client_id", ""),
                    redirect,
                    identity,
                    self._clock() + CODE_TTL_SECONDS,
                )
            query = {"code": code, "state": state}
        return OAuthAnswer(303, b"", "text/plain", {"Location": _with_query(redirect, query)})

    def _client_from(self, authorization: str) -> str | None:
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            client_id, _, secret = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        with self._lock:
            client = self._clients.get(client_id)
        if client is None or not secrets.compare_digest(client.secret, secret):
            return None
        return client_id

    def _token(self, authorization: str, form: dict[str, str]) -> OAuthAnswer:
        client_id = self._client_from(authorization)
        if client_id is None:
            return _grant_error("invalid_client", "Client authentication failed.", 401)
        grant_type = form.get("grant_type", "")
        with self._lock:
            if grant_type == "authorization_code":
                code = self._codes.get(form.get("code", ""))
                if (
                    code is None
                    or code.used
                    or code.expires_at <= self._clock()
                    or code.client_id != client_id
                    or code.redirect_uri != form.get("redirect_uri")
                ):
                    return _grant_error("invalid_grant", "Invalid authorization code.")
                code.used = True
                identity = code.identity
            elif grant_type == "refresh_token":
                record = self._refresh.get(form.get("refresh_token", ""))
                if record is None or record.revoked or record.client_id != client_id:
                    return _grant_error("invalid_grant", "Invalid refresh token.")
                record.revoked = True  # rotation: a refresh token works once
                identity = record.identity
            else:
                return _grant_error("unsupported_grant_type", "Unsupported grant type.")
            template = self._identities[identity]
            access = f"fake-coveo-oauth-{secrets.token_hex(12)}"
            payload: dict[str, Any] = {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": self.access_ttl,
                "scope": "full",
            }
            if self.issue_refresh_tokens:
                refresh = f"fake-coveo-refresh-{secrets.token_hex(12)}"
                self._refresh[refresh] = _Refresh(client_id, identity)
                payload["refresh_token"] = refresh
            self.grants.append((grant_type, identity))
            expires_at = self._clock() + self.access_ttl
        self._fake.add_token(
            dataclasses.replace(template, token=access, expires_at=expires_at, expired=False)
        )
        return _json(200, payload)


def _form(body: bytes) -> dict[str, str]:
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items() if values}
