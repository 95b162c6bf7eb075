"""Command line of ``delete-org-bot``: run the app (default), and small operator tools."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from cryptography.fernet import Fernet
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackClientError

from bot.audit_cli import add_audit_parser, run_audit
from bot.config import Config, ConfigError, load_config, read_environment
from bot.logsetup import setup_logging
from bot.policy import PolicyError, load_policy

logger = logging.getLogger("bot")


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _startup_problem(error: Exception) -> str:
    if isinstance(error, BoltError):
        return f"Slack refused the bot token or could not be reached ({error})"
    if isinstance(error, SlackClientError):
        return f"Slack could not be reached ({error})"
    return str(error) or type(error).__name__


def run(config: Config) -> int:
    """Run the app until SIGTERM or SIGINT: Socket Mode when ``SLACK_APP_TOKEN`` is set, else
    HTTP mode on ``HOST:PORT`` at ``/slack/events``. Returns the process exit code."""
    from bot.app import create_app
    from bot.server import EVENTS_PATH, ServerThread, make_http_server

    try:
        runtime = create_app(config)
    except PolicyError as error:
        print(f"delete-org-bot: cannot start: {error}", file=sys.stderr)
        return 2
    except (BoltError, SlackClientError, OSError, ValueError) as error:
        # Start-up problems an operator can fix: say what, in one line, and exit non-zero.
        print(f"delete-org-bot: cannot start: {_startup_problem(error)}", file=sys.stderr)
        return 1
    runtime.start()
    signal.signal(signal.SIGHUP, lambda signum, frame: runtime.deps.policy.reload())
    signal.signal(signal.SIGTERM, _raise_system_exit)
    signal.signal(signal.SIGINT, _raise_system_exit)
    try:
        if config.socket_mode:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            try:
                # No Slack traffic over HTTP in Socket Mode: /healthz and the app's routes only.
                side = make_http_server(None, config.host, config.port, runtime.routes)
            except OSError as error:
                print(
                    f"delete-org-bot: cannot listen on {config.host}:{config.port}: {error}",
                    file=sys.stderr,
                )
                return 1
            side_thread = ServerThread(side, name="http").start()
            handler = SocketModeHandler(runtime.app, config.slack_app_token)
            logger.info(
                "delete-org-bot ready (Socket Mode); HTTP on %s:%s for /healthz",
                config.host,
                side_thread.port,
            )
            try:
                handler.start()  # type: ignore[no-untyped-call]
            finally:
                handler.close()  # type: ignore[no-untyped-call]
                side_thread.stop()
        else:
            try:
                server = make_http_server(runtime.app, config.host, config.port, runtime.routes)
            except OSError as error:
                print(
                    f"delete-org-bot: cannot listen on {config.host}:{config.port}: {error}",
                    file=sys.stderr,
                )
                return 1
            logger.info(
                "delete-org-bot ready: HTTP on %s:%s%s",
                config.host,
                server.effective_port,  # type: ignore[union-attr]
                EVENTS_PATH,
            )
            server.run()
    except SystemExit:
        pass
    finally:
        logger.info("shutting down: finishing in-flight work")
        runtime.close()
    return 0


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Entry point of the ``delete-org-bot`` console script."""
    env_file = argparse.ArgumentParser(add_help=False)
    env_file.add_argument(
        "--env-file",
        default=argparse.SUPPRESS,
        help="read variables from this .env file (the environment wins)",
    )
    parser = argparse.ArgumentParser(prog="delete-org-bot", description=__doc__, parents=[env_file])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the app (the default)", parents=[env_file])
    sub.add_parser("check-config", help="validate the configuration and exit", parents=[env_file])
    sub.add_parser("generate-key", help="print a new key for DELETE_ORG_ENCRYPTION_KEY")
    fake = sub.add_parser("fake-coveo", help="run a local fake of the Coveo Platform API")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8001)
    demo = sub.add_parser(
        "demo", help="play a short scripted demo against local fakes of Slack and Coveo (offline)"
    )
    demo.add_argument("--color", action="store_true", help="use ANSI colours")
    console = sub.add_parser(
        "console", help="try the app interactively against local fakes of Slack and Coveo"
    )
    console.add_argument("--user", default="alice", help="act as this user (name or ID)")
    console.add_argument(
        "--confirm-timeout", type=int, default=120, help="seconds a card stays confirmable"
    )
    console.add_argument("--color", action="store_true", help="use ANSI colours")
    add_audit_parser(sub, [env_file])
    args = parser.parse_args(argv)

    if args.command == "generate-key":
        print(Fernet.generate_key().decode("ascii"))
        return 0
    if args.command == "fake-coveo":
        from bot.emulator.coveo import main as fake_main

        return fake_main(["--host", args.host, "--port", str(args.port)])
    if args.command == "demo":
        from bot.emulator.demo import run_demo

        return run_demo(sys.stdout, colour=args.color)
    if args.command == "console":
        from bot.emulator.console import run_console

        return run_console(user=args.user, confirm_timeout=args.confirm_timeout, colour=args.color)
    env_path = getattr(args, "env_file", None)
    if env_path and not Path(env_path).is_file():
        print(f"delete-org-bot: --env-file {env_path}: no such file", file=sys.stderr)
        return 2
    env = dict(environ) if environ is not None else read_environment(env_path)
    if args.command == "audit":
        return run_audit(args, env)
    try:
        config = load_config(env)
    except ConfigError as error:
        print(f"delete-org-bot: {error}", file=sys.stderr)
        print("See .env.example for every variable.", file=sys.stderr)
        return 2
    if args.command == "check-config":
        if config.policy_path is not None:
            try:
                load_policy(config.policy_path)
            except PolicyError as error:
                print(f"delete-org-bot: {error}", file=sys.stderr)
                return 2
        policy = str(config.policy_path) if config.policy_path else "built-in default policy"
        mode = "Socket Mode" if config.socket_mode else "HTTP mode"
        print(f"configuration OK ({mode}; {policy})")
        return 0
    setup_logging(config.log_level, config.log_format)
    return run(config)
