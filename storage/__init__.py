"""Persistent state of the app: linked tokens, deletion requests and the audit log."""

from storage.store import (
    CANCELLED,
    DELETED,
    DELETING,
    EXPIRED,
    FAILED,
    FINAL_STATES,
    LIVE_STATES,
    PENDING,
    UNKNOWN,
    AuditEvent,
    DeletionRequest,
    Link,
    LinkUnreadable,
    LiveRequestExists,
    StorageError,
    Store,
)

__all__ = [
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
    "StorageError",
    "Store",
]
