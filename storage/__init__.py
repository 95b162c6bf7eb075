"""Persistent state of the app: linked tokens, deletion requests and the audit log."""

from storage.health import SchemaStatus
from storage.model import (
    ATTEMPTED_STATES,
    AWAITING_APPROVAL,
    CANCELLED,
    DELETED,
    DELETING,
    EXPIRED,
    FAILED,
    FINAL_STATES,
    LIVE_STATES,
    PENDING,
    REJECTED,
    UNKNOWN,
    AuditEvent,
    DeletionRequest,
    Link,
    LinkUnreadable,
    LiveRequestExists,
    OutboxItem,
    StorageError,
    StorageUnavailable,
)
from storage.oauth import SignIn, StateRefused
from storage.store import Store

__all__ = [
    "ATTEMPTED_STATES",
    "AWAITING_APPROVAL",
    "REJECTED",
    "CANCELLED",
    "DELETED",
    "DELETING",
    "EXPIRED",
    "FAILED",
    "FINAL_STATES",
    "LIVE_STATES",
    "PENDING",
    "UNKNOWN",
    "AuditEvent",
    "DeletionRequest",
    "Link",
    "LinkUnreadable",
    "LiveRequestExists",
    "OutboxItem",
    "SchemaStatus",
    "SignIn",
    "StateRefused",
    "StorageError",
    "StorageUnavailable",
    "Store",
]
