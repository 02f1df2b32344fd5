"""Keyed pseudonyms and field encryption, without a server."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from charter.decisions.pseudonyms import DecisionKeys, aad_prefix, keys_for
from charter.errors import DecryptionFailed
from charter.security.keys import derive_key

SECRET = b"s" * 32


def test_pseudonyms_are_keyed_consistent_and_distinct() -> None:
    keys = keys_for(SECRET)
    assert keys is keys_for(SECRET)  # derived once
    ada = keys.pseudonym("ada@example.com")
    assert ada == keys.pseudonym("ada@example.com") and ada.startswith("ps:") and len(ada) == 67
    assert ada != keys.pseudonym("Ada@example.com")  # exactly as sent: no case folding
    assert ada != DecisionKeys.from_secret(b"t" * 32).pseudonym("ada@example.com")  # another secret, another name
    assert keys.pseudonym(42) == keys.pseudonym("42")  # a value is hashed as its text
    assert keys.pseudonym({"b": 1, "a": 2}) == keys.pseudonym({"a": 2, "b": 1})
    assert keys.subject_ref("customer-1") == keys.pseudonym("customer-1")
    assert keys.subject_ref(ada) == ada  # a pseudonym is searched as it is


@pytest.mark.parametrize("secret", [SECRET, b"long" * 40])
@pytest.mark.parametrize("value", ["", "ada@example.com", "é" * 100, "x" * 10_000])
def test_pseudonyms_are_hmac_sha256_under_the_derived_key(secret: bytes, value: str) -> None:
    keys = DecisionKeys.from_secret(secret)
    key = derive_key(secret, "decision-pseudonym")
    assert keys.pseudonym(value) == "ps:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    digest_key = derive_key(secret, "decision-digest")
    assert keys.digest(value.encode()) == hmac.new(digest_key, value.encode(), hashlib.sha256).hexdigest()[:32]


def test_protect_replaces_only_the_named_present_fields() -> None:
    keys = keys_for(SECRET)
    inputs = {"name": "Ada", "email": None, "income": 10}
    assert keys.protect(inputs, ["name", "email", "phone"], encrypt=False) == {
        "name": keys.pseudonym("Ada"),
        "email": None,
        "income": 10,
    }
    assert inputs["name"] == "Ada"  # the caller's mapping is left alone


@pytest.mark.parametrize("value", ["Ada Lovelace", 1815, 3.5, True, ["a", 1], {"street": "St James's Square"}])
def test_encrypted_fields_round_trip_bound_to_their_place(value: object) -> None:
    keys = keys_for(SECRET)
    here = aad_prefix(1, "d-1")
    sealed = keys.protect({"f": value}, ["f"], encrypt=True, aad=here)
    token = sealed["f"]
    assert isinstance(token, str) and token.startswith("enc:")
    assert token != keys.protect({"f": value}, ["f"], encrypt=True, aad=here)["f"]  # a fresh nonce each time
    assert keys.reveal(sealed, ["f"], aad=here) == ({"f": value}, 1)
    for elsewhere in (aad_prefix(1, "d-2"), aad_prefix(2, "d-1")):
        with pytest.raises(DecryptionFailed):
            keys.reveal(sealed, ["f"], aad=elsewhere)
    with pytest.raises(DecryptionFailed):  # another field name
        keys.reveal({"g": token}, ["g"], aad=here)
    raw = base64.b64decode(token[4:])
    for position in (0, 12, len(raw) - 1):  # the nonce, the ciphertext, the tag
        flipped = "enc:" + base64.b64encode(raw[:position] + bytes([raw[position] ^ 1]) + raw[position + 1 :]).decode()
        with pytest.raises(DecryptionFailed):
            keys.reveal({"f": flipped}, ["f"], aad=here)
    with pytest.raises(DecryptionFailed):
        keys.reveal({"f": "enc:not base64!"}, ["f"], aad=here)
    with pytest.raises(DecryptionFailed):
        DecisionKeys.from_secret(b"t" * 32).reveal(sealed, ["f"], aad=here)


def test_reveal_leaves_pseudonyms_and_plain_values_alone() -> None:
    keys = keys_for(SECRET)
    inputs = {"name": keys.pseudonym("Ada"), "income": 10}
    assert keys.reveal(inputs, ["name", "income"], aad=aad_prefix(1, "d-1")) == (inputs, 0)


@pytest.mark.parametrize("key", [b"", b"k" * 32, b"k" * 64, b"k" * 65, b"k" * 200])
def test_the_precomputed_hmac_matches_the_standard_library(key: bytes) -> None:
    from charter.decisions.pseudonyms import _Hmac

    for message in (b"", b"a", b"m" * 1000):
        assert _Hmac(key).hexdigest(message) == hmac.new(key, message, hashlib.sha256).hexdigest()
