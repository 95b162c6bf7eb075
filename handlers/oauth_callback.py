"""``GET /coveo/oauth/callback``: where Coveo sends the browser back after **Sign in with Coveo**.

One WSGI handler, served in HTTP mode and in Socket Mode (``Runtime.routes``). In order:

1. the ``state`` must be one this app issued, unused and under 10 minutes old; it is consumed
   at once (single use, a compare-and-set in the database), whatever happens next;
2. ``error`` (``access_denied`` when the user cancelled at Coveo) ends the sign-in;
3. the ``code`` is traded at ``POST /oauth/token`` on the state's region host, then the
   access token is checked with ``POST /oauth/check_token`` (a user's token, who it is);
4. only then is the link stored (tokens encrypted), the page says "Linked as …" and the user
   gets the same private "Linked as …" message in Slack.

Every refusal is a small HTML page saying what happened and what to do; nothing is stored
(besides the audit row). The query string, the code and the tokens are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from bot.coveo import CoveoAPIError, CoveoError, CoveoUnavailable, NotAUserToken
from bot.coveo_oauth import CoveoOAuth, GrantRefused
from bot.logfields import log_fields
from bot.pages import Page, render
from handlers.blocks import linked_text
from handlers.deps import Actor, Deps
from handlers.ids import COMMAND
from handlers.messages import region_label
from storage import SignIn, StateRefused, StoreUnavailable

logger = logging.getLogger(__name__)

MAX_QUERY = 8192
"""Longest query string read (bytes); a real callback carries well under 1 KB."""
MAX_PARAM = 2048
"""Longest ``state``/``code`` accepted (characters)."""
RETRY = f"In Slack, run {COMMAND} link and click Sign in with Coveo again."


@dataclass(frozen=True)
class _Refusal:
    status: str
    title: str
    lines: tuple[str, ...]


REFUSALS = {
    "missing": _Refusal(
        "400 Bad Request",
        "Sign-in link incomplete",
        ("This page was opened without a sign-in state, so nothing was linked.", RETRY),
    ),
    "unknown": _Refusal(
        "400 Bad Request",
        "Sign-in link not recognised",
        (
            "This sign-in was not started by this app (or is more than a day old), so nothing"
            " was linked.",
            RETRY,
        ),
    ),
    "used": _Refusal(
        "400 Bad Request",
        "Sign-in link already used",
        ("Each sign-in link works once, and this one was already used. Nothing more was linked.",
         RETRY),
    ),
    "expired": _Refusal(
        "400 Bad Request",
        "Sign-in link expired",
        ("Sign-in links work for 10 minutes, and this one has expired. Nothing was linked.", RETRY),
    ),
    "access_denied": _Refusal(
        "200 OK",
        "Sign-in cancelled",
        (
            "You cancelled the sign-in at Coveo, so nothing was linked.",
            f"To link your account later, run {COMMAND} link in Slack.",
        ),
    ),
    "coveo_error": _Refusal(
        "400 Bad Request",
        "Coveo did not sign you in",
        ("Coveo returned an error instead of signing you in, so nothing was linked.", RETRY),
    ),
    "no_code": _Refusal(
        "400 Bad Request",
        "Sign-in answer incomplete",
        ("Coveo's answer carried no usable authorization code, so nothing was linked.", RETRY),
    ),
    "exchange_refused": _Refusal(
        "502 Bad Gateway",
        "Coveo refused the sign-in",
        (
            "Coveo did not accept the sign-in code (it may have expired, or the app's Coveo"
            " client is misconfigured). Nothing was linked.",
            RETRY + " If it happens again, tell the app's operators.",
        ),
    ),
    "unavailable": _Refusal(
        "503 Service Unavailable",
        "Coveo could not be reached",
        ("Coveo did not answer in time, so the sign-in could not finish. Nothing was linked.",
         RETRY),
    ),
    "not_a_user": _Refusal(
        "400 Bad Request",
        "Not a user's sign-in",
        (
            "Coveo issued a token that belongs to no user (an API key or platform token);"
            " those cannot delete organizations. Nothing was linked.",
            RETRY,
        ),
    ),
    "token_refused": _Refusal(
        "502 Bad Gateway",
        "Coveo refused the new token",
        ("Coveo did not accept the token it had just issued, so nothing was linked.", RETRY),
    ),
    "database": _Refusal(
        "503 Service Unavailable",
        "delete-org-bot cannot reach its database",
        (
            "delete-org-bot cannot reach its database right now, so the sign-in could not"
            " finish. Nothing was linked.",
            "Try again in a minute: " + RETRY,
        ),
    ),
    "internal": _Refusal(
        "500 Internal Server Error",
        "Something went wrong",
        (
            "The sign-in could not finish because of an error inside delete-org-bot. Nothing was"
            " linked; the error was logged for the app's operators.",
            RETRY,
        ),
    ),
}  # fmt: skip
"""Every way a sign-in can end without a link: HTTP status, page title and what to do."""


def refusal_page(reason: str) -> Page:
    """The page for one of :data:`REFUSALS`."""
    refusal = REFUSALS[reason]
    return render(
        status=refusal.status, title=refusal.title, paragraphs=list(refusal.lines), ok=False
    )


def success_page(who: str, region: str) -> Page:
    """``Linked as alice@example.com (region EU), you can close this tab.``"""
    return render(
        status="200 OK",
        title="Coveo account linked",
        paragraphs=[
            f"Linked as {who} (region {region_label(region)}), you can close this tab.",
            f"Back in Slack, {COMMAND} <org-id> previews an organization with your own Coveo"
            " access. The app stores your token encrypted and never shows it.",
        ],
        ok=True,
    )


def read_query(environ: dict[str, Any]) -> dict[str, str] | None:
    """The callback's parameters (each at most once), or None for an oversized or repeated
    query."""
    raw = str(environ.get("QUERY_STRING") or "")
    if len(raw) > MAX_QUERY:
        return None
    parsed = parse_qs(raw, keep_blank_values=True)
    if any(len(values) != 1 for values in parsed.values()):
        return None
    return {key: values[0] for key, values in parsed.items()}


def _plausible(value: str | None) -> bool:
    return bool(value) and len(value or "") <= MAX_PARAM and (value or "").isprintable()


class OAuthCallback:
    """The WSGI handler of :data:`bot.config.OAUTH_CALLBACK_PATH`.

    ``notify(actor, text)`` sends the user the private "Linked as …" message in Slack (it logs,
    never raises, a delivery failure). ``home(actor)`` publishes the user's App Home again when
    the sign-in was started there (no channel to tell; it logs, never raises, a failure).
    """

    def __init__(
        self,
        deps: Deps,
        oauth: CoveoOAuth,
        notify: Callable[[Actor, str], None],
        home: Callable[[Actor], None] | None = None,
    ):
        self.deps = deps
        self.oauth = oauth
        self.notify = notify
        self.home = home

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Answer one callback request with a page. It is no ack path (a browser waits, not
        Slack): its database operations wait as long as background work does, so a short
        restart of PostgreSQL passes unnoticed; a database still gone after that gets the
        503 "cannot reach its database" page, logged."""
        try:
            page = self.handle(read_query(environ))
        except StoreUnavailable as error:  # waited for it as background work does (15 s)
            logger.warning(
                "sign-in callback: database unreachable, nothing linked (%s)",
                error,
                extra=log_fields("store_unavailable"),
            )
            page = refusal_page("database")
        except Exception:  # noqa: BLE001 - the browser must get a page; the log gets the trace
            logger.exception("sign-in callback failed", extra=log_fields("sign_in_error"))
            page = refusal_page("internal")
        start_response(page.status, page.headers)
        return [page.body]

    def _refuse(self, reason: str, sign_in: SignIn | None, detail: str | None = None) -> Page:
        self.deps.store.record_event(
            self.deps.clock(),
            "sign_in_refused",
            workspace=sign_in.workspace if sign_in else None,
            actor_id=sign_in.user_id if sign_in else None,
            region=sign_in.region if sign_in else None,
            detail=(detail or reason)[:200],
        )
        return refusal_page(reason)

    def handle(self, params: dict[str, str] | None) -> Page:
        """The page for a callback with ``params`` (None: an unreadable query)."""
        state = (params or {}).get("state")
        if params is None or not _plausible(state):
            return self._refuse("missing", None)
        assert state is not None
        try:
            sign_in = self.deps.store.oauth.consume_state(state, self.deps.clock())
        except StateRefused as refused:
            return self._refuse(refused.reason, None, f"state {refused.reason}")
        error = params.get("error")
        if error is not None:
            reason = "access_denied" if error == "access_denied" else "coveo_error"
            shown = error if error.isascii() and error.isprintable() else "unreadable"
            return self._refuse(reason, sign_in, f"Coveo error {shown[:60]}")
        code = params.get("code")
        if not _plausible(code):
            return self._refuse("no_code", sign_in)
        assert code is not None
        return self._finish(sign_in, code)

    def _finish(self, sign_in: SignIn, code: str) -> Page:
        region = sign_in.region
        try:
            grant = self.oauth.exchange_code(region, code, self.deps.clock())
        except GrantRefused as refused:
            detail = f"token endpoint HTTP {refused.status} {refused.code or ''}".strip()
            return self._refuse("exchange_refused", sign_in, detail)
        except CoveoUnavailable as error:
            return self._refuse("unavailable", sign_in, f"token endpoint {type(error).__name__}")
        except CoveoError as error:
            return self._refuse(
                "exchange_refused", sign_in, f"token endpoint {type(error).__name__}"
            )
        try:
            identity = self.deps.coveo.check_token(grant.access_token, region)
        except NotAUserToken:
            return self._refuse("not_a_user", sign_in)
        except CoveoAPIError as error:
            return self._refuse("token_refused", sign_in, f"check_token HTTP {error.status}")
        except CoveoUnavailable as error:
            return self._refuse("unavailable", sign_in, f"check_token {type(error).__name__}")
        except CoveoError as error:
            return self._refuse("token_refused", sign_in, f"check_token {type(error).__name__}")
        store = self.deps.store
        store.oauth.save_oauth_link(
            workspace=sign_in.workspace,
            user_id=sign_in.user_id,
            token=grant.access_token,
            refresh_token=grant.refresh_token,
            region=region,
            coveo_username=identity.username,
            coveo_email=identity.email,
            expires_at=identity.expires_at or grant.expires_at,
            now=self.deps.clock(),
        )
        try:
            link = store.get_link(sign_in.workspace, sign_in.user_id)
        except StoreUnavailable as error:  # linked already: say so, just not in Slack too
            logger.warning(
                "sign-in callback: linked, but the database went away before the Slack message"
                " (%s)",
                error,
                extra=log_fields("store_unavailable"),
            )
            link = None
        if link is not None:
            actor = Actor(
                workspace=sign_in.workspace,
                team_id=sign_in.team_id,
                user_id=sign_in.user_id,
                channel_id=sign_in.channel_id,
                response_url=sign_in.response_url,
            )
            if actor.channel_id or actor.response_url:
                self.notify(actor, linked_text(link))
            elif self.home is not None:  # started on the App Home: show it there
                self.home(actor)
        return success_page(identity.email or identity.username, region)
