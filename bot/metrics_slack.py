"""Slack-side metrics: every Web API attempt by method and result, and the ack time of every
request Slack sends the app, in HTTP mode and in Socket Mode alike.

Web API calls are seen by :class:`WebApiCallCounter`, a slack_sdk retry handler that never
retries: the SDK asks each handler after every attempt (answer or failure), and Bolt copies the
app client's handlers into the client it builds for each request, so listeners' own calls
(``views.open``) are counted too. Ack time is measured around ``App.dispatch`` by
:class:`TimedApp` (Bolt's global middleware runs before the listener, not around it).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.request.payload_utils import (
    is_block_actions,
    is_event,
    is_slash_command,
    is_view_submission,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

OK = "ok"
OTHER = "other"
CONNECTION_ERROR = "connection_error"
"""No answer from Slack (refused, reset, timed out)."""
HTTP_ERROR = "http_error"
"""An HTTP error status without a Slack error code in the body (a proxy's 502 page)."""

KNOWN_ERRORS = frozenset(
    {
        # any method (docs.slack.dev/reference/methods: "Errors" of each page)
        "access_denied", "account_inactive", "deprecated_endpoint", "ekm_access_denied",
        "enterprise_is_restricted", "fatal_error", "internal_error", "invalid_arg_name",
        "invalid_arguments", "invalid_auth", "invalid_charset", "invalid_form_data",
        "invalid_json", "invalid_post_type", "method_deprecated", "missing_post_type",
        "missing_scope", "no_permission", "not_allowed_token_type", "not_authed",
        "ratelimited", "rate_limited", "request_timeout", "service_unavailable",
        "team_access_not_granted", "team_added_to_org", "token_expired", "token_revoked",
        "two_factor_setup_required", "unknown_method",
        # chat.postMessage, chat.update, chat.postEphemeral
        "cant_update_message", "channel_not_found", "edit_window_closed", "invalid_blocks",
        "invalid_blocks_format", "is_archived", "message_not_found", "msg_too_long",
        "no_text", "not_in_channel", "restricted_action", "user_not_in_channel",
        # views.open / views.update / views.publish
        "exchanged_trigger_id", "expired_trigger_id", "invalid_trigger_id", "not_found",
        "view_too_large",
        # usergroups.users.list, users.info
        "no_such_subteam", "user_not_found",
    }
)  # fmt: skip
"""Slack error codes kept as ``result`` values; any other code is counted as ``other``."""

_METHOD = re.compile(r"[a-z]+(?:\.[A-Za-z]+){1,3}\Z")

Count = Callable[[str, str], None]
"""``(method, result)`` of one Web API attempt."""


def method_of(url: str) -> str:
    """The Web API method of a request URL (``…/api/chat.postMessage?x`` → ``chat.postMessage``),
    or ``other`` when the last path segment is not shaped like one."""
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return name if len(name) <= 64 and _METHOD.match(name) else OTHER


def _body(response: HttpResponse) -> dict[str, Any] | None:
    if isinstance(response.body, dict) and response.body:
        return response.body
    if response.data:
        try:
            parsed = json.loads(response.data)
        except (ValueError, UnicodeDecodeError):
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def result_of(response: HttpResponse | None, error: Exception | None) -> str:
    """``ok``, Slack's error code when it is in :data:`KNOWN_ERRORS`, ``other`` for another
    code, ``http_error`` for an error status without a code, ``connection_error`` for no
    answer at all."""
    if response is None:
        return CONNECTION_ERROR if error is not None else OTHER
    body = _body(response)
    if body is not None and body.get("ok") is True:
        return OK
    code = body.get("error") if body is not None else None
    if isinstance(code, str) and code:
        return code if code in KNOWN_ERRORS else OTHER
    if response.status_code == 429:
        return "ratelimited"
    return HTTP_ERROR if response.status_code >= 400 else OTHER


class WebApiCallCounter(RetryHandler):
    """A retry handler that only counts: put it first in the client's ``retry_handlers``; it
    reports ``(method, result)`` of each attempt to ``count`` and lets the next handler decide
    whether to retry (slack_sdk ``http_retry``: handlers are asked in order)."""

    def __init__(self, count: Count) -> None:
        super().__init__(max_retry_count=0)
        self._count = count

    def __deepcopy__(self, memo: dict[int, Any]) -> WebApiCallCounter:
        # Bolt deep-copies a request (its context's client included) for each lazy listener;
        # the copy must keep counting into the same metrics, whose locks cannot be copied.
        return self

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        """Count the attempt; never asks for a retry."""
        self._count(method_of(request.url), result_of(response, error))
        return False


def listener_kind(body: dict[str, Any]) -> str:
    """``slash_command``, ``block_actions``, ``view_submission``, ``event`` or ``other``
    (options, shortcuts, ``view_closed``, URL verification, unparseable bodies)."""
    if not isinstance(body, dict):
        return "other"
    if is_slash_command(body):
        return "slash_command"
    if is_block_actions(body):
        return "block_actions"
    if is_view_submission(body):
        return "view_submission"
    if is_event(body):
        return "event"
    return "other"


class TimedApp(App):
    """The Bolt app, timing each dispatch: with ``process_before_response`` the ack listeners
    run inside it and slow work is left to lazy listeners, so its duration is the time Slack
    waits for the ack. ``on_ack(kind, seconds)`` hears of each one (see :func:`listener_kind`);
    ``dispatch`` itself turns a listener's exception into a 500 response, which is timed too.
    """

    def __init__(self, *, on_ack: Callable[[str, float], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_ack = on_ack

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        """``App.dispatch``, timed (``time.perf_counter``, seconds). A request Bolt refused for
        its signature (401) is not Slack's and is not counted."""
        started = time.perf_counter()
        response: BoltResponse = super().dispatch(req)
        if response.status != 401:
            self._on_ack(listener_kind(req.body), time.perf_counter() - started)
        return response
