"""Keyed pseudonyms and field encryption for the personal data in logged decisions.

Pure: no database, no web. Every key is derived from the server secret
(``charter.security.keys.derive_key``), one per purpose, so none of them is
ever stored:

- ``decision-pseudonym``: ``ps:`` + hex HMAC-SHA256 of the value. The same
  value gives the same pseudonym in every batch and every model (decisions
  about one person can be found and linked without knowing who it is), and
  without the server secret a pseudonym cannot be tested against a guess.
- ``decision-field``: ``enc:`` + base64(nonce ‖ AES-256-GCM ciphertext) of the
  value's JSON, random 96-bit nonce, bound (associated data) to the model,
  the decision and the field, so a ciphertext copied elsewhere fails to decrypt.
- ``decision-digest``: an HMAC (128 bits) of a whole decision as it was sent, to tell an
  identical re-send from a different decision that reuses an id.

A value is hashed or encrypted as text: a string as its UTF-8 bytes, anything
else as its JSON text (so the number ``42`` and the string ``"42"`` share a
pseudonym). Values are taken exactly as sent: no case folding, no trimming.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from charter.errors import DecryptionFailed
from charter.security.keys import derive_key

PSEUDONYM_PREFIX = "ps:"
CIPHER_PREFIX = "enc:"
_NONCE_BYTES = 12
_BLOCK = 64  # SHA-256's block size


def _text(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def aad_prefix(model_id: int, decision_key: str) -> bytes:
    """What an encrypted field is bound to, but for its own name (appended): its model and its decision."""
    return f"{model_id}\x00{decision_key}\x00".encode()


class _Hmac:
    """HMAC-SHA256 (RFC 2104) with the padded key's hash states computed once: a third of the cost of
    ``hmac.digest`` per message, which matters at tens of thousands of values a second."""

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


@dataclass(frozen=True)
class DecisionKeys:
    """The three purpose-bound keys (see the module docstring); build with :func:`keys_for`."""

    pseudonym_key: bytes
    field_key: bytes
    digest_key: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> DecisionKeys:
        return cls(
            pseudonym_key=derive_key(secret, "decision-pseudonym"),
            field_key=derive_key(secret, "decision-field"),
            digest_key=derive_key(secret, "decision-digest"),
        )

    @functools.cached_property
    def _cipher(self) -> AESGCM:
        return AESGCM(self.field_key)

    @functools.cached_property
    def _pseudonym_mac(self) -> _Hmac:
        return _Hmac(self.pseudonym_key)

    @functools.cached_property
    def _digest_mac(self) -> _Hmac:
        return _Hmac(self.digest_key)

    def pseudonym(self, value: Any) -> str:
        return PSEUDONYM_PREFIX + self._pseudonym_mac.hexdigest(_text(value))

    def subject_ref(self, subject: str) -> str:
        """A data-subject reference as stored and searched: a value already starting ``ps:`` is kept."""
        return subject if subject.startswith(PSEUDONYM_PREFIX) else self.pseudonym(subject)

    def encrypt(self, value: Any, *, aad: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._cipher.encrypt(nonce, orjson.dumps(value), aad)
        return CIPHER_PREFIX + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, *, aad: bytes) -> Any:
        """The value :meth:`encrypt` sealed; ``DecryptionFailed`` if the stored text was altered or moved."""
        if not token.startswith(CIPHER_PREFIX):
            raise DecryptionFailed("The stored field is not an encrypted value.", details={"reason": "bad_header"})
        try:
            raw = base64.b64decode(token[len(CIPHER_PREFIX) :], validate=True)
            return orjson.loads(self._cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad))
        except (InvalidTag, ValueError) as exc:
            raise DecryptionFailed(
                "A stored personal field does not decrypt: it was altered, or copied from another decision.",
                details={"reason": "authentication"},
            ) from exc

    def digest(self, payload: bytes) -> str:
        """HMAC-SHA256 truncated to 128 bits (hex): it only ever tells two versions of one decision apart."""
        return self._digest_mac.hexdigest(payload)[:32]

    def protect(
        self, inputs: Mapping[str, Any], fields: Iterable[str], *, encrypt: bool, aad: bytes = b""
    ) -> dict[str, Any]:
        """``inputs`` with each of ``fields`` that is present and not null pseudonymised (or encrypted).

        ``aad`` is the decision's :func:`aad_prefix`; each field's name is appended to it.
        """
        if not encrypt:
            return self.pseudonymise(inputs, fields)
        protected = dict(inputs)
        for name in fields:
            value = protected.get(name)
            if value is not None:
                protected[name] = self.encrypt(value, aad=aad + name.encode())
        return protected

    def pseudonymise(self, inputs: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
        """``inputs`` with each of ``fields`` that is present and not null pseudonymised; the HMAC is
        bound once, as this runs for every decision logged."""
        protected = dict(inputs)
        mac = self._pseudonym_mac.hexdigest
        for name in fields:
            value = protected.get(name)
            if value is not None:
                protected[name] = PSEUDONYM_PREFIX + mac(value.encode() if type(value) is str else _text(value))
        return protected

    def reveal(self, inputs: Mapping[str, Any], fields: Iterable[str], *, aad: bytes) -> tuple[dict[str, Any], int]:
        """``inputs`` with the encrypted ``fields`` decrypted, and how many were (pseudonyms stay as they are)."""
        revealed = dict(inputs)
        count = 0
        for name in fields:
            value = revealed.get(name)
            if isinstance(value, str) and value.startswith(CIPHER_PREFIX):
                revealed[name] = self.decrypt(value, aad=aad + name.encode())
                count += 1
        return revealed, count


@functools.lru_cache(maxsize=4)
def keys_for(secret: bytes) -> DecisionKeys:
    """The keys for one server secret, derived once per process."""
    return DecisionKeys.from_secret(secret)
