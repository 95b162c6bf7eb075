"""App factory: build the Bolt app and everything it needs from a validated :class:`Config`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.clock import utcnow
from bot.config import Config
from bot.coveo import CoveoClient, make_http_client
from bot.crypto import TokenCipher, load_or_create_key_file
from bot.sweeper import Sweeper
from handlers import register_all
from handlers.deletion import DeletionFlow
from handlers.delivery import Delivery
from handlers.deps import Deps
from handlers.messages import INTERNAL_ERROR
from storage import Store

logger = logging.getLogger(__name__)

LISTENER_WORKERS = 32
"""Threads that run listeners after their ack; slow Coveo calls occupy one each."""


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

    def close(self) -> None:
        """Stop the sweeper, let running listeners finish, close HTTP and SQLite."""
        self.sweeper.stop()
        self.executor.shutdown(wait=True, cancel_futures=False)
        self.http.close()
        self.deps.store.close()


def _report_error(error: Exception, body: dict[str, Any]) -> None:
    """The one handler for unexpected listener errors: log the traceback, tell the user
    something actionable (never the traceback) when the payload has a response_url."""
    logger.exception("unhandled error in a listener", exc_info=error)
    url = body.get("response_url") if isinstance(body, dict) else None
    if isinstance(url, str) and url:
        try:
            WebhookClient(url, timeout=5).send(
                text=INTERNAL_ERROR, response_type="ephemeral", replace_original=False
            )
        except (SlackClientError, OSError) as send_error:
            logger.warning("could not tell the user about the error: %s", send_error)


def create_app(
    config: Config,
    *,
    http: httpx.Client | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Runtime:
    """Build the Bolt app, its store, Coveo client, listeners and sweeper (not started).

    Calls Slack's ``auth.test`` once to check the bot token (fails fast on a bad token).

    Raises:
        slack_bolt.error.BoltError: Slack refused the bot token.
        OSError / ValueError: the database or generated key file cannot be used.
    """
    keys = config.encryption_keys or (load_or_create_key_file(config.key_file),)
    store = Store(config.db_path, TokenCipher(keys))
    http_client = http or make_http_client()
    client = WebClient(
        token=config.slack_bot_token,
        base_url=config.slack_api_url or WebClient.BASE_URL,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            RateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )
    executor = ThreadPoolExecutor(max_workers=LISTENER_WORKERS, thread_name_prefix="listener")
    app = App(
        client=client,
        signing_secret=config.slack_signing_secret,
        listener_executor=executor,
        request_verification_enabled=not config.socket_mode,
    )
    deps = Deps(
        store=store,
        coveo=CoveoClient(http_client, platform_url=config.coveo_platform_url),
        delivery=Delivery(client),
        confirm_timeout=config.confirm_timeout,
        clock=clock,
    )
    register_all(app, deps)
    app.error(_report_error)
    flow = DeletionFlow(deps)
    return Runtime(
        config=config,
        app=app,
        deps=deps,
        flow=flow,
        sweeper=Sweeper(flow, config.sweep_interval),
        http=http_client,
        executor=executor,
    )
