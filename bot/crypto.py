"""Encryption at rest for linked Coveo access tokens (Fernet, with key rotation)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.logfields import log_fields

logger = logging.getLogger(__name__)


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key (key lost or rotated out)."""


class TokenCipher:
    """Encrypts and decrypts short secrets with ``cryptography``'s Fernet.

    ``keys`` are Fernet keys: the first encrypts, every key decrypts (rotation: put the new key
    first, keep the old ones until :meth:`needs_rotation` is false for every row).
    """

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("TokenCipher needs at least one Fernet key")
        self._primary = Fernet(keys[0])
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        """Return the Fernet token (URL-safe text) for ``plaintext``, using the first key."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """Return the plaintext of ``ciphertext``.

        Raises:
            DecryptionError: no configured key decrypts it. The message never contains the data.
        """
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as error:
            raise DecryptionError(
                "stored secret cannot be decrypted with the configured keys"
            ) from error

    def rotate(self, ciphertext: str) -> str:
        """``ciphertext`` re-encrypted with the first key (``MultiFernet.rotate``: the original
        timestamp is kept; cryptography.io/en/latest/fernet/#cryptography.fernet.MultiFernet).

        Raises:
            DecryptionError: no configured key decrypts it.
        """
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as error:
            raise DecryptionError(
                "stored secret cannot be decrypted with the configured keys"
            ) from error

    def needs_rotation(self, ciphertext: str) -> bool:
        """True when ``ciphertext`` was not made with the current first key."""
        try:
            self._primary.decrypt(ciphertext.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            return True
        return False


def load_or_create_key_file(path: Path) -> str:
    """Return the Fernet key stored in ``path``, creating the file (mode 0600) if it is missing.

    Used only when ``DELETE_ORG_ENCRYPTION_KEY`` is unset, and logs a warning each start, because
    a key kept beside the database protects little: production should set the variable.

    Raises:
        OSError: the file cannot be read or created.
        ValueError: the file exists but does not hold a Fernet key.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        try:
            Fernet(key)
        except ValueError as error:
            raise ValueError(f"{path} does not hold a Fernet key") from error
    else:
        key = Fernet.generate_key().decode("ascii")
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
    logger.warning(
        "DELETE_ORG_ENCRYPTION_KEY is not set: using the generated key file %s. "
        "In production set DELETE_ORG_ENCRYPTION_KEY (keep it apart from the database).",
        path,
        extra=log_fields("key_file_in_use"),
    )
    return key
