"""Unit tests of ``bot.crypto``: Fernet encryption at rest, key rotation, the key file."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.crypto import DecryptionError, TokenCipher, load_or_create_key_file

SECRET = "xx590a182c-SECRET-TOKEN-4914-a00b-1f4099581b3e"


def _key() -> str:
    return Fernet.generate_key().decode()


@pytest.mark.parametrize("plaintext", [SECRET, "", "é✓ unicode \U0001f511", "x" * 5000])
def test_roundtrip(plaintext: str) -> None:
    cipher = TokenCipher([_key()])
    ciphertext = cipher.encrypt(plaintext)
    assert isinstance(ciphertext, str)
    assert ciphertext.isascii()
    assert cipher.decrypt(ciphertext) == plaintext


def test_ciphertext_hides_the_plaintext() -> None:
    cipher = TokenCipher([_key()])
    ciphertext = cipher.encrypt(SECRET)
    assert SECRET not in ciphertext
    assert "SECRET" not in ciphertext
    assert ciphertext != SECRET


def test_encryption_is_randomised() -> None:
    cipher = TokenCipher([_key()])
    assert cipher.encrypt(SECRET) != cipher.encrypt(SECRET)


def test_rotation_old_key_second_still_decrypts() -> None:
    old, new = _key(), _key()
    before = TokenCipher([old]).encrypt(SECRET)
    rotated = TokenCipher([new, old])

    assert rotated.decrypt(before) == SECRET
    assert rotated.needs_rotation(before) is True

    after = rotated.encrypt(SECRET)
    assert rotated.needs_rotation(after) is False
    # the new first key encrypts: the old key alone cannot read it
    with pytest.raises(DecryptionError):
        TokenCipher([old]).decrypt(after)
    assert TokenCipher([new]).decrypt(after) == SECRET


def test_needs_rotation_false_for_current_key() -> None:
    cipher = TokenCipher([_key(), _key()])
    assert cipher.needs_rotation(cipher.encrypt(SECRET)) is False


def test_unknown_key_raises_decryption_error_without_data() -> None:
    ciphertext = TokenCipher([_key()]).encrypt(SECRET)
    other = TokenCipher([_key()])
    with pytest.raises(DecryptionError) as info:
        other.decrypt(ciphertext)
    message = str(info.value)
    assert SECRET not in message
    assert ciphertext not in message
    assert ciphertext[:20] not in message
    assert repr(ciphertext) not in repr(info.value)


@pytest.mark.parametrize("garbage", ["", "not a fernet token", "gAAAAA", "ünïcode-text"])
def test_garbage_ciphertext_raises_decryption_error(garbage: str) -> None:
    with pytest.raises(DecryptionError) as info:
        TokenCipher([_key()]).decrypt(garbage)
    if garbage:
        assert garbage not in str(info.value)


def test_tampered_ciphertext_is_refused() -> None:
    cipher = TokenCipher([_key()])
    ciphertext = cipher.encrypt(SECRET)
    middle = len(ciphertext) // 2
    flipped = "A" if ciphertext[middle] != "A" else "B"
    with pytest.raises(DecryptionError):
        cipher.decrypt(ciphertext[:middle] + flipped + ciphertext[middle + 1 :])


def test_cipher_needs_at_least_one_key() -> None:
    with pytest.raises(ValueError):
        TokenCipher([])


def test_cipher_refuses_a_bad_key() -> None:
    with pytest.raises(ValueError):
        TokenCipher(["not-a-key"])


def test_key_file_is_created_private_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bot.db.key"
    with caplog.at_level(logging.WARNING, logger="bot.crypto"):
        first = load_or_create_key_file(path)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="ascii").strip() == first
    Fernet(first)  # a usable key

    second = load_or_create_key_file(path)
    assert second == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    cipher = TokenCipher([second])
    assert cipher.decrypt(TokenCipher([first]).encrypt(SECRET)) == SECRET


def test_key_file_logs_a_warning_without_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bot.db.key"
    with caplog.at_level(logging.WARNING, logger="bot.crypto"):
        key = load_or_create_key_file(path)
        load_or_create_key_file(path)
    warnings = [
        r for r in caplog.records if r.name == "bot.crypto" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 2
    for record in warnings:
        message = record.getMessage()
        assert "DELETE_ORG_ENCRYPTION_KEY" in message
        assert str(path) in message
        assert key not in message
    assert key not in caplog.text


@pytest.mark.parametrize("content", ["garbage\n", "", "x" * 44, "\u00e9\u00e9\u00e9"])
def test_key_file_with_garbage_is_refused_and_kept(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bot.db.key"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError):
        load_or_create_key_file(path)
    assert path.read_text(encoding="utf-8") == content


def test_key_file_in_missing_directory_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_or_create_key_file(tmp_path / "missing" / "bot.db.key")
