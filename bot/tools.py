"""Operator commands of the CLI that need a configuration: ``check-config`` and ``rotate-key``.

Each takes a validated :class:`~bot.config.Config`, prints what it found to ``out`` and
problems to ``err``, and returns the process exit code (0 fine, 1 a check failed, 2 bad
input).
"""

from __future__ import annotations

import sqlite3
from typing import TextIO

from bot.config import Config
from bot.crypto import TokenCipher
from bot.policy import PolicyError, load_policy
from bot.startup import StartupError, verify_bot_token
from bot.wording import plural


def check_config(config: Config, *, online: bool, out: TextIO, err: TextIO) -> int:
    """Validate what the environment cannot show by itself: the policy file, the encryption
    key's presence (a warning), and with ``online`` the bot token against Slack's
    ``auth.test`` (docs.slack.dev/reference/methods/auth.test) and, with
    ``DELETE_ORG_DATABASE_URL``, a connection to PostgreSQL. Nothing is created."""
    if config.policy_path is not None:
        try:
            load_policy(config.policy_path)
        except PolicyError as error:
            print(f"delete-org-bot: {error}", file=err)
            return 2
    if not config.encryption_keys:
        print(
            "warning: DELETE_ORG_ENCRYPTION_KEY is not set: the app would generate the key file"
            f" {config.key_file} beside the database, which protects little. Set it (make one"
            " with `delete-org-bot generate-key`) and keep it apart from the database.",
            file=err,
        )
    if online:
        from bot.app import make_slack_client

        try:
            identity = verify_bot_token(make_slack_client(config))
        except StartupError as error:
            print(f"delete-org-bot: {error}", file=err)
            return 1
        print(
            f"Slack accepts the bot token: bot {identity.get('user', '?')} in workspace"
            f" {identity.get('team', '?')} ({identity.get('team_id', '?')})",
            file=out,
        )
    if online and config.database_url is not None:
        from storage import StorageError
        from storage.pg_backend import probe

        try:
            server = probe(config.database_url)
        except StorageError as error:
            print(f"delete-org-bot: {error}", file=err)
            return 1
        print(f"PostgreSQL {server} accepts the connection at {config.database_shown}", file=out)
    policy = str(config.policy_path) if config.policy_path else "built-in default policy"
    mode = "Socket Mode" if config.socket_mode else "HTTP mode"
    print(f"configuration OK ({mode}; {policy})", file=out)
    kind = "PostgreSQL" if config.database_url else "SQLite file"
    print(f"database: {kind} {config.database_shown}", file=out)
    if config.oauth_enabled:
        print(
            "Sign in with Coveo: on; the redirect URI to register with Coveo is"
            f" {config.oauth_redirect_uri}",
            file=out,
        )
    else:
        print("Sign in with Coveo: off (COVEO_OAUTH_CLIENT_ID unset); tokens are pasted", file=out)
    return 0


def rotate_key(config: Config, *, out: TextIO, err: TextIO) -> int:
    """Re-encrypt every stored secret with the first key of ``DELETE_ORG_ENCRYPTION_KEY`` and
    say whether the other keys (and a generated key file) can go. Never creates a database.
    """
    from storage import StorageError, open_store
    from storage.rotation import rotate_secrets

    if config.database_url is None and not config.db_path.is_file():
        print(f"delete-org-bot: no database at {config.db_path}; nothing to rotate", file=err)
        return 2
    if config.database_url is not None:
        from storage.pg_backend import has_app_schema

        try:
            present = has_app_schema(config.database_url)
        except StorageError as error:
            print(f"delete-org-bot: {error}", file=err)
            return 2
        if not present:
            print(
                f"delete-org-bot: {config.database_shown} holds no delete-org-bot schema;"
                " nothing to rotate (check that DELETE_ORG_DATABASE_URL names the app's database)",
                file=err,
            )
            return 2
    keys = list(config.encryption_keys)
    key_file = (
        config.key_file if config.database_url is None and config.key_file.is_file() else None
    )
    if key_file is not None:
        old = key_file.read_text(encoding="ascii").strip()
        if old not in keys:
            keys.append(old)  # decrypt with it; moving off the generated file is a rotation too
    if not keys:
        print(
            "delete-org-bot: DELETE_ORG_ENCRYPTION_KEY is not set and there is no key file;"
            " set it to `<new key>,<old key>` (make a key with `delete-org-bot generate-key`)",
            file=err,
        )
        return 2
    try:
        store = open_store(config.database, TokenCipher(keys), audit_key=config.audit_key)
    except (sqlite3.Error, ValueError, StorageError) as error:
        print(f"delete-org-bot: cannot open {config.database_shown}: {error}", file=err)
        return 1
    try:
        report = rotate_secrets(store)
    finally:
        store.close()
    for label, (rotated, current, unreadable) in report.by_column.items():
        line = f"{label}: {rotated} re-encrypted, {current} already with the first key"
        if unreadable:
            line += f", {unreadable} unreadable with every key (those users must relink)"
        print(line, file=out)
    if len(keys) == 1:
        print("Only one key is configured: nothing was under another key.", file=out)
        return 0
    if report.old_keys_removable:
        old_keys = "the old key" if len(keys) == 2 else f"the {len(keys) - 1} old keys"
        extra = f" and the key file {key_file}" if key_file is not None else ""
        print(
            f"Every stored secret now uses the first key. Once every app process runs with it"
            f" first, {old_keys}{extra} can be removed: set DELETE_ORG_ENCRYPTION_KEY to the"
            " first key alone and restart.",
            file=out,
        )
        return 0
    print(
        f"{plural(report.remaining, 'secret')} still use an old key (written meanwhile by an app"
        " process that still has the old key first): keep the old key, restart every process"
        " with the new key first, and run rotate-key again.",
        file=out,
    )
    return 1
