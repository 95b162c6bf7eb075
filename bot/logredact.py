"""Keep secrets out of log lines at every level: Slack tokens, response URLs, request bodies.

At DEBUG, ``slack_sdk`` logs every Web API request with its parameters and JSON body and every
response with its body (``slack_sdk/web/base_client.py``), ``WebhookClient`` logs the
``response_url`` it posts to and the body (``slack_sdk/webhook/client.py``), and Bolt logs the
ack body (``slack_bolt/listener/thread_runner.py``) and, on a bad signature, the request body
(``slack_bolt/middleware/request_verification``). Bodies carry response URLs (also inside a
modal's ``private_metadata``) and text typed into forms. :class:`RedactingFilter` rewrites such
records before any handler formats them; :func:`install` attaches it. A ``postgresql://`` URL with
a password (``DELETE_ORG_DATABASE_URL``) is shown as ``postgresql://user:***@host/db``.
"""

from __future__ import annotations

import logging
import re

SDK_PREFIXES = ("slack_sdk", "slack_bolt")
"""Loggers of the Slack SDKs: their request/response bodies are dropped, not just scrubbed."""
OWN_PREFIXES = ("bot", "handlers", "storage", "psycopg")
"""Our loggers, and psycopg's (its pool logs connection failures): scrubbed, bodies kept."""
KNOWN_LOGGERS = (
    "slack_sdk.web.base_client",
    "slack_sdk.webhook.client",
    "slack_sdk.socket_mode.builtin.client",
    "slack_bolt.App",
    "slack_bolt.RequestVerification",
)
"""Loggers created lazily by the SDKs, made at install time so they get the filter too."""

REDACTED_URL = "(response_url redacted)"
REDACTED_TOKEN = "(Slack token redacted)"
NOT_LOGGED = "(not logged)"

# A response URL: Slack's hooks host, or a /hooks/ path (the local fake's, proxies' rewrites).
_RESPONSE_URL = re.compile(
    r"https?://[^\s\"'\\<>|]*(?:hooks\.slack\.com|/hooks/)[^\s\"'\\<>|,)}\]]*", re.IGNORECASE
)
# The value after a response_url key in JSON, Python reprs, form bodies or escaped JSON.
_RESPONSE_URL_VALUE = re.compile(
    r"(response_url\\*[\"']?\s*[:=]\s*\\*[\"']?)[^\s\"'\\,}&]+", re.IGNORECASE
)
# The password of a postgresql:// URL: up to the LAST @ of the authority (a stray @ of the
# password stays hidden), and the value of a ?password= (or &password=) query parameter.
_DATABASE_PASSWORD = re.compile(r"(\bpostgres(?:ql)?://[^\s:/@?#]*:)[^\s/?#]*@", re.IGNORECASE)
_DATABASE_QUERY_PASSWORD = re.compile(
    r"(\bpostgres(?:ql)?://[^\s?#]*\?(?:[^\s#]*?&)?password=)[^\s&#]*", re.IGNORECASE
)
_SLACK_TOKEN = re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+")
# Everything after the first body-like key of an SDK log line ("body: {...}", "json_body: ...").
_BODY_TAIL = re.compile(
    r"(?P<key>\b(?:query_params|body_params|files|json_body|body|headers|message|payload)"
    r"\s*[:=]\s*).*",
    re.DOTALL,
)


def scrub(text: str) -> str:
    """``text`` with response URLs and Slack tokens replaced (any logger's line)."""
    text = _RESPONSE_URL.sub(REDACTED_URL, text)
    text = _RESPONSE_URL_VALUE.sub(lambda m: m.group(1) + REDACTED_URL, text)
    text = redact_database_url(text)
    return _SLACK_TOKEN.sub(REDACTED_TOKEN, text)


def redact_database_url(url: str) -> str:
    """``url`` (or any text holding such URLs) with each ``postgresql://`` password replaced by
    ``***``, the one before the host and a ``password=`` query parameter alike: safe in
    messages and logs (libpq URIs: postgresql.org/docs/current/libpq-connect.html)."""
    text = _DATABASE_PASSWORD.sub(r"\1***@", url)
    return _DATABASE_QUERY_PASSWORD.sub(r"\1***", text)


def drop_bodies(text: str) -> str:
    """An SDK log line cut at its first body-like key (parameters, bodies, headers, socket
    messages): ``… body: (not logged)``."""
    return _BODY_TAIL.sub(lambda m: m.group("key") + NOT_LOGGED, text, count=1)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and its formatted traceback) without its secrets; never
    drops a record. Lines of the Slack SDK loggers also lose their bodies."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always True (the record is kept)."""
        if getattr(record, "redacted", False):
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-args: keep the template only
            message = str(record.msg)
        cleaned = scrub(message)
        if record.name.startswith(SDK_PREFIXES):
            cleaned = drop_bodies(cleaned)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        record.redacted = True
        return True


REDACTING_FILTER = RedactingFilter()
"""The one instance, so installing twice adds nothing."""


def install(*handlers: logging.Handler) -> None:
    """Attach the filter to ``handlers`` (every record they emit, whatever its logger) and to
    the SDK loggers and our own that exist now (records logged on them, whatever handler
    takes them: also test capture). Idempotent."""
    for handler in handlers:
        if REDACTING_FILTER not in handler.filters:
            handler.addFilter(REDACTING_FILTER)
    names = set(KNOWN_LOGGERS) | set(SDK_PREFIXES) | set(OWN_PREFIXES)
    names |= {
        name
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and name.startswith(SDK_PREFIXES + OWN_PREFIXES)
    }
    for name in sorted(names):
        logger = logging.getLogger(name)
        if REDACTING_FILTER not in logger.filters:
            logger.addFilter(REDACTING_FILTER)
