"""App factory: build the Bolt app and everything it needs from a validated :class:`Config`."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from bot.clock import utcnow
from bot.config import Config
from bot.coveo import CoveoClient, make_http_client
from bot.crypto import TokenCipher, load_or_create_key_file
from bot.policy import PolicyHolder
from bot.server import Route
from bot.sweeper import Sweeper
from handlers import register_all
from handlers.deletion import DeletionFlow
from handlers.delivery import Delivery
from handlers.deps import Deps
from handlers.errors import on_app_error
from handlers.groups import GroupDirectory
from storage import Store

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0
"""How long a graceful shutdown waits for in-flight work (a DELETE takes at most ~15 s)."""
LISTENER_WORKERS = 128
"""Threads that run the lazy (post-ack) part of listeners; slow Coveo calls occupy one each.
Acks never wait for this pool: they run on the HTTP request thread."""
URGENT_WORKERS = 4
"""Threads for work bound to Slack's 3-second trigger window (views.open)."""


@dataclass
class Runtime:
    """A built app and the resources to release when it stops."""

    config: Config
    app: App
    deps: Deps
    flow: DeletionFlow
    sweeper: Sweeper
    http: httpx.Client
    executor: ThreadPoolExecutor
    urgent: ThreadPoolExecutor
    routes: list[Route] = field(default_factory=list)
    """HTTP endpoints besides ``/healthz`` and ``/slack/events``, served in both modes."""

    def start(self, *, upkeep: bool = True) -> None:
        """Register this process and start the upkeep thread (first pass at once: requests a
        crashed predecessor left in ``deleting`` are reconciled right away). ``upkeep=False``
        only registers (tests drive the passes themselves)."""
        self.deps.store.register_instance(
            self.deps.instance_id, socket.gethostname(), os.getpid(), self.deps.clock()
        )
        if upkeep:
            self.sweeper.start()

    def close(self, drain_timeout: float = DRAIN_SECONDS) -> None:
        """Graceful stop (call after the server stopped taking requests): let running
        listeners and in-flight deletions finish (up to ``drain_timeout`` seconds), flush due
        outbox items, mark this process stopped, close HTTP and SQLite."""
        self.sweeper.stop()
        self.urgent.shutdown(wait=True, cancel_futures=False)
        drained = threading.Thread(
            target=self.executor.shutdown, kwargs={"wait": True}, name="drain", daemon=True
        )
        drained.start()
        drained.join(drain_timeout)
        if drained.is_alive():
            logger.warning(
                "shutdown: gave up waiting after %s s; still running: %s (they will be"
                " reconciled at the next start)",
                drain_timeout,
                sorted(self.deps.inflight.snapshot()) or "listener work",
            )
        try:
            self.flow.outbox.deliver_due()
        finally:
            self.deps.store.stop_instance(self.deps.instance_id, self.deps.clock())
            self.http.close()
            self.deps.store.close()


class _NoRequestBodies(logging.Filter):
    """Drop request bodies from Bolt's "Invalid request signature" log line: a body can hold a
    Coveo token typed into the link form, and anyone can send one (log injection, flooding)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Invalid request signature"):
            record.msg = "Invalid request signature detected (request body not logged)"
            record.args = ()
        return True


_BODY_FILTER = _NoRequestBodies()


def create_app(
    config: Config,
    *,
    http: httpx.Client | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Runtime:
    """Build the Bolt app, its store, Coveo client, listeners and sweeper (not started).

    Calls Slack's ``auth.test`` once to check the bot token (fails fast on a bad token).

    Raises:
        bot.policy.PolicyError: the ``DELETE_ORG_POLICY`` file is invalid.
        slack_bolt.error.BoltError: Slack refused the bot token.
        OSError / ValueError: the database or generated key file cannot be used.
    """
    keys = config.encryption_keys or (load_or_create_key_file(config.key_file),)
    store = Store(config.db_path, TokenCipher(keys), audit_key=config.audit_key)
    http_client = http or make_http_client(max_connections=LISTENER_WORKERS)
    client = WebClient(
        token=config.slack_bot_token,
        base_url=config.slack_api_url or WebClient.BASE_URL,
        timeout=10,
        # Rate limits are not slept on here: the outbox retries later, honouring Retry-After.
        retry_handlers=[ConnectionErrorRetryHandler()],
    )
    executor = ThreadPoolExecutor(max_workers=LISTENER_WORKERS, thread_name_prefix="listener")
    urgent = ThreadPoolExecutor(max_workers=URGENT_WORKERS, thread_name_prefix="urgent")
    app = App(
        client=client,
        signing_secret=config.slack_signing_secret,
        listener_executor=executor,
        # Ack functions run on the request thread; slow work goes to lazy listeners.
        process_before_response=True,
        request_verification_enabled=not config.socket_mode,
    )
    policy = PolicyHolder(config.policy_path)
    deps = Deps(
        store=store,
        coveo=CoveoClient(http_client, platform_url=config.coveo_platform_url),
        delivery=Delivery(client),
        confirm_timeout=config.confirm_timeout,
        clock=clock,
        urgent=urgent,
        instance_id=uuid.uuid4().hex,
        policy=policy,
        groups=GroupDirectory(client),
    )
    verification_logger = logging.getLogger("slack_bolt.RequestVerification")
    if _BODY_FILTER not in verification_logger.filters:
        verification_logger.addFilter(_BODY_FILTER)
    register_all(app, deps)
    app.error(on_app_error)
    flow = DeletionFlow(deps)
    return Runtime(
        config=config,
        app=app,
        deps=deps,
        flow=flow,
        sweeper=Sweeper(flow, config.sweep_interval),
        http=http_client,
        executor=executor,
        urgent=urgent,
    )
