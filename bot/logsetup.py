"""The process's one logging set-up: stderr, readable text or one JSON object a line
(``LOG_FORMAT``), UTC timestamps with their offset, secrets redacted.

Called once by the CLI before the app starts; library modules never configure logging.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from bot.logredact import install

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
"""Fields of every JSON line; ``extra=`` values (``request_id``, ``org_id``, ``workspace``,
``event``, see :mod:`bot.logfields`) are added as keys of their own by python-json-logger."""
JSON_HIDDEN = (*RESERVED_ATTRS, "redacted")
"""Record attributes that are not keys of a JSON line: logging's own, and the redacting
filter's marker (:mod:`bot.logredact`)."""
_handler: logging.Handler | None = None


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at each record (it may be replaced after set-up,
    as test capture does), not to the stream of the moment of set-up."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _utc_iso(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")


class UTCFormatter(logging.Formatter):
    """Formats ``%(asctime)s`` as ISO 8601 UTC with milliseconds and an explicit offset
    (``2026-12-03T07:15:15.123+00:00``), whatever the machine's time zone."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        """The record's creation time (``record.created``, seconds since the epoch) in UTC."""
        return _utc_iso(record)


class UTCJsonFormatter(JsonFormatter):
    """python-json-logger's formatter, with ``time`` in ISO 8601 UTC like the text format."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        """The record's creation time in UTC."""
        return _utc_iso(record)


def setup_logging(
    level: str, log_format: str = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Log records at ``level`` (``DEBUG``…``ERROR``) and above to ``stream`` (stderr), one
    line each, as ``text`` or ``json`` (``LOG_FORMAT``), with the redacting filter
    (:mod:`bot.logredact`) on the handler and on the Slack SDK loggers. httpx's per-request
    INFO lines are silenced (WARNING and above only). Returns the handler."""
    global _handler
    handler: logging.Handler = logging.StreamHandler(stream) if stream else _StderrHandler()
    if log_format == "json":
        handler.setFormatter(
            UTCJsonFormatter(
                JSON_FIELDS,
                rename_fields={"asctime": "time", "levelname": "level"},
                reserved_attrs=JSON_HIDDEN,
            )
        )
    else:
        handler.setFormatter(UTCFormatter(LOG_FORMAT))
    install(handler)
    root = logging.getLogger()
    if _handler is not None:  # set up again (tests run the CLI many times): replace ours only
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return handler
