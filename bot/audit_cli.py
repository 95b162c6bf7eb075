"""``delete-org-bot audit``: verify, list, show and export the audit trail (read-only)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.config import ConfigError, load_audit_settings
from storage.audit_chain import (
    EXPORT_FIELDS,
    OUTCOMES,
    AuditFilter,
    AuditReadError,
    iter_events,
    open_readonly,
    request_summary,
    verify_chain,
)

LIST_COLUMNS = ("id", "at", "event", "actor_id", "org_id", "request_id", "to_state", "detail")
"""Columns ``audit list`` prints (``export`` writes all of :data:`EXPORT_FIELDS`)."""


def _utc_time(text: str) -> datetime:
    """``2026-12-01`` or ``2026-12-01T09:30`` (UTC unless an offset is given)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or time, such as 2026-12-01 or 2026-12-01T09:30Z"
        ) from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def add_audit_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``audit`` command and its sub-commands to the CLI's sub-parsers ``sub``; returns
    the ``audit`` parser."""
    audit = sub.add_parser("audit", help="verify, list, show or export the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    common = argparse.ArgumentParser(add_help=False, parents=parents)
    common.add_argument(
        "--db",
        help="SQLite file or postgresql:// URL (default: DELETE_ORG_DATABASE_URL, else"
        " DELETE_ORG_DB; prefer the variable for a URL with a password)",
    )
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--org", help="organization ID")
    filters.add_argument("--user", help="Slack user ID of the actor")
    filters.add_argument("--since", type=_utc_time, help="from this UTC time (inclusive)")
    filters.add_argument("--until", type=_utc_time, help="before this UTC time")
    filters.add_argument("--event", help="event name, such as requested or deleted")
    filters.add_argument("--outcome", choices=OUTCOMES, help="requests that ended so")
    audit_sub.add_parser("verify", parents=[common], help="check the hash chain; exit 1 if broken")
    listing = audit_sub.add_parser("list", parents=[common, filters], help="print matching events")
    listing.add_argument("--limit", type=int, default=None, help="print at most this many")
    show = audit_sub.add_parser("show", parents=[common], help="the whole story of one request")
    show.add_argument("request_id")
    export = audit_sub.add_parser(
        "export", parents=[common, filters], help="write matching events as CSV or JSON Lines"
    )
    export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    return audit  # type: ignore[no-any-return]


def _filter(args: argparse.Namespace) -> AuditFilter:
    return AuditFilter(
        org_id=args.org,
        user_id=args.user,
        since=args.since,
        until=args.until,
        event=args.event,
        outcome=args.outcome,
    )


def _print_table(rows: Iterable[Mapping[str, Any]], out: TextIO, limit: int | None) -> int:
    print("  ".join(LIST_COLUMNS), file=out)
    count = 0
    for row in rows:
        if limit is not None and count >= limit:
            break
        print("  ".join(str(row[c]) if row[c] is not None else "-" for c in LIST_COLUMNS), file=out)
        count += 1
    return count


def write_export(rows: Iterable[Mapping[str, Any]], out: TextIO, fmt: str) -> int:
    """Write ``rows`` to ``out`` one at a time as ``csv`` (with a header) or ``jsonl``;
    returns how many were written."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    else:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count


def run_audit(
    args: argparse.Namespace, environ: Mapping[str, str], out: TextIO | None = None
) -> int:
    """Run one ``audit`` sub-command. Exit codes: 0 done (chain intact), 1 the chain is broken
    or the request is unknown, 2 the database or key cannot be used."""
    out = out or sys.stdout
    try:
        db_default, key = load_audit_settings(environ)
        conn = open_readonly(args.db or db_default)
    except (ConfigError, AuditReadError) as error:
        print(f"delete-org-bot audit: {error}", file=sys.stderr)
        return 2
    with closing(conn):
        if args.audit_command == "verify":
            result = verify_chain(conn, key)
            sealed = (
                f" (+{result.sealed} sealed rows from before the chain)" if result.sealed else ""
            )
            if result.ok:
                print(f"audit chain OK: {result.checked} rows verified{sealed}", file=out)
                return 0
            where = f"row {result.bad_id}" if result.bad_id is not None else "the chain"
            print(f"audit chain BROKEN at {where}: {result.problem}", file=out)
            print(f"{result.checked} rows before it verified{sealed}", file=out)
            return 1
        if args.audit_command == "list":
            _print_table(iter_events(conn, _filter(args)), out, args.limit)
            return 0
        if args.audit_command == "show":
            summary = request_summary(conn, args.request_id)
            if summary is None:
                print(f"delete-org-bot audit: no request {args.request_id}", file=sys.stderr)
                return 1
            for name, value in summary.items():
                if value is not None:
                    print(f"{name + ':':<18}{value}", file=out)
            print("", file=out)
            _print_table(iter_events(conn, AuditFilter(request_id=args.request_id)), out, None)
            return 0
        if args.output is None:
            write_export(iter_events(conn, _filter(args)), out, args.format)
            return 0
        try:
            with args.output.open("w", encoding="utf-8", newline="") as target:
                count = write_export(iter_events(conn, _filter(args)), target, args.format)
        except OSError as error:  # no such directory, no permission, a directory, disk full
            reason = error.strerror or type(error).__name__
            print(f"delete-org-bot audit: cannot write {args.output}: {reason}", file=sys.stderr)
            return 2
        print(f"wrote {count} events to {args.output}", file=sys.stderr)
        return 0
