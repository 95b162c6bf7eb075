"""Persistent state of the app: linked tokens, deletion requests and the audit log."""

from storage.ack_wait import ack_path
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
    SchemaTooNew,
    StorageError,
    StoreUnavailable,
)
from storage.oauth import SignIn, StateRefused
from storage.store import Store, open_store

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
    "ack_path",
    "AuditEvent",
    "DeletionRequest",
    "Link",
    "LinkUnreadable",
    "LiveRequestExists",
    "OutboxItem",
    "SchemaStatus",
    "SchemaTooNew",
    "SignIn",
    "StateRefused",
    "StorageError",
    "Store",
    "StoreUnavailable",
    "open_store",
]
