"""The console script: operator commands, config errors, and the real process end to end."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from conftest import (
    ALICE,
    CHANNEL,
    SIGNING_SECRET,
    launch_app_process,
    link_through_slack,
    process_env,
)

from bot.cli import main
from bot.config import is_fernet_key
from bot.emulator.coveo import FakeCoveo
from bot.emulator.slack import FakeSlack
from handlers.ids import ACTION_CONFIRM


def test_generate_key_prints_a_fernet_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate-key"]) == 0
    assert is_fernet_key(capsys.readouterr().out.strip())


def test_bad_configuration_lists_every_problem_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        ["check-config"], environ={"DELETE_ORG_CONFIRM_TIMEOUT": "5", "SLACK_BOT_TOKEN": "nope"}
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "SLACK_BOT_TOKEN" in err and "SLACK_SIGNING_SECRET" in err
    assert "DELETE_ORG_CONFIRM_TIMEOUT" in err
    assert "nope" not in err


def test_check_config_accepts_socket_mode(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {"SLACK_BOT_TOKEN": "xoxb-test-x", "SLACK_APP_TOKEN": "xapp-test-x"}
    assert main(["check-config"], environ=environ) == 0
    assert "Socket Mode" in capsys.readouterr().out


def test_real_process_serves_the_flow_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with FakeSlack(signing_secret=SIGNING_SECRET) as slack, FakeCoveo() as coveo:
        tokens = coveo.seed_demo()
        slack.add_channel(CHANNEL, "general")
        proc, port = launch_app_process(process_env(slack, coveo, tmp_path, LOG_LEVEL="DEBUG"))
        try:
            slack.app_url = f"http://127.0.0.1:{port}"
            link_through_slack(slack, ALICE, CHANNEL, tokens["admin_us"])
            slack.send_command(ALICE, CHANNEL, "examplesandboxus2r9t5w")
            card = slack.wait_for(lambda: slack.messages(CHANNEL, include_replies=False))[0]
            slack.click(ALICE, channel_id=CHANNEL, message_ts=card.ts, action_id=ACTION_CONFIRM)
            reply = slack.wait_for(lambda: slack.thread(CHANNEL, card.ts))[0]
            assert "204 No Content" in reply.text
            from scrape import scrape

            assert scrape(slack.app_url).value("delete_org_requests_total", outcome="deleted") == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert tokens["admin_us"] not in err + out
        assert "ready: HTTP on 127.0.0.1" in err
        assert f"; database {tmp_path / 'bot.db'}" in err  # which store this process uses


def test_check_config_validates_the_policy_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[requesters]\nusers = ["@alice"]\n')
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-test-x",
        "SLACK_APP_TOKEN": "xapp-test-x",
        "DELETE_ORG_POLICY": str(policy),
    }
    assert main(["check-config"], environ=environ) == 2
    assert "requesters.users" in capsys.readouterr().err
    policy.write_text('[requesters]\nusers = ["U0ALICE0001"]\n')
    assert main(["check-config"], environ=environ) == 0
    assert str(policy) in capsys.readouterr().out
