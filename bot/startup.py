"""Start-up checks against Slack, with messages an operator can act on.

Exceptions: :class:`StartupError` (one line saying what failed, where, and what to check).
"""

from __future__ import annotations

import socket
import ssl
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

TOKEN_HELP = (
    "check SLACK_BOT_TOKEN (api.slack.com/apps → OAuth & Permissions → Bot User OAuth Token)"
)
NETWORK_HELP = (
    "check the network and DNS, the outbound proxy (HTTPS_PROXY) and SLACK_API_URL if it is set"
)


class StartupError(Exception):
    """A start-up check failed; the message names the service, the URL and what to check."""


def _reason(error: BaseException) -> str:
    """The innermost useful words of a network error (``Name or service not known``)."""
    inner: Any = error.reason if isinstance(error, URLError) else error
    if isinstance(inner, socket.gaierror | ConnectionError | TimeoutError | ssl.SSLError):
        return inner.strerror or str(inner) or type(inner).__name__
    return str(inner) or type(inner).__name__


def verify_bot_token(client: WebClient) -> dict[str, Any]:
    """Call Slack's ``auth.test`` with the client's bot token and return its answer
    (``team_id``, ``user_id``, ``bot_id``, ``url``…; docs.slack.dev/reference/methods/auth.test).

    Raises:
        StartupError: Slack refused the token (its error code is named, the token never), or
            could not be reached at ``client.base_url`` (the network reason is named).
    """
    url = f"{client.base_url}auth.test"
    try:
        response = client.auth_test()
    except SlackApiError as error:
        code = str(error.response.get("error") or error.response.status_code)
        raise StartupError(
            f"Slack refused the bot token ({code}) at {url}: {TOKEN_HELP}"
        ) from error
    except (URLError, OSError, SlackClientError) as error:
        raise StartupError(
            f"cannot reach Slack at {url}: {_reason(error)}; {NETWORK_HELP}"
        ) from error
    return dict(response.data) if isinstance(response.data, dict) else {}


def check_port_free(host: str, port: int) -> None:
    """Bind ``host:port`` for a moment, as the HTTP server will (``SO_REUSEADDR``, as waitress
    sets it), so a taken port is reported before anything is created. ``port`` 0 always passes.

    Raises:
        StartupError: the address cannot be bound (in use, not a local address, no permission).
    """
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise StartupError(
            f"cannot listen on {host}:{port}: {_reason(error)}; check HOST"
        ) from error
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise StartupError(
                f"cannot listen on {host}:{port}: {error.strerror or error}; is another process"
                " using the port? Stop it, or set PORT (or HOST) to another value"
            ) from error
