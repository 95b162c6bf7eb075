"""Socket Mode envelopes already taken, so a redelivered envelope is handled once.

Slack may deliver an envelope again, with the same ``envelope_id`` and a higher
``retry_attempt``, when it saw no ack for it (slack_sdk 3.48.0 ``socket_mode/request.py``
documents ``retry_attempt``/``retry_reason`` for the Events API; the redelivery may reach
another connection, so another app process). Taking an envelope is one
``INSERT … ON CONFLICT (envelope_id) DO NOTHING`` on its primary key: across threads and across
processes sharing the database, exactly one caller gets ``first=True`` (SQLite: the write
transactions never overlap; PostgreSQL: a second insert of the same key waits for the first's
transaction, then inserts nothing). The ack that caller sent is stored encrypted
(Fernet, like response URLs: an ack may carry message text) so a redelivery gets the same
answer without the work being done again.

Bounded and expiring: rows older than :data:`ENVELOPE_KEEP` are purged, and at most
:data:`MAX_ENVELOPES` are kept (the oldest by ``received_at`` go first; rows received in the
very microsecond of the cut-off row are kept with it), both in the write that takes a new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.clock import to_iso
from storage.base import StoreBase

ENVELOPE_KEEP = timedelta(hours=1)
"""How long a taken envelope is remembered. Slack's retries of an unacknowledged delivery come
within minutes (immediately, then after about 1 and 5 minutes; secondary source, see
slack-notes §3 "Retries"), so an hour leaves a wide margin."""
MAX_ENVELOPES = 50_000
"""At most this many envelopes are remembered, whatever their age (oldest purged first)."""


@dataclass(frozen=True)
class EnvelopeClaim:
    """The result of :meth:`EnvelopeStore.claim_envelope`.

    ``first``: this caller took the envelope and must handle it. Otherwise it was taken before
    (a redelivery): ``acked`` tells whether the first handler recorded its ack, and
    ``ack_payload`` is that ack's ``payload`` object (None: an ack without payload).
    """

    first: bool
    acked: bool = False
    ack_payload: dict[str, Any] | None = None


class EnvelopeStore(StoreBase):
    """Store operations on Socket Mode envelopes (the ``socket_envelopes`` table)."""

    def claim_envelope(
        self, envelope_id: str, *, kind: str, instance_id: str, now: datetime
    ) -> EnvelopeClaim:
        """Take ``envelope_id`` (of envelope type ``kind``, e.g. ``slash_commands``) for the
        process ``instance_id`` at ``now`` (aware UTC), unless it was taken before.

        Raises:
            bot.crypto.DecryptionError: a redelivery whose recorded ack no configured key
                decrypts (the envelope is still taken: do not handle it again).
            StoreUnavailable: the database cannot be reached (PostgreSQL).
            sqlite3.Error, psycopg.Error: the database cannot be used otherwise.
        """
        with self._write() as db:
            db.execute(
                "DELETE FROM socket_envelopes WHERE received_at < ?", [to_iso(now - ENVELOPE_KEEP)]
            )
            cursor = db.execute(
                "INSERT INTO socket_envelopes (envelope_id, received_at, instance_id, kind)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (envelope_id) DO NOTHING",
                [envelope_id, to_iso(now), instance_id, kind],
            )
            if cursor.rowcount == 1:
                # Everything received before the MAX_ENVELOPES-th newest (nothing while fewer):
                # the sub-select walks the received_at index only (a sort by a second column
                # took 70 ms a claim at 50,000 rows; this takes 2-3 ms).
                db.execute(
                    "DELETE FROM socket_envelopes WHERE received_at < (SELECT received_at"
                    " FROM socket_envelopes ORDER BY received_at DESC LIMIT 1 OFFSET ?)",
                    [MAX_ENVELOPES - 1],
                )
                return EnvelopeClaim(first=True)
            acked_at, ack_encrypted = db.execute(
                "SELECT acked_at, ack_encrypted FROM socket_envelopes WHERE envelope_id = ?",
                [envelope_id],
            ).fetchone()
        if acked_at is None:
            return EnvelopeClaim(first=False)
        payload = None if ack_encrypted is None else json.loads(self._cipher.decrypt(ack_encrypted))
        return EnvelopeClaim(first=False, acked=True, ack_payload=payload)

    def record_envelope_ack(
        self, envelope_id: str, payload: dict[str, Any] | None, now: datetime
    ) -> None:
        """Remember the ack sent for ``envelope_id`` at ``now``: its ``payload`` object (None
        for an ack without payload), stored encrypted.

        Raises:
            StoreUnavailable: the database cannot be reached (PostgreSQL).
            sqlite3.Error, psycopg.Error: the database cannot be used otherwise.
        """
        encrypted = None if payload is None else self._cipher.encrypt(json.dumps(payload))
        with self._write() as db:
            db.execute(
                "UPDATE socket_envelopes SET acked_at = ?, ack_encrypted = ? WHERE envelope_id = ?",
                [to_iso(now), encrypted, envelope_id],
            )
