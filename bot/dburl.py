"""Checking a PostgreSQL URL (``DELETE_ORG_DATABASE_URL``, ``migrate-db --to``, ``audit --db``)
before anything connects with it, without ever echoing it: it may hold a password.

The URL is parsed by libpq itself (``PQconninfoParse`` through
:func:`psycopg.conninfo.conninfo_to_dict`; no connection is made), so what is accepted here is
what libpq will use, and libpq's own parse errors, which quote the offending part of the URL
(``invalid percent-encoded token: "<password>"``), are never shown: each is turned into advice
that names no part of the URL. The libpq URI form:
postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS.
"""

from __future__ import annotations

import re
from typing import TypeGuard
from urllib.parse import urlsplit

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
"""The two schemes libpq accepts for a URI."""


def is_postgres_url(location: object) -> TypeGuard[str]:
    """True when ``location`` (a store location: a SQLite path or a URL) names PostgreSQL,
    i.e. is a string starting with one of :data:`POSTGRES_SCHEMES`."""
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


ENCODE_HINT = (
    "percent-encode the reserved characters of the user name and password:"
    " @ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25, a space as %20"
)
"""What to do about a password that breaks the URL (shown instead of the URL)."""


def database_url_problem(raw: str, name: str = "DELETE_ORG_DATABASE_URL") -> str | None:
    """What is wrong with ``raw`` as a PostgreSQL URL, in words that quote no part of it, or
    ``None`` when libpq parses it into a host and a database. ``name`` is how the message
    names the setting (``DELETE_ORG_DATABASE_URL``, ``--to``).

    Refused: another scheme (``postgresql://`` or ``postgres://``, lower case), spaces or
    control characters, a port that is not a number from 1 to 65535, a URL libpq cannot parse
    (a ``%`` not followed by two hex digits, an unknown ``?parameter``), a host libpq would
    read with an ``@`` in it (an unencoded ``@`` in the password), no host or no database.
    Never raises.
    """
    shape = f"{name} must be a PostgreSQL URL such as postgresql://USER:PASSWORD@HOST:5432/DBNAME"
    if not raw.startswith(POSTGRES_SCHEMES):
        return f"{shape} (it must start with postgresql://)"
    if not raw.isprintable() or any(char.isspace() for char in raw):
        return f"{shape} (no spaces or control characters; {ENCODE_HINT})"
    try:
        port = urlsplit(raw).port
    except ValueError:
        port = -1
    if port == -1 or port == 0:
        return f"{shape} (the port must be a number from 1 to 65535; {ENCODE_HINT})"
    parsed = _libpq_parse(raw)
    if isinstance(parsed, str):
        return f"{shape} ({parsed})"
    hosts = parsed.get("host", "")
    if "@" in hosts:
        return f"{shape} (libpq reads an @ of the password as part of the host; {ENCODE_HINT})"
    if not hosts or not parsed.get("dbname", "").strip("/"):
        return f"{shape} (the host and the database name are required)"
    return None


def _libpq_parse(raw: str) -> dict[str, str] | str:
    """libpq's reading of ``raw`` (keyword → value), or why it cannot read it, in words of
    our own (libpq's message quotes the URL's text, possibly the password)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        return {key: str(value) for key, value in conninfo_to_dict(raw).items()}
    except psycopg.Error as error:
        reason = str(error)
    if "percent-encoded" in reason:
        return f"a % must start a percent-encoded byte such as %40; {ENCODE_HINT}"
    if "query parameter" in reason:
        # The parameter's name, when it is a plain word: never a value, so never the password.
        name = re.search(r'parameter: "([A-Za-z_]{1,40})"', reason)
        which = f' "{name.group(1)}"' if name else ""
        return (
            f"libpq does not know the ?parameter{which}; allowed are libpq's connection"
            " parameters such as sslmode, connect_timeout, application_name"
        )
    return f"libpq cannot parse it; {ENCODE_HINT}"
