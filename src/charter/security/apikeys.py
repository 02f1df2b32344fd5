"""API keys: ``chk_<key id>_<secret><checksum>``.

The key id is public (shown in lists, logged, indexed); the secret has 238
bits of entropy, so a plain SHA-256 of it is enough for storage (no slow
KDF is needed for a random secret). The CRC32 checksum lets a typo be told
apart from a wrong key without a database lookup, and the ``chk_`` prefix
lets secret scanners find leaked keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from dataclasses import dataclass

from charter.errors import InvalidCredentials

PREFIX = "chk_"
_ALPHABET = string.ascii_letters + string.digits
_KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
KEY_ID_LENGTH = 12
SECRET_LENGTH = 40  # log2(62) * 40 = 238 bits
CHECKSUM_LENGTH = 6


@dataclass(frozen=True)
class NewApiKey:
    key: str  # shown once, never stored
    key_id: str
    secret_hash: bytes


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        digits.append(_ALPHABET[rem])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def generate() -> NewApiKey:
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))
    body = f"{PREFIX}{key_id}_{secret}"
    return NewApiKey(key=body + _checksum(body), key_id=key_id, secret_hash=hash_secret(secret))


def looks_like_api_key(value: str) -> bool:
    return value.startswith(PREFIX)


def parse(key: str) -> tuple[str, str]:
    """Split a key into (key id, secret); raise ``InvalidCredentials`` when it is malformed."""
    expected_length = len(PREFIX) + KEY_ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH
    if not key.startswith(PREFIX) or len(key) != expected_length or key[len(PREFIX) + KEY_ID_LENGTH] != "_":
        raise InvalidCredentials("The API key is malformed.")
    body, checksum = key[:-CHECKSUM_LENGTH], key[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(_checksum(body), checksum):
        raise InvalidCredentials("The API key is malformed (checksum mismatch: was it copied whole?).")
    key_id = body[len(PREFIX) : len(PREFIX) + KEY_ID_LENGTH]
    secret = body[len(PREFIX) + KEY_ID_LENGTH + 1 :]
    return key_id, secret


def secret_matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
