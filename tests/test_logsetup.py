"""LOG_FORMAT=json: one parseable JSON object a line, with the extra fields, in UTC."""

from __future__ import annotations

import json
import logging

import pytest

from bot.logsetup import setup_logging


def test_json_lines_parse_and_carry_the_context(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("DEBUG", "json")
    try:
        logging.getLogger("bot.test").info(
            "request finished", extra={"request_id": "r1", "org_id": "org1", "event": "deleted"}
        )
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        logging.basicConfig(force=True, handlers=[logging.NullHandler()])
    record = json.loads(line)
    assert record["message"] == "request finished"
    assert (record["request_id"], record["org_id"], record["event"]) == ("r1", "org1", "deleted")
    assert record["level"] == "INFO" and record["time"].endswith("+00:00")
