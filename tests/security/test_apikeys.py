from __future__ import annotations

import hashlib

import pytest

from charter.errors import InvalidCredentials
from charter.security import apikeys


def test_generated_key_parses_back() -> None:
    new = apikeys.generate()
    assert new.key.startswith("chk_" + new.key_id + "_")
    key_id, secret = apikeys.parse(new.key)
    assert key_id == new.key_id
    assert apikeys.secret_matches(secret, new.secret_hash)
    assert new.secret_hash == hashlib.sha256(secret.encode()).digest()


def test_only_the_hash_is_kept_and_it_does_not_contain_the_secret() -> None:
    new = apikeys.generate()
    _, secret = apikeys.parse(new.key)
    assert secret.encode() not in new.secret_hash and len(new.secret_hash) == 32


def test_keys_are_unique() -> None:
    keys = {apikeys.generate().key for _ in range(200)}
    assert len(keys) == 200


def test_typo_is_caught_by_the_checksum() -> None:
    key = apikeys.generate().key
    position = len("chk_") + apikeys.KEY_ID_LENGTH + 5
    typo = key[:position] + ("A" if key[position] != "A" else "B") + key[position + 1 :]
    with pytest.raises(InvalidCredentials, match="checksum"):
        apikeys.parse(typo)


@pytest.mark.parametrize("bad", ["", "chk_", "sk_live_abc", "chk_" + "a" * 60, "x" * 63])
def test_malformed(bad: str) -> None:
    with pytest.raises(InvalidCredentials):
        apikeys.parse(bad)


def test_wrong_secret_does_not_match() -> None:
    a, b = apikeys.generate(), apikeys.generate()
    _, secret_a = apikeys.parse(a.key)
    assert not apikeys.secret_matches(secret_a, b.secret_hash)
