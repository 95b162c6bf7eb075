"""app_manifest.yml, .env.example and the README agree with the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from app_settings import variables_in_env_example, variables_read_by_config

from handlers.ids import BOT_EVENTS, BOT_SCOPES, COMMAND, EVENT_HOME_OPENED
from handlers.messages import USAGE

ROOT = Path(__file__).resolve().parent.parent


def _manifest() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "app_manifest.yml").read_text())


def test_manifest_declares_the_command_code_registers() -> None:
    commands = _manifest()["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [COMMAND]
    hint = commands[0]["usage_hint"]
    for word in ("link", "unlink", "status", "help"):
        assert word in hint
        assert f"{COMMAND} {word}" in USAGE


def test_manifest_scopes_are_exactly_what_the_code_needs() -> None:
    assert sorted(_manifest()["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)


def test_manifest_enables_the_app_home_and_its_event() -> None:
    manifest = _manifest()
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    # Direct messages with the app stay possible (policy channels.allow_direct_messages).
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_read_only_enabled"] is False
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == list(BOT_EVENTS)
    assert EVENT_HOME_OPENED in BOT_EVENTS


def test_manifest_enables_interactivity_and_socket_mode() -> None:
    settings = _manifest()["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert len(_manifest()["display_information"]["name"]) <= 35


def test_env_example_lists_every_variable_with_required_or_optional() -> None:
    text = (ROOT / ".env.example").read_text()
    listed = variables_in_env_example()
    assert listed == variables_read_by_config()
    blocks = text.split("\n\n")
    for name in listed:
        block = next(b for b in blocks if re.search(rf"^{name}=", b, flags=re.MULTILINE))
        assert re.search(r"Required|Optional", block), name


def test_readme_documents_every_variable_and_both_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in variables_read_by_config():
        assert f"`{name}`" in readme, name
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = ci.strip().splitlines()[-1]
    assert test_command in readme


def test_manifest_lets_the_app_send_direct_messages() -> None:
    """The outcome of a card the app can no longer reach goes to the requester's App Home
    Messages tab (``Delivery.direct_message``): it must be on; ``chat:write`` covers it."""
    assert _manifest()["features"]["app_home"]["messages_tab_enabled"] is True
    assert "chat:write" in BOT_SCOPES
