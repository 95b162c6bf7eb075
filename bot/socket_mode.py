"""Socket Mode: Bolt's built-in ``SocketModeHandler``, with each envelope handled once.

Bolt hands every envelope to the app without its ``envelope_id``
(``slack_bolt/adapter/socket_mode/internals.py`` ``run_bolt_app`` builds the ``BoltRequest``
from ``payload`` alone), so a redelivered envelope (same ``envelope_id``, a higher
``retry_attempt``) would run the command or the click again. :class:`OnceSocketModeHandler`
takes each ``envelope_id`` in the database first (``storage.envelopes``, shared by every
process on the file, so a redelivery that reaches another replica is caught too):

- first delivery: handled by the app as usual; the ack sent is recorded;
- redelivery after that ack: the same ack is sent again (Slack evidently missed it), nothing
  is handled again;
- redelivery while the first is still being handled (or after its process died before
  acking): nothing is handled and nothing is sent; Slack retries or gives up.

Independently of this, a deletion is started only by the compare-and-set ``pending →
deleting`` (``storage.transitions``), so even a duplicate that got through (the database
failing at the claim, see :meth:`OnceSocketModeHandler.handle`) cannot send a second
``DELETE``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.app import Runtime
from bot.crypto import DecryptionError
from storage import Store, StoreUnavailable, ack_path

logger = logging.getLogger(__name__)

NO_ACK = object()
"""What :func:`ack_for` returns when Bolt sends no ack at all."""


def ack_for(bolt_resp: BoltResponse) -> dict[str, Any] | None | object:
    """The ack ``payload`` Bolt would send for ``bolt_resp``, as in slack_bolt 1.30.0
    ``adapter/socket_mode/internals.py`` ``send_response``: None (an ack without payload) for an
    empty 200, the JSON object of a JSON 200, ``{"text": body}`` for any other 200, and
    :data:`NO_ACK` for a non-200 answer (Bolt sends no ack then: Slack times out)."""
    if bolt_resp.status != 200:
        return NO_ACK
    if not bolt_resp.body:
        return None
    content_type = bolt_resp.headers.get("content-type", [""])[0]
    if content_type.startswith("application/json"):
        payload: dict[str, Any] = json.loads(bolt_resp.body)
        return payload
    return {"text": bolt_resp.body}


class OnceSocketModeHandler(SocketModeHandler):
    """Bolt's built-in Socket Mode handler that takes each envelope once in ``store`` (see the
    module docstring). ``instance_id`` names this process in the record; ``clock`` is the
    app's UTC clock; ``ping_interval`` is in seconds (slack_sdk drops a connection that saw
    no pong for more than 4 intervals)."""

    def __init__(
        self,
        app: App,
        app_token: str,
        *,
        store: Store,
        instance_id: str,
        clock: Callable[[], datetime],
        ping_interval: float,
    ) -> None:
        super().__init__(app, app_token, ping_interval=ping_interval)
        self._store = store
        self._instance_id = instance_id
        self._clock = clock

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        """Handle one envelope unless it was taken before (runs on the SDK's worker pool).

        A database failure at the claim is logged and the envelope is handled anyway: the
        compare-and-set transitions still allow one ``DELETE`` at most, and dropping every
        request while the database hiccups would be worse. The claim, the app's ack listeners
        and the recording of the ack share one ack path (``storage.ack_path``): with the
        database gone they all give up within about 1.5 s, so the ack still reaches Slack
        within its 3 s."""
        with ack_path():
            self._handle(client, req)

    def _handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        try:
            claim = self._store.claim_envelope(
                req.envelope_id, kind=req.type, instance_id=self._instance_id, now=self._clock()
            )
        except DecryptionError:
            logger.warning(
                "Socket Mode envelope %s redelivered (retry_attempt %s); its recorded ack cannot"
                " be decrypted: sent an empty ack, not handled again",
                req.envelope_id,
                req.retry_attempt,
            )
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        except (sqlite3.Error, StoreUnavailable):
            logger.exception(
                "cannot record Socket Mode envelope %s; handling it anyway", req.envelope_id
            )
        else:
            if not claim.first:
                self._answer_redelivery(client, req, claim.acked, claim.ack_payload)
                return
        self._handle_first(client, req)

    def _handle_first(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        started = time.monotonic()
        payload = ack_for(run_bolt_app(self.app, req))
        if payload is NO_ACK:
            logger.info("Socket Mode envelope %s: the app gave no ack", req.envelope_id)
            return
        ack = payload if isinstance(payload, dict) else None
        try:
            self._store.record_envelope_ack(req.envelope_id, ack, self._clock())
        except (sqlite3.Error, StoreUnavailable):
            logger.exception("cannot record the ack of Socket Mode envelope %s", req.envelope_id)
        client.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload=ack)
        )
        logger.debug(
            "Socket Mode envelope %s acked in %.0f ms",
            req.envelope_id,
            (time.monotonic() - started) * 1000,
        )

    @staticmethod
    def _answer_redelivery(
        client: SocketModeClient,
        req: SocketModeRequest,
        acked: bool,
        ack: dict[str, Any] | None,
    ) -> None:
        if not acked:
            logger.info(
                "Socket Mode envelope %s redelivered (retry_attempt %s) while still being handled"
                " (or its process died before acking): not handled again",
                req.envelope_id,
                req.retry_attempt,
            )
            return
        logger.info(
            "Socket Mode envelope %s redelivered (retry_attempt %s): sent its recorded ack"
            " again, not handled again",
            req.envelope_id,
            req.retry_attempt,
        )
        client.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload=ack)
        )


def socket_mode_handler(runtime: Runtime) -> OnceSocketModeHandler:
    """The Socket Mode handler ``delete-org-bot`` (and the tests) run ``runtime``'s app with:
    ``SLACK_APP_TOKEN``, the store and clock of the runtime, ``DELETE_ORG_SOCKET_PING_INTERVAL``.
    Not connected yet: call ``connect()`` (returns at once) or ``start()`` (blocks).

    Raises:
        ValueError: the runtime's configuration has no app-level token (HTTP mode).
    """
    config = runtime.config
    if config.slack_app_token is None:
        raise ValueError("Socket Mode needs SLACK_APP_TOKEN")
    return OnceSocketModeHandler(
        runtime.app,
        config.slack_app_token,
        store=runtime.deps.store,
        instance_id=runtime.deps.instance_id,
        clock=runtime.deps.clock,
        ping_interval=config.socket_ping_interval,
    )
