"""Key rotation at rest: re-encrypt every stored secret with the first configured key.

Used by ``delete-org-bot rotate-key``. A new encrypted column must be added to
:data:`ENCRYPTED_COLUMNS`, or rotation would report the old key removable while it still
holds data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.crypto import DecryptionError, TokenCipher
from storage.store import Store

ENCRYPTED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("links", "token_encrypted", "linked Coveo tokens"),
    ("links", "refresh_token_encrypted", "Coveo refresh tokens"),
    ("oauth_states", "response_url_encrypted", "sign-in response URLs"),
    ("deletion_requests", "response_url_encrypted", "Slack response URLs"),
    ("socket_envelopes", "ack_encrypted", "Socket Mode acks"),
)
"""(table, column, what it holds) of every Fernet-encrypted column."""
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "links": ("workspace", "user_id"),
    "deletion_requests": ("id",),
    "oauth_states": ("state_hash",),
    "socket_envelopes": ("envelope_id",),
}
"""Primary key of each table of :data:`ENCRYPTED_COLUMNS` (rows are rewritten by key)."""


@dataclass
class RotationReport:
    """What :func:`rotate_secrets` did. Counts are of non-empty encrypted values.

    ``by_column`` maps "what it holds" to ``(re-encrypted, already current, unreadable)``.
    ``remaining`` counts readable values found still under an old key by a check after the
    pass (written meanwhile by an app process whose first key is still the old one).
    """

    by_column: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    remaining: int = 0

    @property
    def rotated(self) -> int:
        """Values re-encrypted with the first key by this pass."""
        return sum(r for r, _, _ in self.by_column.values())

    @property
    def unreadable(self) -> int:
        """Values no configured key decrypts (their users must relink)."""
        return sum(u for _, _, u in self.by_column.values())

    @property
    def old_keys_removable(self) -> bool:
        """True when every readable value now uses the first key: the other keys can be
        removed from ``DELETE_ORG_ENCRYPTION_KEY`` (once every app process runs with the new
        key first, or it would write with the old one again)."""
        return self.remaining == 0


def rotate_secrets(store: Store) -> RotationReport:
    """Re-encrypt every value of :data:`ENCRYPTED_COLUMNS` that was not made with the store's
    first key, one table per write transaction (on either backend); each row, found by its
    primary key, is rewritten only if it still holds the value read (compare-and-set). Then
    every column is checked again (``remaining``).

    Returns the :class:`RotationReport`. Raises the backend's error (``sqlite3.Error``,
    ``psycopg.Error``) on database failures.
    """
    report = RotationReport()
    cipher = store._cipher  # noqa: SLF001 - the storage package's own cipher
    for table, column, label in ENCRYPTED_COLUMNS:
        rotated = current = unreadable = 0
        key = TABLE_KEYS[table]
        with store._write() as db:  # noqa: SLF001 - a write transaction of the same package
            rows = db.execute(
                f"SELECT {', '.join(key)}, {column} FROM {table}"  # noqa: S608 - names from the constants above
                f" WHERE {column} IS NOT NULL AND {column} != ''"
            ).fetchall()
            match = " AND ".join(f"{name} = ?" for name in key)
            for *row_key, value in rows:
                if not cipher.needs_rotation(value):
                    current += 1
                    continue
                try:
                    fresh = cipher.rotate(value)
                except DecryptionError:
                    unreadable += 1
                    continue
                cursor = db.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {match} AND {column} = ?",  # noqa: S608
                    [fresh, *row_key, value],
                )
                rotated += cursor.rowcount
        report.by_column[label] = (rotated, current, unreadable)
    for table, column, _ in ENCRYPTED_COLUMNS:
        values = store._db().execute(  # noqa: SLF001
            f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL AND {column} != ''"  # noqa: S608
        )
        report.remaining += sum(
            1 for (value,) in values if cipher.needs_rotation(value) and _readable(cipher, value)
        )
    return report


def _readable(cipher: TokenCipher, value: str) -> bool:
    try:
        cipher.decrypt(value)
    except DecryptionError:
        return False
    return True
