from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from charter.errors import InvalidInput
from charter.security.passwords import (
    MAX_PASSWORD_LENGTH,
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)


def test_hash_is_argon2id_with_owasp_parameters() -> None:
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert not needs_rehash(hashed)


def test_verify() -> None:
    hashed = hash_password("correct horse battery staple")
    assert verify_password(hashed, "correct horse battery staple")
    assert not verify_password(hashed, "correct horse battery stapl")
    assert not verify_password(hashed, "")


def test_same_password_two_salts() -> None:
    assert hash_password("same password here") != hash_password("same password here")


def test_missing_hash_never_verifies() -> None:
    # Unknown accounts are checked against a dummy hash (uniform timing) and always fail.
    assert not verify_password(None, "charter-dummy-password-for-uniform-timing")
    assert not verify_password(None, "anything")


def test_corrupted_hash_fails_closed() -> None:
    assert not verify_password("$argon2id$garbage", "whatever")
    assert not verify_password("plaintext-password", "plaintext-password")


def test_weaker_hash_needs_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("a password of length")
    assert needs_rehash(weak)
    assert verify_password(weak, "a password of length")


def test_policy() -> None:
    check_password_policy("x" * 12, min_length=12)
    check_password_policy("x" * MAX_PASSWORD_LENGTH, min_length=12)
    with pytest.raises(InvalidInput, match="at least 12"):
        check_password_policy("x" * 11, min_length=12)
    with pytest.raises(InvalidInput, match="at most"):
        check_password_policy("x" * (MAX_PASSWORD_LENGTH + 1), min_length=12)


def test_overlong_password_is_not_hashed() -> None:
    assert not verify_password(hash_password("short enough!"), "x" * (MAX_PASSWORD_LENGTH + 1))
