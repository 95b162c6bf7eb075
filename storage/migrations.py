"""Schema of the app's SQLite database, as an ordered ``sqlite_utils`` migration set."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("delete_org_bot")


@migrations()
def m001_initial(db: Database) -> None:
    """Links, deletion requests (a state machine) and the append-only audit log.

    Times are ISO 8601 text in UTC with an explicit ``+00:00`` offset (``bot.clock.to_iso``).
    """
    db.table("links").create(
        {
            "workspace": str,
            "user_id": str,
            "token_encrypted": str,
            "region": str,
            "coveo_username": str,
            "coveo_email": str,
            "linked_at": str,
            "expires_at": str,
            "status": str,
            "invalid_since": str,
        },
        pk=("workspace", "user_id"),
        not_null={"token_encrypted", "region", "coveo_username", "linked_at", "status"},
    )
    db.table("deletion_requests").create(
        {
            "id": str,
            "workspace": str,
            "team_id": str,
            "requester_id": str,
            "channel_id": str,
            "org_id": str,
            "org_name": str,
            "org_type": str,
            "region": str,
            "state": str,
            "created_at": str,
            "expires_at": str,
            "updated_at": str,
            "card_ts": str,
            "delivery": str,
            "response_url_encrypted": str,
            "decided_by": str,
            "decided_at": str,
            "attempted_at": str,
            "http_status": int,
            "coveo_request_id": str,
            "error_code": str,
            "error_detail": str,
        },
        pk="id",
        not_null={
            "workspace",
            "requester_id",
            "channel_id",
            "org_id",
            "region",
            "state",
            "created_at",
            "expires_at",
            "updated_at",
            "delivery",
        },
    )
    # At most one live (pending or deleting) request per organization and region: a second
    # /delete-org for the same organization points at the first card instead.
    db.execute(
        "CREATE UNIQUE INDEX idx_requests_one_live_per_org ON deletion_requests (org_id, region) "
        "WHERE state IN ('pending', 'deleting')"
    )
    db.execute(
        "CREATE INDEX idx_requests_pending_deadline ON deletion_requests (expires_at) "
        "WHERE state = 'pending'"
    )
    db.table("audit_events").create(
        {
            "id": int,
            "at": str,
            "event": str,
            "workspace": str,
            "actor_id": str,
            "request_id": str,
            "org_id": str,
            "region": str,
            "from_state": str,
            "to_state": str,
            "http_status": int,
            "coveo_request_id": str,
            "detail": str,
        },
        pk="id",
        not_null={"at", "event"},
    )
    db.table("audit_events").create_index(["request_id"])
    # The audit log is append-only: the database itself refuses edits and deletions.
    db.execute(
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
    )
    db.execute(
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
    )


@migrations()
def m002_outbox_and_instances(db: Database) -> None:
    """A persisted outbox for Slack deliveries, and the app processes that own running work.

    ``outbox.status``: pending → sent | superseded | dead. ``instances`` rows let one process
    tell whether a request left in ``deleting`` belongs to a live process (its PID on the same
    host, and a recent heartbeat) or to one that crashed.
    """
    db.table("outbox").create(
        {
            "id": int,
            "request_id": str,
            "kind": str,
            "text": str,
            "blocks_json": str,
            "status": str,
            "attempts": int,
            "next_attempt_at": str,
            "claimed_by": str,
            "claimed_until": str,
            "created_at": str,
            "updated_at": str,
            "last_error": str,
        },
        pk="id",
        not_null={"request_id", "kind", "text", "status", "attempts", "next_attempt_at"},
    )
    db.execute("CREATE INDEX idx_outbox_due ON outbox (next_attempt_at) WHERE status = 'pending'")
    db.table("instances").create(
        {
            "id": str,
            "hostname": str,
            "pid": int,
            "started_at": str,
            "heartbeat_at": str,
            "stopped_at": str,
        },
        pk="id",
        not_null={"hostname", "pid", "started_at", "heartbeat_at"},
    )
    db.table("deletion_requests").add_column("owner", str)
    db.execute(
        "CREATE INDEX idx_requests_deleting ON deletion_requests (attempted_at) "
        "WHERE state = 'deleting'"
    )


@migrations()
def m003_guardrails(db: Database) -> None:
    """Second approver and freeze: the ``awaiting_approval`` state (live, one per organization),
    its deadline, the requester's reason and the approver; a one-row ``freeze`` table."""
    table = db.table("deletion_requests")
    table.add_column("reason", str)
    table.add_column("approval_expires_at", str)
    table.add_column("approver_id", str)
    table.add_column("org_product_type", str)
    db.execute("DROP INDEX idx_requests_one_live_per_org")
    db.execute(
        "CREATE UNIQUE INDEX idx_requests_one_live_per_org ON deletion_requests (org_id, region) "
        "WHERE state IN ('pending', 'awaiting_approval', 'deleting')"
    )
    db.execute(
        "CREATE INDEX idx_requests_approval_deadline ON deletion_requests (approval_expires_at) "
        "WHERE state = 'awaiting_approval'"
    )
    db.table("freeze").create(
        {"id": int, "frozen": int, "reason": str, "by_user": str, "since": str},
        pk="id",
        not_null={"frozen"},
    )


@migrations()
def m004_attempts_index(db: Database) -> None:
    """Index of attempt times: the caps are counted inside the write that starts a deletion."""
    db.execute(
        "CREATE INDEX idx_requests_attempted ON deletion_requests (attempted_at, requester_id) "
        "WHERE attempted_at IS NOT NULL"
    )


@migrations()
def m005_issue10_oauth(db: Database) -> None:
    """Sign in with Coveo: pending sign-ins (``oauth_states``, keyed by the SHA-256 of the
    random ``state``, never the state itself) and, on ``links``, the encrypted refresh token,
    how the link was made (``pasted`` or ``oauth``) and the refresh lock (owner and lease end)
    that lets one thread of one process refresh a link at a time."""
    db.table("oauth_states").create(
        {
            "state_hash": str,
            "workspace": str,
            "team_id": str,
            "user_id": str,
            "region": str,
            "channel_id": str,
            "response_url_encrypted": str,
            "created_at": str,
            "expires_at": str,
            "used_at": str,
        },
        pk="state_hash",
        not_null={"workspace", "user_id", "region", "created_at", "expires_at"},
    )
    db.table("oauth_states").create_index(["created_at"])
    links = db.table("links")
    links.add_column("refresh_token_encrypted", str)
    links.add_column("auth_kind", str)
    links.add_column("refresh_lock_owner", str)
    links.add_column("refresh_lock_until", str)


@migrations()
def m006_issue12_audit_chain(db: Database) -> None:
    """Hash-chain the audit log from here on (``storage.audit_chain``): ``prev_hash`` and ``hash``
    per row, and the one-row ``audit_chain`` table with the chain's head and the seal (a
    SHA-256 chain) over the rows written before it, so those cannot be edited unseen either."""
    from storage.audit_chain import AUDIT_FIELDS, seal_rows

    table = db.table("audit_events")
    table.add_column("prev_hash", str)
    table.add_column("hash", str)
    table.create_index(["event"], if_not_exists=True)
    anchor = db.execute("SELECT COALESCE(MAX(id), 0) FROM audit_events").fetchone()[0]
    cols = ", ".join(("id", *AUDIT_FIELDS))
    seal = seal_rows(db.execute(f"SELECT {cols} FROM audit_events ORDER BY id"))  # noqa: S608
    db.table("audit_chain").create(
        {"id": int, "anchor_id": int, "seal_hash": str, "head_id": int, "head_hash": str},
        pk="id",
        not_null={"anchor_id", "seal_hash", "head_id", "head_hash"},
    )
    db.execute(
        "INSERT INTO audit_chain (id, anchor_id, seal_hash, head_id, head_hash) "
        "VALUES (1, ?, ?, ?, ?)",
        (anchor, seal, anchor, seal),
    )


@migrations()
def m007_i14b_socket_envelopes(db: Database) -> None:
    """Socket Mode envelopes already taken by an app process (``storage.envelopes``): one row
    per ``envelope_id``, so a redelivered envelope is handled once across every process sharing
    the file. ``ack_encrypted`` is the ack payload sent (Fernet), re-sent on a redelivery.
    Rows are purged an hour after ``received_at``."""
    db.table("socket_envelopes").create(
        {
            "envelope_id": str,
            "received_at": str,
            "instance_id": str,
            "kind": str,
            "acked_at": str,
            "ack_encrypted": str,
        },
        pk="envelope_id",
        not_null={"received_at", "instance_id", "kind"},
    )
    db.table("socket_envelopes").create_index(["received_at"])


@migrations()
def m008_i14a_response_url_uses(db: Database) -> None:
    """Budget of each Slack response_url (30 minutes, 5 posts; ``handlers.response_url``):
    when the app received it and how many posts it made through it. Keyed by the URL's
    SHA-256 (the URL itself is a secret and is never stored here)."""
    db.table("response_url_uses").create(
        {"url_hash": str, "received_at": str, "uses": int},
        pk="url_hash",
        not_null={"received_at", "uses"},
    )
    db.table("response_url_uses").create_index(["received_at"])
