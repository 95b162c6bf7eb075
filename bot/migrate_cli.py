"""``delete-org-bot migrate-db``: copy a SQLite database into an empty PostgreSQL one.

The copy itself is ``storage.copy``; this module reads the arguments, says what was done and
returns the exit code: 0 copied and verified, 1 the copy failed and was rolled back (or
PostgreSQL is unreachable), 2 refused before anything changed (bad arguments, the source or
the target is not what it must be).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from bot.config import ConfigError, load_audit_settings
from bot.dburl import POSTGRES_SCHEMES, database_url_problem
from bot.logredact import redact_database_url
from bot.wording import plural

SQLITE_SCHEME = "sqlite://"


def add_migrate_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``migrate-db`` command to the CLI's sub-parsers ``sub``; returns its parser."""
    parser = sub.add_parser(
        "migrate-db",
        help="copy a SQLite database into an empty PostgreSQL database (stop the app first)",
        parents=parents,
    )
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="SQLITE",
        help="the SQLite file: sqlite:///absolute/path.db, or a plain path",
    )
    parser.add_argument(
        "--to",
        dest="target",
        metavar="POSTGRESQL_URL",
        help="postgresql://user:password@host:port/dbname (default: DELETE_ORG_DATABASE_URL;"
        " prefer the variable, which keeps the password out of the process list)",
    )
    return parser  # type: ignore[no-any-return]


def sqlite_path(text: str) -> Path:
    """The file named by ``--from``: ``sqlite:///abs/path.db`` (everything after ``sqlite://``
    is the path, so ``sqlite:////abs/path.db`` names the same file), or a plain path.

    Raises:
        ValueError: a ``sqlite://`` URL without an absolute path, or a PostgreSQL URL.
    """
    if text.startswith(POSTGRES_SCHEMES):
        raise ValueError("--from is the SQLite database; the PostgreSQL URL goes in --to")
    if text.startswith(SQLITE_SCHEME):
        rest = text[len(SQLITE_SCHEME) :]
        if not rest.startswith("/"):
            raise ValueError(
                f"--from {text}: a sqlite:// URL names an absolute path (sqlite:///data/bot.db);"
                " pass a relative path as it is, without sqlite://"
            )
        return Path("/" + rest.lstrip("/"))  # SQLAlchemy's sqlite://// form too
    if not text.strip():
        raise ValueError("--from is empty: name the SQLite file")
    return Path(text)


def run_migrate(
    args: argparse.Namespace, environ: Mapping[str, str], out: TextIO, err: TextIO
) -> int:
    """Run ``migrate-db`` with ``environ`` (``DELETE_ORG_DATABASE_URL`` as the default target,
    ``DELETE_ORG_AUDIT_KEY`` to verify an HMAC chain); returns the exit code."""
    from storage import StoreUnavailable
    from storage.copy import CopyFailed, CopyRefused, copy_sqlite_to_postgres

    # DELETE_ORG_DB (the SQLite app's setting) may well be set beside the target's URL here.
    ignored = ("DELETE_ORG_DB", "DELETE_ORG_DATABASE_URL") if args.target else ("DELETE_ORG_DB",)
    try:
        source = sqlite_path(args.source)
        database, audit_key = load_audit_settings(
            {name: value for name, value in environ.items() if name not in ignored}
        )
    except (ValueError, ConfigError) as error:
        print(f"delete-org-bot migrate-db: {error}", file=err)
        return 2
    target = args.target or (database if isinstance(database, str) else None)
    if not target or not target.startswith(POSTGRES_SCHEMES):
        shown = redact_database_url(target) if target else "nothing"
        print(
            f"delete-org-bot migrate-db: --to must be a postgresql:// URL (got {shown}); or set"
            " DELETE_ORG_DATABASE_URL",
            file=err,
        )
        return 2
    problem = database_url_problem(target, "--to" if args.target else "DELETE_ORG_DATABASE_URL")
    if problem is not None:
        print(f"delete-org-bot migrate-db: {problem}", file=err)
        return 2
    shown = redact_database_url(target)
    print(f"copying {source.absolute()} into {shown} (one transaction)", file=out)
    try:
        report = copy_sqlite_to_postgres(source, target, audit_key=audit_key)
    except KeyboardInterrupt:  # the transaction was left by an exception: PostgreSQL rolls back
        print(
            "delete-org-bot migrate-db: interrupted (Ctrl-C) before the copy was committed:"
            " it was rolled back and the PostgreSQL database is as it was; run migrate-db again",
            file=err,
        )
        return 130
    except CopyRefused as error:
        print(f"delete-org-bot migrate-db: {error}", file=err)
        return 2
    except (CopyFailed, StoreUnavailable) as error:
        print(f"delete-org-bot migrate-db: {error}", file=err)
        return 1
    if report.source_migrated:
        steps = ", ".join(report.source_migrated)
        print(f"migrated the SQLite file first (as the app would at start-up): {steps}", file=out)
    if report.target_migrated:
        print(f"created the schema on PostgreSQL ({len(report.target_migrated)} steps)", file=out)
    width = max(len(t.table) for t in report.tables)
    print(f"{'table':<{width}}  {'SQLite':>9}  {'PostgreSQL':>10}", file=out)
    for count in report.tables:
        print(f"{count.table:<{width}}  {count.source:>9}  {count.target:>10}", file=out)
    chain = report.chain
    sealed = f" (+{chain.sealed} sealed rows from before the chain)" if chain.sealed else ""
    print(
        f"copied {plural(report.rows, 'row')}, counts equal; audit chain OK on PostgreSQL:"
        f" {chain.checked} rows verified{sealed}",
        file=out,
    )
    if report.live_instances:
        print(
            f"warning: {plural(report.live_instances, 'app process', 'app processes')} of the"
            " SQLite file had a recent heartbeat and no stop: if one still runs, what it writes"
            " from now on is not in the copy. Stop it, and copy again into an empty database.",
            file=err,
        )
    key_file = source.with_name(source.name + ".key")
    if key_file.is_file():
        print(
            f"The SQLite app used the generated key file {key_file}: the copied secrets are"
            " encrypted with it. Set DELETE_ORG_ENCRYPTION_KEY to its content (or to"
            " `<new key>,<its content>` and run rotate-key) before starting the app on"
            " PostgreSQL.",
            file=out,
        )
    print(
        "Next: run every app process with DELETE_ORG_DATABASE_URL set (and DELETE_ORG_DB unset),"
        " with the same DELETE_ORG_ENCRYPTION_KEY and DELETE_ORG_AUDIT_KEY; keep the SQLite"
        " file as a backup.",
        file=out,
    )
    return 0
