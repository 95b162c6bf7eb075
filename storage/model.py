"""Records, states and the exception tree of the store.

Exception tree::

    StorageError
    ├── LinkUnreadable        a stored token cannot be decrypted (encryption key changed)
    ├── LiveRequestExists     the organization already has a pending or running request
    ├── SchemaTooNew          the database was migrated by a newer version of the app
    └── StoreUnavailable      the database cannot be reached or read now (server down, file gone)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.clock import from_iso

PENDING = "pending"


DELETING = "deleting"


DELETED = "deleted"


FAILED = "failed"


UNKNOWN = "unknown"


CANCELLED = "cancelled"


EXPIRED = "expired"


AWAITING_APPROVAL = "awaiting_approval"


REJECTED = "rejected"


LIVE_STATES = (PENDING, AWAITING_APPROVAL, DELETING)


FINAL_STATES = (DELETED, FAILED, UNKNOWN, CANCELLED, EXPIRED, REJECTED)


ATTEMPTED_STATES = (DELETING, DELETED, FAILED, UNKNOWN)


class StorageError(Exception):
    """Base class of the errors this module raises on purpose."""


class LinkUnreadable(StorageError):
    """The user's stored token cannot be decrypted with the configured keys; they must relink."""


class LiveRequestExists(StorageError):
    """The organization already has a live request; ``existing`` is that request."""

    def __init__(self, existing: DeletionRequest) -> None:
        super().__init__(f"organization {existing.org_id} already has a live request")
        self.existing = existing


class SchemaTooNew(StorageError):
    """The database records migration steps this version does not know (``unknown``, in
    order): it was migrated by a newer version, whose schema this one must not touch."""

    def __init__(self, where: object, unknown: list[str]) -> None:
        super().__init__(
            f"the database {where} was migrated by a newer version of delete-org-bot (unknown"
            f" schema step {', '.join(unknown)}): run that version, or a newer one, not this one"
        )
        self.unknown = unknown


class ForeignTable(StorageError):
    """The PostgreSQL database already has a table (or index) of a name the app's schema
    creates, that the app's migrations did not record: most likely another application's
    database. Nothing was changed (the migration's transaction is rolled back)."""

    def __init__(self, where: object, what: str) -> None:
        super().__init__(
            f"the database {where} already has {what}, not made by delete-org-bot (another"
            " application's database?): nothing was changed; give delete-org-bot a database of"
            " its own (CREATE DATABASE delorg OWNER <user>) and point DELETE_ORG_DATABASE_URL"
            " at it"
        )


class StoreUnavailable(StorageError):
    """The database cannot be used now: the PostgreSQL server is unreachable or refused the
    login, or (readiness probe) the SQLite file is gone, locked, unreadable or not a database.
    The message says what to check, naming the database with its password redacted; never
    the password."""


@dataclass(frozen=True)
class Link:
    """A Slack user's linked Coveo access token. ``token`` is decrypted and hidden from repr.

    Times are aware UTC; ``expires_at`` is None when Coveo did not report an expiry.
    ``status`` is ``active`` or ``invalid`` (Coveo refused the token since it was linked).
    ``auth_kind`` is ``pasted`` (the link form) or ``oauth`` (Sign in with Coveo);
    ``refreshable`` is True when a refresh token is stored (read it with
    ``Store.oauth.read_refresh_token``).
    """

    workspace: str
    user_id: str
    token: str = field(repr=False)
    region: str
    coveo_username: str
    coveo_email: str | None
    linked_at: datetime
    expires_at: datetime | None
    status: str
    auth_kind: str = "pasted"
    refreshable: bool = False

    @property
    def usable(self) -> bool:
        """True while the link has not been marked invalid."""
        return self.status == "active"


@dataclass(frozen=True)
class DeletionRequest:
    """One ``/delete-org`` request and where it stands.

    ``state``: pending → deleting → deleted | failed | unknown; pending → cancelled | expired.
    ``delivery`` is ``channel`` (card posted with chat.postMessage, ``card_ts`` known) or
    ``response_url`` (card posted through the command's response_url). Times are aware UTC.
    """

    id: str
    workspace: str
    team_id: str | None
    requester_id: str
    channel_id: str
    org_id: str
    org_name: str | None
    org_type: str | None
    region: str
    state: str
    created_at: datetime
    expires_at: datetime
    updated_at: datetime
    card_ts: str | None
    delivery: str
    response_url: str | None = field(repr=False)
    decided_by: str | None
    decided_at: datetime | None
    attempted_at: datetime | None
    http_status: int | None
    coveo_request_id: str | None
    error_code: str | None
    error_detail: str | None
    owner: str | None = None
    reason: str | None = None
    approval_expires_at: datetime | None = None
    approver_id: str | None = None
    org_product_type: str | None = None


@dataclass(frozen=True)
class OutboxItem:
    """A Slack delivery waiting to be made: ``kind`` is ``card`` (update the card) or ``thread``
    (reply in its thread). ``attempts`` counts tries so far; times are aware UTC."""

    id: int
    request_id: str
    kind: str
    text: str
    blocks: list[dict[str, Any]] | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


@dataclass(frozen=True)
class AuditEvent:
    """One row of the append-only audit log (``at`` is aware UTC)."""

    id: int
    at: datetime
    event: str
    workspace: str | None
    actor_id: str | None
    request_id: str | None
    org_id: str | None
    region: str | None
    from_state: str | None
    to_state: str | None
    http_status: int | None
    coveo_request_id: str | None
    detail: str | None


def optional_time(value: str | None) -> datetime | None:
    """An ISO 8601 UTC text as an aware datetime; None stays None."""
    return from_iso(value) if value else None
