"""The one clock of the app: timezone-aware UTC, so freezegun can drive every expiry."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as a timezone-aware ``datetime`` in UTC.

    Every timestamp the app stores or compares comes from here, never from
    ``datetime.now()`` elsewhere, so tests can pin time with ``freezegun``.
    """
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """Format ``moment`` as ISO 8601 in UTC with microseconds and an explicit ``+00:00`` offset.

    The fixed width makes stored values sort and compare correctly as text in SQLite.

    Raises:
        ValueError: if ``moment`` is naive (has no timezone).
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time in this app must be timezone-aware UTC")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(text: str) -> datetime:
    """Parse a value written by :func:`to_iso` back into an aware UTC ``datetime``.

    Raises:
        ValueError: if the text is not ISO 8601 or carries no offset.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"stored time without an offset: {text!r}")
    return moment.astimezone(UTC)
