"""The append-only audit log: events that are not state changes, and reading it."""

from __future__ import annotations

from datetime import datetime

from bot.clock import from_iso
from storage.base import StoreBase
from storage.model import (
    AuditEvent,
)


class AuditStore(StoreBase):
    """Store operations on the audit log."""

    def record_event(
        self,
        now: datetime,
        event: str,
        *,
        workspace: str | None = None,
        actor_id: str | None = None,
        org_id: str | None = None,
        region: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
        coveo_request_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Append an audit event that is not a request state change (e.g. a refused request)."""
        with self._write() as db:
            self._audit(
                db,
                now,
                event,
                workspace=workspace,
                actor_id=actor_id,
                org_id=org_id,
                region=region,
                request_id=request_id,
                http_status=http_status,
                coveo_request_id=coveo_request_id,
                detail=detail,
            )

    def audit_events(self, request_id: str | None = None) -> list[AuditEvent]:
        """Return audit events in order, all of them or those of one request."""
        sql = "SELECT * FROM audit_events"
        params: list[str] = []
        if request_id is not None:
            sql += " WHERE request_id = ?"
            params.append(request_id)
        rows = self._db().execute(sql + " ORDER BY id", params).fetchall()
        return [
            AuditEvent(
                id=row[0],
                at=from_iso(row[1]),
                event=row[2],
                workspace=row[3],
                actor_id=row[4],
                request_id=row[5],
                org_id=row[6],
                region=row[7],
                from_state=row[8],
                to_state=row[9],
                http_status=row[10],
                coveo_request_id=row[11],
                detail=row[12],
            )
            for row in rows
        ]
