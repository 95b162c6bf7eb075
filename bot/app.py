"""App factory: build the Bolt app and everything it needs from a validated :class:`Config`."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import httpx
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler

from bot import app_version
from bot.clock import utcnow
from bot.config import OAUTH_CALLBACK_PATH, Config
from bot.coveo import CoveoClient, make_http_client
from bot.coveo_oauth import CoveoOAuth, OAuthClientSettings
from bot.crypto import TokenCipher, load_or_create_key_file
from bot.logfields import log_fields
from bot.logredact import install as install_log_redaction
from bot.metrics import METRICS_PATH, Metrics
from bot.metrics_coveo import instrument as instrument_coveo_http
from bot.metrics_slack import TimedApp, WebApiCallCounter
from bot.policy import PolicyHolder
from bot.readiness import READY_PATH, Readiness
from bot.server import Route
from bot.startup import StartupError, verify_bot_token
from bot.sweeper import Sweeper
from handlers import register_all
from handlers.deletion import DeletionFlow
from handlers.delivery import Delivery
from handlers.deps import Deps
from handlers.errors import error_handler
from handlers.groups import GroupDirectory
from handlers.home import HomePublisher
from handlers.oauth_callback import OAuthCallback
from handlers.tokens import Tokens
from storage import StorageError, StoreUnavailable, ack_path, open_store

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0
"""How long a graceful shutdown waits for in-flight work (a DELETE takes at most ~15 s)."""
LISTENER_WORKERS = 128
"""Threads that run the lazy (post-ack) part of listeners; slow Coveo calls occupy one each.
Acks never wait for this pool: they run on the HTTP request thread."""
URGENT_WORKERS = 4
"""Threads for work bound to Slack's 3-second trigger window (views.open)."""

_P = ParamSpec("_P")
_T = TypeVar("_T")


class SlackApp(TimedApp):
    """The Bolt app (timed, see :class:`TimedApp`) whose every dispatch runs on an ack path
    (``storage.ack_path``): with ``process_before_response`` the ack listeners run inside
    ``dispatch``, so a database they need that is gone makes them fail within about 1.5 s
    (``StoreUnavailable``, answered with a clear message) rather than miss Slack's 3 s. Lazy
    listeners run on the listener pool, outside it, with the long wait."""

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        """``TimedApp.dispatch`` on an ack path."""
        with ack_path():
            return super().dispatch(req)


def _on_ack_path(work: Callable[[], _T]) -> _T:
    with ack_path():
        return work()


class UrgentPool(ThreadPoolExecutor):
    """The pool for work bound to a ``trigger_id`` (valid 3 s): each task runs on an ack path
    of its own (``storage.ack_path``), so a lost database fails it within about 1.5 s."""

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        """``ThreadPoolExecutor.submit``, the task on an ack path."""
        return super().submit(_on_ack_path, functools.partial(fn, *args, **kwargs))


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
    metrics: Metrics
    routes: list[Route] = field(default_factory=list)
    """HTTP endpoints besides ``/healthz`` and ``/slack/events``, served in both modes."""
    slack_auth: dict[str, Any] = field(default_factory=dict)
    """Slack's ``auth.test`` answer at start (``ok``, ``team_id``, ``user_id``…; no token)."""

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
        outbox items, mark this process stopped, close HTTP and the store. The database
        unreachable meanwhile is logged (what it leaves undone), never raised."""
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
                extra=log_fields("shutdown_gave_up"),
            )
        try:
            self._settle_with_store()
        except StoreUnavailable as error:
            logger.warning(
                "shutdown: the database is unreachable (%s); due outbox items stay queued and"
                " this process is not marked stopped: another replica settles its work after"
                " its heartbeat window, or this one at its next start",
                error,
                extra=log_fields("shutdown_store_unavailable"),
            )
        finally:
            self.http.close()
            self.deps.store.close()

    def _settle_with_store(self) -> None:
        """Flush due outbox items, then mark this process stopped (also when the flush failed
        otherwise). With the database unreachable (``StoreUnavailable``) the mark is not
        tried: it would wait for the database a second time, past a deploy's grace period."""
        database_gone = False
        try:
            self.flow.outbox.deliver_due()
        except StoreUnavailable:
            database_gone = True
            raise
        finally:
            if not database_gone:
                self.deps.store.stop_instance(self.deps.instance_id, self.deps.clock())


def make_slack_client(config: Config, *, observer: RetryHandler | None = None) -> WebClient:
    """The Web API client for ``config``'s bot token and ``SLACK_API_URL`` (10 s timeout; a
    connection error is retried once; rate limits are not slept on: the outbox retries later,
    honouring Retry-After). ``observer`` goes first among the retry handlers, so it sees
    every attempt (the metrics' ``WebApiCallCounter``)."""
    handlers: list[RetryHandler] = [observer] if observer is not None else []
    return WebClient(
        token=config.slack_bot_token,
        base_url=config.slack_api_url or WebClient.BASE_URL,
        timeout=10,
        retry_handlers=[*handlers, ConnectionErrorRetryHandler()],
    )


def _oauth_client(config: Config, http: httpx.Client, coveo: CoveoClient) -> CoveoOAuth | None:
    """Sign in with Coveo when a client is configured (else None: tokens are pasted)."""
    if not (config.oauth_enabled and config.oauth_client_id and config.oauth_client_secret):
        return None
    redirect_uri = config.oauth_redirect_uri
    assert redirect_uri is not None
    settings = OAuthClientSettings(config.oauth_client_id, config.oauth_client_secret, redirect_uri)
    return CoveoOAuth(http, coveo, settings)


def _workspace_url(identity: dict[str, object]) -> str | None:
    """``auth.test``'s ``url`` (``https://acme.slack.com/``) when it looks like one, else None."""
    url = identity.get("url")
    if isinstance(url, str) and url.startswith("https://") and url.endswith("/"):
        return url
    return None


def create_app(
    config: Config,
    *,
    http: httpx.Client | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Runtime:
    """Build the Bolt app, its store, Coveo client, listeners and sweeper (not started), and
    the HTTP routes served in both modes (``GET /metrics``, ``GET /readyz``;
    ``GET /coveo/oauth/callback`` when a Coveo OAuth client is configured). The metrics live in
    a registry of this app's own (``Runtime.metrics``); ``http``, when given, is instrumented
    like the app's own client.

    Calls Slack's ``auth.test`` once to check the bot token (fails fast on a bad token), after
    the policy loaded and before the database or key file is created or opened.

    Raises:
        bot.policy.PolicyError: the ``DELETE_ORG_POLICY`` file is invalid.
        bot.startup.StartupError: Slack refused the bot token or could not be reached;
            PostgreSQL cannot be reached, or the database was migrated by a newer version.
        OSError / ValueError: the database or generated key file cannot be used.
    """
    # Every check first (policy, then Slack), so a failed start leaves no database or key file.
    policy = PolicyHolder(config.policy_path)
    metrics = Metrics(version=app_version())
    client = make_slack_client(config, observer=WebApiCallCounter(metrics.count_slack))
    slack_auth = verify_bot_token(client)
    keys = config.encryption_keys or (load_or_create_key_file(config.key_file),)
    try:
        store = open_store(
            config.database,
            TokenCipher(keys),
            audit_key=config.audit_key,
            on_audit=metrics.on_audit,
        )
    except StorageError as error:  # PostgreSQL unreachable, or a schema newer than the code
        raise StartupError(str(error)) from error
    metrics.watch_store(store, clock)
    http_client = http or make_http_client(max_connections=LISTENER_WORKERS)
    instrument_coveo_http(http_client, metrics.observe_coveo)
    executor = ThreadPoolExecutor(max_workers=LISTENER_WORKERS, thread_name_prefix="listener")
    urgent = UrgentPool(max_workers=URGENT_WORKERS, thread_name_prefix="urgent")
    app = SlackApp(
        on_ack=metrics.observe_ack,
        client=client,
        signing_secret=config.slack_signing_secret,
        listener_executor=executor,
        # Ack functions run on the request thread; slow work goes to lazy listeners.
        process_before_response=True,
        request_verification_enabled=not config.socket_mode,
        # auth.test was just called by verify_bot_token; Bolt's own call would only repeat it
        # with a raw error. Bolt still calls it lazily on the first request.
        token_verification_enabled=False,
    )
    coveo = CoveoClient(http_client, platform_url=config.coveo_platform_url)
    oauth = _oauth_client(config, http_client, coveo)
    deps = Deps(
        store=store,
        coveo=coveo,
        delivery=Delivery(client, ledger=store, clock=clock),
        confirm_timeout=config.confirm_timeout,
        clock=clock,
        urgent=urgent,
        instance_id=uuid.uuid4().hex,
        policy=policy,
        groups=GroupDirectory(client),
        tokens=Tokens(store, oauth, clock),
        workspace_url=_workspace_url(slack_auth),
        sweep_interval=config.sweep_interval,
        response_url_retention=config.response_url_retention,
    )
    # Bodies, response URLs and tokens out of every SDK log line, even at DEBUG.
    install_log_redaction()
    register_all(app, deps)
    app.error(error_handler(deps.delivery))
    flow = DeletionFlow(deps)
    readiness = Readiness(store, slack_auth_passed=slack_auth.get("ok") is True)
    routes = [Route("GET", METRICS_PATH, metrics.wsgi_app()), Route("GET", READY_PATH, readiness)]
    if oauth is not None:
        callback = OAuthCallback(deps, oauth, flow.tell, home=HomePublisher(deps).publish_for)
        routes.append(Route("GET", OAUTH_CALLBACK_PATH, callback))
    return Runtime(
        config=config,
        app=app,
        deps=deps,
        flow=flow,
        sweeper=Sweeper(flow, config.sweep_interval, stale_after=config.heartbeat_timeout),
        http=http_client,
        executor=executor,
        urgent=urgent,
        metrics=metrics,
        routes=routes,
        slack_auth=slack_auth,
    )
