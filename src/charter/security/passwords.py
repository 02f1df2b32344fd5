"""Password hashing with argon2id at OWASP's parameters (m=19 MiB, t=2, p=1)."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from charter.errors import InvalidInput

MAX_PASSWORD_LENGTH = 1024  # long enough for any passphrase, short enough not to be a hashing DoS

_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
# Verified against when the account does not exist, so that timing does not reveal which names exist.
_DUMMY_HASH = _hasher.hash("charter-dummy-password-for-uniform-timing")


def check_password_policy(password: str, *, min_length: int) -> None:
    """Length only (NIST SP 800-63B): no composition rules, nothing silently truncated."""
    if len(password) < min_length:
        raise InvalidInput(f"The password must have at least {min_length} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must have at most {MAX_PASSWORD_LENGTH} characters.")


def hash_password(password: str) -> str:
    return str(_hasher.hash(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches. A missing hash still costs one verification."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return bool(_hasher.verify(password_hash or _DUMMY_HASH, password)) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return bool(_hasher.check_needs_rehash(password_hash))
