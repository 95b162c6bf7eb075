"""The console's operator commands: ``:metrics`` and ``:audit``, on the console's own app.

``:metrics [TEXT]`` scrapes the running app's ``GET /metrics`` and ``GET /readyz`` over HTTP,
as Prometheus and a load balancer would, and prints the readiness and every ``delete_org_``
sample that is not zero (histogram buckets left out), only those containing ``TEXT`` when
given. ``:audit ARGS`` runs ``delete-org-bot audit ARGS`` (``verify``, ``list``, ``show``,
``export``; default ``list``) on the console's temporary database.
"""

from __future__ import annotations

import argparse
import io
import shlex
from contextlib import redirect_stderr
from typing import TYPE_CHECKING

import httpx

from bot.audit_cli import add_audit_parser, run_audit

if TYPE_CHECKING:
    from bot.emulator.console import Console

__all__ = ["audit_command", "metrics_command", "nonzero_samples"]

_TIMEOUT_SECONDS = 5.0


def nonzero_samples(exposition: str, needle: str = "") -> list[str]:
    """The ``delete_org_`` sample lines of a Prometheus text exposition whose value is not 0,
    without histogram buckets and ``_created`` timestamps, keeping those containing
    ``needle``."""
    kept = []
    for line in exposition.splitlines():
        if not line.startswith("delete_org_") or needle not in line:
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name.endswith(("_bucket", "_created")):
            continue
        value = line.rsplit(" ", 1)[-1]
        try:
            if float(value) == 0:
                continue
        except ValueError:
            pass  # not a number: show it as it is
        kept.append(line)
    return kept


def metrics_command(console: Console, rest: str) -> bool:
    """``:metrics [TEXT]``: print readiness and the non-zero metrics of the console's app."""
    base = console.stack.app_url
    try:
        with httpx.Client(timeout=_TIMEOUT_SECONDS, trust_env=False) as http:
            ready = http.get(base + "/readyz")
            scrape = http.get(base + "/metrics")
    except httpx.HTTPError as error:
        console.say(f"! could not reach the app at {base}: {type(error).__name__}")
        return True
    console.say(f"GET /readyz → {ready.status_code} {ready.text.strip()}")
    if scrape.status_code != 200:
        console.say(f"! GET /metrics answered {scrape.status_code}")
        return True
    lines = nonzero_samples(scrape.text, rest.strip())
    console.say(
        f"GET /metrics → {len(lines)} non-zero samples"
        + (f" with {rest.strip()!r}" if rest.strip() else "")
    )
    for line in lines:
        console.say("  " + line)
    return True


def _audit_parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog=":", add_help=False, exit_on_error=False)
    add_audit_parser(root.add_subparsers(dest="command"), [])
    return root


def audit_command(console: Console, rest: str) -> bool:
    """``:audit ARGS``: the ``audit`` CLI on the console's database; a usage error is shown
    and changes nothing."""
    try:
        words = shlex.split(rest) or ["list"]
    except ValueError as error:
        console.say(f"! {error}")
        return True
    errors = io.StringIO()
    try:
        with redirect_stderr(errors):
            args = _audit_parser().parse_args(["audit", *words])
    except (SystemExit, argparse.ArgumentError) as error:
        message = errors.getvalue().strip().splitlines()
        console.say("! " + (message[-1] if message else str(error)))
        console.say(
            "  usage: :audit verify | list [--org ID] [--event NAME] … | show REQUEST_ID"
            " | export [--format csv|jsonl]"
        )
        return True
    out = io.StringIO()
    with redirect_stderr(errors):
        code = run_audit(args, {"DELETE_ORG_DB": str(console.stack.db_path)}, out=out)
    for line in (out.getvalue() + errors.getvalue()).splitlines():
        console.say(line)
    if code != 0:
        console.say(f"(exit {code})")
    return True
