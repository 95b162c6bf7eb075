"""Parsing Slack's HTTP request bodies correctly, whatever words their fields contain.

Workaround for slack-bolt 1.30.0 (``slack_bolt.request.internals.parse_body``): for a form body
(``application/x-www-form-urlencoded``), Bolt looks for the *substring* ``payload`` anywhere in
the raw body and, when it is there, returns only the JSON of a ``payload`` field, or ``{}`` when
no field has that name. A slash command whose text, channel name or user name contains the word
(``/delete-org payload``, ``#payload-team``) is therefore parsed as ``{}``, matches no listener,
and Bolt answers 404. Interactivity bodies are one field, ``payload`` (JSON); slash command
bodies are flat form fields (Slack API: "Enabling interactivity with Slash Commands" and
"Handling user interaction in your Slack apps").

:class:`SlackHttpRequest` re-parses the form by its *keys*: the ``payload`` field is JSON when
it is present, otherwise the fields are the body. The signature is still checked by Bolt on the
exact raw bytes (``raw_body`` is untouched). ``tests/test_slack_request.py`` has a canary that
fails once Bolt stops having the bug, so the workaround can be removed then.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context
from slack_bolt.response import BoltResponse


def _is_form(content_type: str | None, raw_body: str) -> bool:
    """Whether Bolt treats this body as a form: it is not empty, not declared JSON and does not
    start with ``{`` (the same test as Bolt's ``parse_body``)."""
    declared_json = (content_type or "").strip().lower() == "application/json"
    return bool(raw_body) and not declared_json and not raw_body.startswith("{")


def parse_form_body(raw_body: str) -> dict[str, Any]:
    """Parse a form-encoded Slack body by its field names.

    Returns the decoded JSON object of the ``payload`` field when the body has one (block
    actions, view submissions, shortcuts…), else a dict of the form fields (slash commands),
    blank values kept.

    Raises:
        ValueError: the ``payload`` field is not JSON (``json.JSONDecodeError``), or not an
            object.
    """
    fields = dict(parse_qsl(raw_body, keep_blank_values=True))
    if "payload" not in fields:
        return fields
    payload = json.loads(fields["payload"])
    if not isinstance(payload, dict):
        raise ValueError("the payload field is not a JSON object")
    return payload


class SlackHttpRequest(BoltRequest):
    """A :class:`~slack_bolt.request.BoltRequest` whose form body is parsed by
    :func:`parse_form_body` (see the module docstring for the Bolt 1.30.0 bug it works around).

    JSON bodies (the Events API) and Socket Mode requests are left to Bolt.
    ``to_copyable`` (used to hand a request to lazy listeners) keeps this class, so lazy
    listeners see the same body as the ack.

    Raises:
        ValueError: as :func:`parse_form_body`, or Bolt's own parsing errors.
    """

    def __init__(
        self,
        *,
        body: str | dict[str, Any],
        query: str | dict[str, str] | dict[str, Sequence[str]] | None = None,
        headers: dict[str, str | Sequence[str]] | None = None,
        context: dict[str, Any] | None = None,
        mode: str = "http",
    ) -> None:
        super().__init__(body=body, query=query, headers=headers, context=context, mode=mode)
        if mode == "http" and isinstance(body, str) and _is_form(self.content_type, self.raw_body):
            self.body = parse_form_body(self.raw_body)
            self.context = build_context(BoltContext(context or {}), self.body)

    def to_copyable(self) -> BoltRequest:
        """A copy for another thread (lazy listeners), of this same class."""
        body: str | dict[str, Any] = self.raw_body if self.mode == "http" else self.body
        return SlackHttpRequest(
            body=body,
            query=self.query,
            headers=self.headers,
            context=self.context.to_copyable(),
            mode=self.mode,
        )


class SlackWsgiHandler(SlackRequestHandler):
    """Bolt's WSGI adapter, building :class:`SlackHttpRequest` instead of ``BoltRequest``."""

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        """Dispatch one Slack request to the Bolt app (signature checked by Bolt)."""
        return self.app.dispatch(
            SlackHttpRequest(
                body=request.get_body(),
                query=request.query_string,
                headers=request.get_headers(),
            )
        )
