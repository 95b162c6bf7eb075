"""Logging set-up of the app process, in one function: readable text or one JSON object a line."""

from __future__ import annotations

import logging
import sys
import time

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
"""Fields of every JSON line; ``extra=`` values (``request_id``, ``org_id``, ``workspace``,
``event``) are added as keys of their own by python-json-logger."""


def setup_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr at ``level`` as ``text`` (the default) or ``json`` (``LOG_FORMAT``); times
    are UTC in both (ISO 8601 with ``+00:00`` in JSON)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter
    if log_format == "json":
        formatter = JsonFormatter(
            JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level"}, timestamp=False
        )
        formatter.formatTime = _utc_iso  # type: ignore[method-assign]
    else:
        formatter = logging.Formatter(TEXT_FORMAT)
        formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs every request URL at INFO; keep the app's log about the app.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _utc_iso(record: logging.LogRecord, datefmt: str | None = None) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
