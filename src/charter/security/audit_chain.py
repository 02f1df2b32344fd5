"""The audit hash chain and its signed checkpoints: pure functions, no database.

Each event is stored as ``body``, its canonical JSON (UTF-8, keys sorted, no
whitespace), exactly the bytes that were hashed, so verification re-hashes
stored bytes and never depends on re-serialising:

    hash(seq) = SHA-256(hash(seq - 1) || body(seq)),  hash(0) = 32 zero bytes

The chain alone detects a changed event (its hash no longer matches), an
inserted, deleted or moved event (a broken link or a gap in ``seq``). Anyone
with write access could recompute every later hash, and could drop the tail;
signed checkpoints of ``(size, head hash)``, kept outside the database,
detect both: a chain shorter than a checkpoint is truncated, a chain whose
hash at the checkpoint's size differs has been rewritten.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from charter.security.keys import key_id

GENESIS = bytes(32)

FaultKind = Literal[
    "missing",  # a seq is absent: an event was deleted
    "broken_link",  # prev_hash is not the hash of the event before: inserted, deleted or moved
    "modified",  # the stored hash does not match the event: a field was changed
    "truncated",  # the chain is shorter than a signed checkpoint says it was
    "checkpoint_mismatch",  # the chain's hash at a checkpoint's size differs from the signed one: rewritten
    "checkpoint_rolled_back",  # the stored checkpoints went backwards, or lack one that was issued
    "bad_signature",  # a checkpoint's signature does not verify with the audit key
]


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no whitespace (the bytes that are hashed and signed)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev_hash: bytes, body: bytes) -> bytes:
    return hashlib.sha256(prev_hash + body).digest()


@dataclass(frozen=True)
class Fault:
    seq: int
    kind: FaultKind
    message: str


@dataclass
class ChainVerifier:
    """Feed ``(seq, prev_hash, body, hash)`` rows in ``seq`` order; it stops at the first fault.

    Each row is checked against the stored hash of the row before it, so a
    range of the chain can be verified on its own given the hash that
    precedes it (``start_size``, ``head``).
    """

    size: int = 0
    head: bytes = GENESIS
    watch: frozenset[int] = frozenset()  # sizes whose head hash the caller wants (checkpoints)
    seen: dict[int, bytes] = field(default_factory=dict)
    fault: Fault | None = None

    def __post_init__(self) -> None:
        if self.size in self.watch:
            self.seen[self.size] = self.head

    def feed(self, rows: Iterable[tuple[int, bytes, str | bytes, bytes]]) -> Fault | None:
        if self.fault is not None:
            return self.fault
        expected, prev = self.size + 1, self.head
        sha256, watch, seen = hashlib.sha256, self.watch, self.seen
        # The hot loop of a million-event walk: names are local, and ``bytes(...)`` only copies what
        # a driver returned as another buffer type (a memoryview, say).
        for seq, prev_hash, body, digest in rows:
            if seq != expected:
                gap = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
                return self._stop(expected, "missing", f"event {gap} is missing (deleted)", expected - 1, prev)
            if prev_hash != prev and bytes(prev_hash) != prev:
                return self._stop(
                    seq,
                    "broken_link",
                    f"event {seq} is not chained to event {seq - 1}: an event was inserted, deleted or moved",
                    expected - 1,
                    prev,
                )
            raw = body.encode() if isinstance(body, str) else body
            if type(digest) is not bytes:
                digest = bytes(digest)
            if sha256(prev + raw).digest() != digest:
                return self._stop(
                    seq,
                    "modified",
                    f"event {seq} does not match its hash: it was changed",
                    expected - 1,
                    prev,
                )
            prev = digest
            if watch and seq in watch:
                seen[seq] = prev
            expected += 1
        self.size, self.head = expected - 1, prev
        return None

    def _stop(self, seq: int, kind: FaultKind, message: str, size: int, head: bytes) -> Fault:
        self.size, self.head = size, head
        self.fault = Fault(seq, kind, message)
        return self.fault


# -- checkpoints ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: "the chain of ``origin`` had ``size`` events ending in ``head_hash``"."""

    origin: str
    size: int
    head_hash: str  # hex
    created_at: str  # ISO 8601, UTC
    key_id: str
    signature: str  # base64 Ed25519 over ``signed_bytes()``

    def signed_bytes(self) -> bytes:
        return canonical_json(
            {
                "origin": self.origin,
                "size": self.size,
                "head_hash": self.head_hash,
                "created_at": self.created_at,
                "key_id": self.key_id,
            }
        )

    def to_json(self) -> str:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        try:
            data = orjson.loads(text)
            return cls(
                origin=str(data["origin"]),
                size=int(data["size"]),
                head_hash=str(data["head_hash"]),
                created_at=str(data["created_at"]),
                key_id=str(data["key_id"]),
                signature=str(data["signature"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a Charter audit checkpoint: {exc}") from exc


def sign_checkpoint(key: Ed25519PrivateKey, *, origin: str, size: int, head_hash: bytes, created_at: str) -> Checkpoint:
    unsigned = Checkpoint(origin, size, head_hash.hex(), created_at, key_id(key.public_key()), "")
    signature = key.sign(unsigned.signed_bytes())
    return Checkpoint(**{**asdict(unsigned), "signature": base64.b64encode(signature).decode()})


def signature_valid(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    if checkpoint.key_id != key_id(public_key):
        return False
    try:
        public_key.verify(base64.b64decode(checkpoint.signature, validate=True), checkpoint.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True


def check_checkpoints(
    *,
    chain_size: int,
    hashes: dict[int, bytes],
    trusted: list[Checkpoint],
    stored: list[Checkpoint],
    public_key: Ed25519PublicKey,
) -> Fault | None:
    """Compare a verified chain with checkpoints.

    ``trusted`` come from outside the database (files the verifier kept);
    ``stored`` are the database's own, in the order they were made.
    ``hashes`` maps each checkpoint size to the chain's hash at that size.
    """
    for source, checkpoint in [("saved", c) for c in trusted] + [("stored", c) for c in stored]:
        if not signature_valid(checkpoint, public_key):
            return Fault(
                checkpoint.size,
                "bad_signature",
                f"the {source} checkpoint at size {checkpoint.size} is not signed by the audit key "
                f"{key_id(public_key)}",
            )
    for source, checkpoint in [("saved", c) for c in trusted] + [("stored", c) for c in stored]:
        if checkpoint.size > chain_size:
            return Fault(
                chain_size + 1,
                "truncated",
                f"the {source} checkpoint of {checkpoint.created_at} covers {checkpoint.size} events but the chain "
                f"has only {chain_size}: events {chain_size + 1}..{checkpoint.size} were removed",
            )
        if hashes.get(checkpoint.size, b"").hex() != checkpoint.head_hash:
            return Fault(
                checkpoint.size,
                "checkpoint_mismatch",
                f"the chain at size {checkpoint.size} differs from the {source} checkpoint of "
                f"{checkpoint.created_at}: events up to {checkpoint.size} were rewritten",
            )
    for earlier, later in itertools.pairwise(stored):
        if later.size < earlier.size:
            return Fault(
                later.size,
                "checkpoint_rolled_back",
                f"the stored checkpoint of {later.created_at} (size {later.size}) is smaller than the one of "
                f"{earlier.created_at} (size {earlier.size})",
            )
    newest_stored = max((c.size for c in stored), default=0)
    stored_set = {(c.size, c.head_hash, c.signature) for c in stored}
    for checkpoint in trusted:
        if checkpoint.size > newest_stored and (
            checkpoint.size,
            checkpoint.head_hash,
            checkpoint.signature,
        ) not in (stored_set):
            return Fault(
                checkpoint.size,
                "checkpoint_rolled_back",
                f"the database's checkpoints stop at size {newest_stored} but the saved checkpoint of "
                f"{checkpoint.created_at} (size {checkpoint.size}) was issued: the checkpoint table was rolled back",
            )
    return None
