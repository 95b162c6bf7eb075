"""Command line of delete-org-bot: run the app (the default), and small operator tools."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

from cryptography.fernet import Fernet
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackClientError

from bot import app_version
from bot.audit_cli import add_audit_parser, run_audit
from bot.config import CONFIRM_TIMEOUT_RANGE, Config, ConfigError, load_config, read_environment
from bot.logfields import log_fields
from bot.logsetup import setup_logging
from bot.migrate_cli import add_migrate_parser, run_migrate
from bot.policy import PolicyError
from bot.startup import StartupError, check_port_free
from bot.tools import check_config, rotate_key

logger = logging.getLogger("bot")

DESCRIPTION = (
    "Delete Coveo organizations from Slack, safely: run the app (the default), or one of the"
    " operator tools below. Every setting is an environment variable (see .env.example)."
)


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
        check_port_free(config.host, config.port)
        runtime = create_app(config)
    except PolicyError as error:
        print(f"delete-org-bot: cannot start: {error}", file=sys.stderr)
        return 2
    except StartupError as error:
        print(f"delete-org-bot: cannot start: {error}", file=sys.stderr)
        return 1
    except (BoltError, SlackClientError, OSError, ValueError) as error:
        # Start-up problems an operator can fix: say what, in one line, and exit non-zero.
        print(f"delete-org-bot: cannot start: {_startup_problem(error)}", file=sys.stderr)
        return 1
    try:
        # In Socket Mode Slack's traffic comes over the WebSocket: /healthz and the routes only.
        server = make_http_server(
            None if config.socket_mode else runtime.app, config.host, config.port, runtime.routes
        )
    except OSError as error:
        print(
            f"delete-org-bot: cannot listen on {config.host}:{config.port}: {error}"
            " (is another process using the port? set PORT or HOST)",
            file=sys.stderr,
        )
        runtime.close()  # nothing was started: no in-flight work to speak of
        return 1
    runtime.start()
    signal.signal(signal.SIGHUP, lambda signum, frame: runtime.deps.policy.reload())
    signal.signal(signal.SIGTERM, _raise_system_exit)
    signal.signal(signal.SIGINT, _raise_system_exit)
    try:
        if config.socket_mode:
            from bot.socket_mode import socket_mode_handler

            side_thread = ServerThread(server, name="http").start()
            handler = socket_mode_handler(runtime)
            logger.info(
                "delete-org-bot ready (Socket Mode); HTTP on %s:%s for /healthz, /readyz, /metrics;"
                " database %s",
                config.host,
                side_thread.port,
                config.database_shown,
                extra=log_fields("ready"),
            )
            try:
                handler.start()  # type: ignore[no-untyped-call]
            finally:
                handler.close()  # type: ignore[no-untyped-call]
                side_thread.stop()
        else:
            logger.info(
                "delete-org-bot ready: HTTP on %s:%s%s; database %s",
                config.host,
                server.effective_port,  # type: ignore[union-attr]
                EVENTS_PATH,
                config.database_shown,
                extra=log_fields("ready"),
            )
            server.run()
    except SystemExit:
        pass
    finally:
        logger.info("shutting down: finishing in-flight work", extra=log_fields("shutting_down"))
        runtime.close()
    return 0


def _confirm_timeout(raw: str) -> int:
    """``--confirm-timeout``: whole seconds in :data:`~bot.config.CONFIRM_TIMEOUT_RANGE`."""
    low, high = CONFIRM_TIMEOUT_RANGE
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be whole seconds from {low} to {high}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be from {low} to {high} seconds (got {value})")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one sub-parser per command, each naming its handler with
    ``set_defaults(handler=…)``; a command group (e.g. ``audit …``) adds its own sub-parsers
    the same way."""
    env_file = argparse.ArgumentParser(add_help=False)
    env_file.add_argument(
        "--env-file",
        default=argparse.SUPPRESS,
        help="read variables from this .env file (the environment wins)",
    )
    parser = argparse.ArgumentParser(
        prog="delete-org-bot", description=DESCRIPTION, parents=[env_file]
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {app_version()}")
    parser.set_defaults(handler=_run_command)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run the app (the default)", parents=[env_file])
    check = sub.add_parser(
        "check-config", help="validate the configuration and exit", parents=[env_file]
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also check the bot token with Slack (auth.test); makes one request to Slack",
    )
    check.set_defaults(handler=_check_config_command)
    rotate = sub.add_parser(
        "rotate-key",
        help="re-encrypt every stored secret with the first key of DELETE_ORG_ENCRYPTION_KEY",
        parents=[env_file],
    )
    rotate.set_defaults(handler=_rotate_key_command)
    generate = sub.add_parser("generate-key", help="print a new key for DELETE_ORG_ENCRYPTION_KEY")
    generate.set_defaults(handler=_generate_key_command)
    fake = sub.add_parser("fake-coveo", help="run a local fake of the Coveo Platform API")
    fake.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    fake.add_argument(
        "--port",
        type=int,
        default=8001,
        help="port to bind; 0 picks a free one (default: %(default)s)",
    )
    fake.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        help="register the demo OAuth client (Sign in with Coveo) for this redirect URI",
    )
    fake.set_defaults(handler=_fake_coveo_command)
    demo = sub.add_parser(
        "demo", help="play a short scripted demo against local fakes of Slack and Coveo (offline)"
    )
    demo.add_argument("--color", action="store_true", help="use ANSI colours")
    demo.set_defaults(handler=_demo_command)
    console = sub.add_parser(
        "console", help="try the app interactively against local fakes of Slack and Coveo"
    )
    console.add_argument("--user", default="alice", help="act as this user (name or ID)")
    low, high = CONFIRM_TIMEOUT_RANGE
    console.add_argument(
        "--confirm-timeout",
        type=_confirm_timeout,
        default=120,
        help=f"seconds a card stays confirmable, {low} to {high} (default: %(default)s)",
    )
    console.add_argument("--color", action="store_true", help="use ANSI colours")
    console.set_defaults(handler=_console_command)
    add_audit_parser(sub, [env_file]).set_defaults(handler=_audit_command)
    add_migrate_parser(sub, [env_file]).set_defaults(handler=_migrate_command)
    return parser


def _generate_key_command(args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    print(Fernet.generate_key().decode("ascii"))
    return 0


def _fake_coveo_command(args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    from bot.emulator.coveo import main as fake_main

    redirects = [part for uri in args.redirect_uri for part in ("--redirect-uri", uri)]
    return fake_main(["--host", args.host, "--port", str(args.port), *redirects])


def _demo_command(args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    from bot.emulator.demo import run_demo

    return run_demo(sys.stdout, colour=args.color)


def _console_command(args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    from bot.emulator.console import run_console

    return run_console(user=args.user, confirm_timeout=args.confirm_timeout, colour=args.color)


def _environment(
    args: argparse.Namespace, environ: Mapping[str, str] | None
) -> dict[str, str] | int:
    """The environment (``environ``, or the process's plus ``--env-file``), or the exit code
    after saying the env file is missing."""
    env_path = getattr(args, "env_file", None)
    if env_path and not Path(env_path).is_file():
        print(f"delete-org-bot: --env-file {env_path}: no such file", file=sys.stderr)
        return 2
    return dict(environ) if environ is not None else read_environment(env_path)


def _audit_command(args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    env = _environment(args, environ)
    return env if isinstance(env, int) else run_audit(args, env)


def _migrate_command(args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    env = _environment(args, environ)
    return env if isinstance(env, int) else run_migrate(args, env, sys.stdout, sys.stderr)


def _load(args: argparse.Namespace, environ: Mapping[str, str] | None) -> Config | int:
    """The validated configuration, or the exit code after saying what is wrong."""
    env = _environment(args, environ)
    if isinstance(env, int):
        return env
    try:
        return load_config(env)
    except ConfigError as error:
        print(f"delete-org-bot: {error}", file=sys.stderr)
        print("See .env.example for every variable.", file=sys.stderr)
        return 2


def _check_config_command(args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    config = _load(args, environ)
    if isinstance(config, int):
        return config
    return check_config(config, online=args.online, out=sys.stdout, err=sys.stderr)


def _rotate_key_command(args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    config = _load(args, environ)
    if isinstance(config, int):
        return config
    return rotate_key(config, out=sys.stdout, err=sys.stderr)


def _run_command(args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    config = _load(args, environ)
    if isinstance(config, int):
        return config
    setup_logging(config.log_level, config.log_format)
    return run(config)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Entry point of the ``delete-org-bot`` console script; returns the exit code.

    ``environ`` replaces the process environment (and ``--env-file``) when given (tests).
    """
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace, Mapping[str, str] | None], int] = args.handler
    try:
        return handler(args, environ)
    except KeyboardInterrupt:  # Ctrl-C in a tool (the app itself stops on SIGINT by itself)
        print(f"\ndelete-org-bot {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left early (`delete-org-bot audit export | head`)
        devnull = os.open(os.devnull, os.O_WRONLY)  # and keep the final flush from failing
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
