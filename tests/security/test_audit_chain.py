"""The pure hash-chain and checkpoint functions (no database)."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.security.audit_chain import (
    GENESIS,
    ChainVerifier,
    Checkpoint,
    canonical_json,
    chain_hash,
    check_checkpoints,
    sign_checkpoint,
    signature_valid,
)

Row = tuple[int, bytes, str, bytes]


def build(n: int) -> list[Row]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        body = canonical_json({"seq": seq, "action": "x", "details": {"i": seq, "é": "ünïcode"}}).decode()
        digest = chain_hash(prev, body.encode())
        rows.append((seq, prev, body, digest))
        prev = digest
    return rows


def test_canonical_json_is_sorted_compact_utf8_and_matches_the_standard_library() -> None:
    value = {"b": 1, "a": [1, 2, {"z": None, "y": "é"}], "c": "line\nbreak", "d": True}
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical_json(value) == expected


def test_hash_definition() -> None:
    assert chain_hash(GENESIS, b"{}") == hashlib.sha256(bytes(32) + b"{}").digest()


def test_intact_chain_verifies_and_reports_size_and_head() -> None:
    rows = build(50)
    verifier = ChainVerifier()
    assert verifier.feed(rows[:20]) is None and verifier.feed(rows[20:]) is None  # in batches
    assert (verifier.size, verifier.head) == (50, rows[-1][3])


def test_empty_chain() -> None:
    verifier = ChainVerifier()
    assert verifier.feed([]) is None
    assert (verifier.size, verifier.head) == (0, GENESIS)


def test_changed_body() -> None:
    rows = build(10)
    seq, prev, body, digest = rows[4]
    rows[4] = (seq, prev, body.replace('"x"', '"y"'), digest)
    fault = ChainVerifier().feed(rows)
    assert fault is not None and (fault.seq, fault.kind) == (5, "modified")


def test_deleted_event() -> None:
    rows = build(10)
    del rows[6]
    fault = ChainVerifier().feed(rows)
    assert fault is not None and (fault.seq, fault.kind) == (7, "missing")


def test_renumbered_after_deletion() -> None:
    rows = build(10)
    del rows[6]
    rows = [(i + 1, p, b, h) for i, (_, p, b, h) in enumerate(rows)]
    fault = ChainVerifier().feed(rows)
    assert fault is not None and (fault.seq, fault.kind) == (7, "broken_link")


def test_swapped_events() -> None:
    rows = build(10)
    a, b = rows[2], rows[3]
    rows[2], rows[3] = (3, *b[1:]), (4, *a[1:])
    fault = ChainVerifier().feed(rows)
    assert fault is not None and (fault.seq, fault.kind) == (3, "broken_link")


def test_verifying_a_range_from_its_predecessor() -> None:
    rows = build(30)
    verifier = ChainVerifier(size=10, head=rows[9][3])
    assert verifier.feed(rows[10:]) is None and verifier.size == 30


def test_watch_collects_heads_at_checkpoint_sizes() -> None:
    rows = build(30)
    verifier = ChainVerifier(watch=frozenset({0, 7, 30}))
    verifier.feed(rows)
    assert verifier.seen == {0: GENESIS, 7: rows[6][3], 30: rows[29][3]}


KEY = Ed25519PrivateKey.generate()


def checkpoint(size: int, head: bytes, key: Ed25519PrivateKey = KEY) -> Checkpoint:
    return sign_checkpoint(key, origin="charter/audit", size=size, head_hash=head, created_at=f"t{size:04d}")


def test_checkpoint_round_trips_through_json_and_verifies() -> None:
    made = checkpoint(5, b"\x01" * 32)
    again = Checkpoint.from_json(made.to_json())
    assert again == made and signature_valid(again, KEY.public_key())


@pytest.mark.parametrize("field", ["size", "head_hash", "origin", "created_at"])
def test_any_changed_checkpoint_field_breaks_the_signature(field: str) -> None:
    made = checkpoint(5, b"\x01" * 32)
    data = json.loads(made.to_json())
    data[field] = 6 if field == "size" else data[field] + "0"
    assert not signature_valid(Checkpoint.from_json(json.dumps(data)), KEY.public_key())


def test_checkpoint_of_another_key_is_refused() -> None:
    other = Ed25519PrivateKey.generate()
    assert not signature_valid(checkpoint(5, b"\x01" * 32, key=other), KEY.public_key())


def test_not_a_checkpoint() -> None:
    with pytest.raises(ValueError, match="not a Charter audit checkpoint"):
        Checkpoint.from_json("{}")


def _compare(rows: list[Row], trusted: list[Checkpoint], stored: list[Checkpoint]) -> str | None:
    verifier = ChainVerifier(watch=frozenset(c.size for c in [*trusted, *stored]))
    assert verifier.feed(rows) is None
    fault = check_checkpoints(
        chain_size=verifier.size, hashes=verifier.seen, trusted=trusted, stored=stored, public_key=KEY.public_key()
    )
    return None if fault is None else fault.kind


def test_checkpoint_comparisons() -> None:
    rows = build(20)
    at = {n: checkpoint(n, rows[n - 1][3]) for n in (5, 10, 20)}
    assert _compare(rows, [at[20]], [at[5], at[10], at[20]]) is None
    assert _compare(rows[:15], [at[20]], [at[5], at[10]]) == "truncated"
    assert _compare(rows, [at[20]], [at[5], at[10]]) == "checkpoint_rolled_back"
    assert _compare(rows, [], [at[5], at[10], at[5]]) == "checkpoint_rolled_back"
    rewritten = build(20)
    seq, prev, body, _ = rewritten[2]
    forged_body = body.replace('"x"', '"forged"')
    prev_hash = prev
    forged = []
    for row in [(seq, prev, forged_body, b""), *rewritten[3:]]:
        digest = chain_hash(prev_hash, row[2].encode())
        forged.append((row[0], prev_hash, row[2], digest))
        prev_hash = digest
    assert _compare(rewritten[:2] + forged, [at[10]], []) == "checkpoint_mismatch"
