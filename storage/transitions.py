"""The state machine of a deletion request: every change is one compare-and-set
``UPDATE ... WHERE state = ?`` with its audit row, in one transaction (on both backends)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.clock import to_iso
from storage.base import StoreBase
from storage.dialect import CAPS_LOCK_KEY
from storage.model import (
    AWAITING_APPROVAL,
    CANCELLED,
    DELETED,
    DELETING,
    EXPIRED,
    FAILED,
    PENDING,
    REJECTED,
    UNKNOWN,
    DeletionRequest,
)


class TransitionStore(StoreBase):
    """Store operations that move a deletion request from one state to the next."""

    def _transition(
        self,
        request_id: str,
        *,
        from_state: str,
        to_state: str,
        now: datetime,
        actor_id: str,
        event: str,
        extra_where: str = "",
        extra_params: Sequence[Any] = (),
        sets: dict[str, Any] | None = None,
        detail: str | None = None,
        serialise: int | None = None,
    ) -> DeletionRequest | None:
        """Compare-and-set: move ``from_state`` → ``to_state`` only if the row is still in
        ``from_state`` (and ``extra_where`` holds). Returns the updated request, or None when
        another actor got there first. The audit row is written in the same transaction.

        On PostgreSQL (READ COMMITTED) a concurrent ``UPDATE`` of the same row waits for the
        first to commit, then re-checks ``state = from_state`` on the committed row: one wins.
        ``serialise`` (an advisory lock key) is taken first when ``extra_where`` counts other
        rows (the caps), which that re-check does not cover."""
        assignments = {"state": to_state, "updated_at": to_iso(now), **(sets or {})}
        set_sql = ", ".join(f"{name} = ?" for name in assignments)
        with self._write() as db:
            if serialise is not None:
                self._dialect.serialise(db, serialise)
            cursor = db.execute(
                f"UPDATE deletion_requests SET {set_sql} WHERE id = ? AND state = ?{extra_where}"  # noqa: S608
                " RETURNING org_id, region, workspace",
                [*assignments.values(), request_id, from_state, *extra_params],
            )
            row = cursor.fetchone()
            cursor.fetchall()
            if row is None:
                return None
            self._audit(
                db,
                now,
                event,
                workspace=row[2],
                actor_id=actor_id,
                request_id=request_id,
                org_id=row[0],
                region=row[1],
                from_state=from_state,
                to_state=to_state,
                http_status=assignments.get("http_status"),
                coveo_request_id=assignments.get("coveo_request_id"),
                detail=detail,
            )
        return self.get_request(request_id)

    @staticmethod
    def _limits_sql(
        limits: Sequence[tuple[int, datetime, str | None]],
    ) -> tuple[str, list[Any]]:
        """``AND`` clauses that hold only while every ``(limit, since, requester)`` cap has
        room: counted in the same statement as the state change, so racing confirmations
        cannot both slip under a cap (SQLite: the file's write lock; PostgreSQL: the caller
        holds the advisory lock ``CAPS_LOCK_KEY``, so the counts see every committed attempt)."""
        sql = ""
        params: list[Any] = []
        for limit, since, requester in limits:
            sql += " AND (SELECT COUNT(*) FROM deletion_requests WHERE attempted_at >= ?"
            params.append(to_iso(since))
            if requester is not None:
                sql += " AND requester_id = ?"
                params.append(requester)
            sql += ") < ?"
            params.append(limit)
        return sql, params

    def start_deletion(
        self,
        request_id: str,
        actor_id: str,
        now: datetime,
        *,
        owner: str | None = None,
        limits: Sequence[tuple[int, datetime, str | None]] = (),
    ) -> DeletionRequest | None:
        """pending → deleting, only for the requester and only before the deadline.

        Recorded (with ``attempted_at``) before any ``DELETE`` is sent. None: not pending any
        more, past its deadline, ``actor_id`` is not the requester, or a cap in ``limits``
        (``(limit, since, requester or None)``) is full.
        """
        caps_sql, caps_params = self._limits_sql(limits)
        return self._transition(
            request_id,
            from_state=PENDING,
            to_state=DELETING,
            now=now,
            actor_id=actor_id,
            event="confirmed",
            extra_where=" AND requester_id = ? AND expires_at > ?" + caps_sql,
            extra_params=(actor_id, to_iso(now), *caps_params),
            sets={
                "decided_by": actor_id,
                "decided_at": to_iso(now),
                "attempted_at": to_iso(now),
                "owner": owner,
            },
            serialise=CAPS_LOCK_KEY if limits else None,
        )

    def cancel(self, request_id: str, actor_id: str, now: datetime) -> DeletionRequest | None:
        """pending → cancelled by the requester. None if it is no longer pending or not theirs."""
        return self._transition(
            request_id,
            from_state=PENDING,
            to_state=CANCELLED,
            now=now,
            actor_id=actor_id,
            event="cancelled",
            extra_where=" AND requester_id = ?",
            extra_params=(actor_id,),
            sets={"decided_by": actor_id, "decided_at": to_iso(now)},
        )

    def abandon(self, request_id: str, now: datetime, reason: str) -> DeletionRequest | None:
        """pending → cancelled by the app itself (e.g. the card could not be shown anywhere)."""
        return self._transition(
            request_id,
            from_state=PENDING,
            to_state=CANCELLED,
            now=now,
            actor_id="system",
            event="abandoned",
            detail=reason,
        )

    def expire(self, request_id: str, now: datetime) -> DeletionRequest | None:
        """pending → expired, only once the deadline has passed. None otherwise."""
        return self._transition(
            request_id,
            from_state=PENDING,
            to_state=EXPIRED,
            now=now,
            actor_id="system",
            event="expired",
            extra_where=" AND expires_at <= ?",
            extra_params=(to_iso(now),),
        )

    def finish(
        self,
        request_id: str,
        *,
        outcome: str,
        now: datetime,
        actor_id: str,
        http_status: int | None,
        coveo_request_id: str | None,
        error_code: str | None = None,
        error_detail: str | None = None,
    ) -> DeletionRequest | None:
        """deleting → ``outcome`` (deleted, failed or unknown), with Coveo's answer."""
        if outcome not in (DELETED, FAILED, UNKNOWN):
            raise ValueError(f"not a final deletion outcome: {outcome}")
        return self._transition(
            request_id,
            from_state=DELETING,
            to_state=outcome,
            now=now,
            actor_id=actor_id,
            event=outcome,
            sets={
                "http_status": http_status,
                "coveo_request_id": coveo_request_id,
                "error_code": error_code,
                "error_detail": error_detail,
            },
            detail=error_detail,
        )

    def await_approval(
        self,
        request_id: str,
        actor_id: str,
        now: datetime,
        *,
        reason: str,
        approval_deadline: datetime,
    ) -> DeletionRequest | None:
        """pending → awaiting_approval: the requester confirmed (before the card's deadline) an
        organization that needs a second approver; ``reason`` is shown to approvers."""
        return self._transition(
            request_id,
            from_state=PENDING,
            to_state=AWAITING_APPROVAL,
            now=now,
            actor_id=actor_id,
            event="confirmed_awaiting_approval",
            extra_where=" AND requester_id = ? AND expires_at > ?",
            extra_params=(actor_id, to_iso(now)),
            sets={
                "decided_by": actor_id,
                "decided_at": to_iso(now),
                "reason": reason,
                "approval_expires_at": to_iso(approval_deadline),
            },
            detail=f"reason: {reason}"[:500],
        )

    def approve(
        self,
        request_id: str,
        approver_id: str,
        now: datetime,
        *,
        owner: str | None = None,
        limits: Sequence[tuple[int, datetime, str | None]] = (),
    ) -> DeletionRequest | None:
        """awaiting_approval → deleting, by someone other than the requester, before the
        approval deadline, while every cap in ``limits`` has room. Recorded before any
        ``DELETE`` is sent."""
        caps_sql, caps_params = self._limits_sql(limits)
        return self._transition(
            request_id,
            from_state=AWAITING_APPROVAL,
            to_state=DELETING,
            now=now,
            actor_id=approver_id,
            event="approved",
            extra_where=" AND requester_id != ? AND approval_expires_at > ?" + caps_sql,
            extra_params=(approver_id, to_iso(now), *caps_params),
            sets={"approver_id": approver_id, "attempted_at": to_iso(now), "owner": owner},
            serialise=CAPS_LOCK_KEY if limits else None,
        )

    def reject(self, request_id: str, approver_id: str, now: datetime) -> DeletionRequest | None:
        """awaiting_approval → rejected, by someone other than the requester."""
        return self._transition(
            request_id,
            from_state=AWAITING_APPROVAL,
            to_state=REJECTED,
            now=now,
            actor_id=approver_id,
            event="rejected",
            extra_where=" AND requester_id != ?",
            extra_params=(approver_id,),
            sets={"approver_id": approver_id},
        )

    def withdraw(self, request_id: str, actor_id: str, now: datetime) -> DeletionRequest | None:
        """awaiting_approval → cancelled by the requester."""
        return self._transition(
            request_id,
            from_state=AWAITING_APPROVAL,
            to_state=CANCELLED,
            now=now,
            actor_id=actor_id,
            event="cancelled",
            extra_where=" AND requester_id = ?",
            extra_params=(actor_id,),
        )

    def expire_approval(self, request_id: str, now: datetime) -> DeletionRequest | None:
        """awaiting_approval → expired, once the approval deadline has passed."""
        return self._transition(
            request_id,
            from_state=AWAITING_APPROVAL,
            to_state=EXPIRED,
            now=now,
            actor_id="system",
            event="approval_expired",
            extra_where=" AND approval_expires_at <= ?",
            extra_params=(to_iso(now),),
        )
