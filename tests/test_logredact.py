"""Secrets never reach the log: the redacting filter, unit and through the real app at DEBUG."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

from conftest import ALICE, SIGNING_SECRET, launch_app_process, process_env

from bot.emulator.coveo import FakeCoveo
from bot.emulator.slack import FakeSlack
from bot.logredact import REDACTING_FILTER, install
from handlers.ids import ACTION_CONFIRM, ACTION_REGION, ACTION_TOKEN, BLOCK_REGION, BLOCK_TOKEN

HOOK = "https://hooks.slack.com/actions/T0TEST0001/1234567890/s3cr3tHookPart"


def _filtered(name: str, msg: str, *args: object) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.DEBUG, __file__, 1, msg, args, None)
    assert REDACTING_FILTER.filter(record) is True  # never drops a record
    return record


def test_sdk_request_lines_lose_their_bodies_and_response_urls() -> None:
    metadata = '{\\"channel_id\\": \\"C1\\", \\"response_url\\": \\"' + HOOK + '\\"}'
    line = (
        "Sending a request - url: https://slack.com/api/views.open, query_params: {},"
        f" body_params: {{}}, files: {{}}, json_body: {{'view': {{'private_metadata':"
        f" '{metadata}'}}}}, headers: {{'Authorization': '(redacted)'}}"
    )
    message = _filtered("slack_sdk.web.base_client", line).getMessage()
    assert "s3cr3tHookPart" not in message and "private_metadata" not in message
    assert message.startswith("Sending a request - url: https://slack.com/api/views.open")
    webhook = _filtered(
        "slack_sdk.webhook.client", "Sending a request - url: %s, body: %s", HOOK, "{}"
    )
    assert "s3cr3tHookPart" not in webhook.getMessage()
    ack = _filtered("slack_bolt.App", 'Responding with status: 200 body: "%s" (3 millis)', "hi")
    assert ack.getMessage() == "Responding with status: 200 body: (not logged)"


def test_own_lines_keep_their_text_but_lose_tokens_and_response_urls() -> None:
    record = _filtered(
        "handlers.delivery",
        "posting to %s with xoxb-test-123-456-abc failed",
        "http://127.0.0.1:9/hooks/tok",
    )
    message = record.getMessage()
    assert message == "posting to (response_url redacted) with (Slack token redacted) failed"
    assert _filtered("bot.app", "ready: %s", "ok").getMessage() == "ready: ok"


def test_tracebacks_are_scrubbed_too() -> None:
    try:
        raise RuntimeError(f"could not post to {HOOK}")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "handlers.x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info()
        )
    REDACTING_FILTER.filter(record)
    assert record.exc_text and "s3cr3tHookPart" not in record.exc_text
    assert "RuntimeError" in record.exc_text


def test_install_covers_sdk_loggers_made_later_and_is_idempotent() -> None:
    install()
    install()
    for name in ("slack_sdk.web.base_client", "slack_sdk.webhook.client", "slack_bolt.App"):
        assert logging.getLogger(name).filters.count(REDACTING_FILTER) == 1


def test_debug_log_of_the_real_app_holds_no_response_url_token_or_body(tmp_path: Path) -> None:
    """The real process at LOG_LEVEL=DEBUG, against the fakes: a link form (its
    private_metadata carries a response_url), a card in a private channel the app is not in
    (card and outcome go through the response_url), and a deletion."""
    private = "G0SECRET001"
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack, FakeCoveo() as coveo:
        tokens = coveo.seed_demo()
        slack.add_channel(private, "secret", kind="private", bot_is_member=False)
        proc, port = launch_app_process(process_env(slack, coveo, tmp_path, LOG_LEVEL="DEBUG"))
        try:
            slack.app_url = f"http://127.0.0.1:{port}"
            slack.send_command(ALICE, private, "link")
            view = slack.wait_for(lambda: slack.views(ALICE, open_only=True))[-1]
            assert "response_url" in view.view["private_metadata"]
            slack.submit_view(
                ALICE,
                view.id,
                {
                    BLOCK_TOKEN: {ACTION_TOKEN: tokens["admin_us"]},
                    BLOCK_REGION: {ACTION_REGION: "us"},
                },
            )
            slack.send_command(ALICE, private, "examplesandboxus2r9t5w")
            card = slack.wait_for(lambda: slack.messages(private, include_replies=False))[0]
            slack.click(ALICE, channel_id=private, message_ts=card.ts, action_id=ACTION_CONFIRM)
            slack.wait_for(lambda: [m for m in slack.messages(private) if "204" in m.text])
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "DEBUG slack_sdk" in err and "DEBUG slack_bolt" in err  # really at DEBUG
    assert "(response_url redacted)" in err or "(not logged)" in err
    assert "/hooks/" not in err and "hooks.slack.com" not in err
    assert tokens["admin_us"] not in err and "xoxb-test-not-a-real-token" not in err
    assert "private_metadata" not in err and '"blocks"' not in err  # no request bodies
    first = err.splitlines()[0]
    assert first[:4].isdigit() and "+00:00 " in first  # UTC with its offset


def test_database_url_passwords_are_scrubbed_from_any_line() -> None:
    record = _filtered(
        "psycopg.pool",
        "error connecting to %s",
        "postgresql://bot:pg-s3cr3t@db.example.com:5432/delorg?sslmode=require",
    )
    assert record.getMessage() == (
        "error connecting to postgresql://bot:***@db.example.com:5432/delorg?sslmode=require"
    )
    plain = "postgresql://bot@db.example.com/delorg"
    assert _filtered("storage.pg_backend", "using %s", plain).getMessage() == f"using {plain}"
