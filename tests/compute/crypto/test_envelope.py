"""The streaming envelope format: round trips, its byte layout, and every way a file can be damaged."""

from __future__ import annotations

import gc
import hashlib
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from charter.compute.crypto import envelope
from charter.compute.crypto.envelope import (
    DATA_KEY_BYTES,
    HEADER_SIZE,
    MAGIC,
    MAX_CHUNK,
    MIN_CHUNK,
    TAG_SIZE,
    EncryptingReader,
    decrypt_bytes,
    decrypt_chunks,
    decrypt_file,
    decrypt_stream,
    encrypt_bytes,
    encrypt_file,
    encrypt_stream,
    encrypted_size,
    new_data_key,
)
from charter.errors import DecryptionFailed

CHUNK = 64
KEY = bytes(range(32))
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 5 * CHUNK + 7]


def data_of(size: int) -> bytes:
    """Plaintext where every chunk differs, so a reordered or repeated chunk would decrypt to other bytes."""
    return hashlib.shake_256(size.to_bytes(8, "big")).digest(size) if size else b""


def chunk_span(index: int, chunk_size: int = CHUNK) -> slice:
    """Bytes of sealed chunk ``index`` (0-based) in a file."""
    start = HEADER_SIZE + index * (chunk_size + TAG_SIZE)
    return slice(start, start + chunk_size + TAG_SIZE)


class ShortReads(io.RawIOBase):
    """A source that hands out at most 7 bytes per read, as a socket or pipe may."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        chunk = self._data.read(min(7, len(view)))
        view[: len(chunk)] = chunk
        return len(chunk)


class ReadOnly:
    """A source with ``read`` only (no ``readinto``)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


class PartialWriter(io.RawIOBase):
    """A raw sink that accepts at most 10 bytes per write."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")[:10]
        self.data += view
        return len(view)


Decrypt = Callable[[bytes, bytes, bytes], bytes]


def via_bytes(blob: bytes, key: bytes, aad: bytes) -> bytes:
    return decrypt_bytes(blob, key, aad=aad)


def via_stream(blob: bytes, key: bytes, aad: bytes) -> bytes:
    out = io.BytesIO()
    result = decrypt_stream(io.BytesIO(blob), out, key, aad=aad)
    assert result.plaintext_size == len(out.getvalue())
    assert result.ciphertext_size == len(blob)
    return out.getvalue()


def via_chunks(blob: bytes, key: bytes, aad: bytes) -> bytes:
    return b"".join(decrypt_chunks(io.BytesIO(blob), key, aad=aad))


def via_short_reads(blob: bytes, key: bytes, aad: bytes) -> bytes:
    out = io.BytesIO()
    decrypt_stream(ShortReads(blob), out, key, aad=aad)  # type: ignore[arg-type]
    return out.getvalue()


def via_read_only(blob: bytes, key: bytes, aad: bytes) -> bytes:
    return b"".join(decrypt_chunks(ReadOnly(blob), key, aad=aad))  # type: ignore[arg-type]


DECRYPTORS = [via_bytes, via_stream, via_chunks, via_short_reads, via_read_only]


def encrypt_via_stream(data: bytes, chunk_size: int = CHUNK, aad: bytes = b"") -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, KEY, aad=aad, chunk_size=chunk_size)
    return out.getvalue()


# -- round trips ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_bytes_round_trip_at_chunk_edges(size: int, decrypt: Decrypt) -> None:
    data = data_of(size)
    blob = encrypt_bytes(data, KEY, aad=b"label", chunk_size=CHUNK)
    assert len(blob) == encrypted_size(size, chunk_size=CHUNK)
    assert decrypt(blob, KEY, b"label") == data


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("source", [io.BytesIO, ShortReads, ReadOnly], ids=["readinto", "short-reads", "read-only"])
def test_stream_round_trip_reports_sizes_and_the_plaintext_sha256(size: int, source: Callable[[bytes], Any]) -> None:
    data = data_of(size)
    out = io.BytesIO()
    result = encrypt_stream(source(data), out, KEY, chunk_size=CHUNK)
    assert result.plaintext_size == size
    assert result.ciphertext_size == len(out.getvalue()) == encrypted_size(size, chunk_size=CHUNK)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert decrypt_bytes(out.getvalue(), KEY) == data


def test_stream_and_bytes_encryption_produce_the_same_layout() -> None:
    data = data_of(5 * CHUNK + 7)
    a, b = encrypt_bytes(data, KEY, chunk_size=CHUNK), encrypt_via_stream(data)
    assert len(a) == len(b)
    assert a[:13] == b[:13]  # magic, version, chunk size; the nonce prefix differs
    assert decrypt_bytes(b, KEY) == decrypt_bytes(a, KEY) == data


def test_writes_through_a_raw_sink_that_takes_part_of_each_write() -> None:
    data = data_of(5 * CHUNK + 7)
    sink = PartialWriter()
    encrypt_stream(io.BytesIO(data), sink, KEY, chunk_size=CHUNK)  # type: ignore[arg-type]
    plain = PartialWriter()
    decrypt_stream(io.BytesIO(bytes(sink.data)), plain, KEY)  # type: ignore[arg-type]
    assert bytes(plain.data) == data


def test_default_chunk_size_round_trip_over_several_chunks() -> None:
    data = os.urandom(3 * envelope.DEFAULT_CHUNK + 5)
    blob = encrypt_bytes(data, KEY)
    assert len(blob) == HEADER_SIZE + len(data) + 4 * TAG_SIZE
    assert decrypt_bytes(blob, KEY) == data
    assert via_stream(encrypt_via_stream(data, chunk_size=envelope.DEFAULT_CHUNK), KEY, b"") == data


def test_header_layout() -> None:
    blob = encrypt_bytes(b"x", KEY, chunk_size=4096)
    assert blob[:8] == MAGIC == b"\x89CHRENC\n"
    assert blob[8] == 1
    assert int.from_bytes(blob[9:13], "big") == 4096
    assert HEADER_SIZE == 20
    assert len(blob) == 20 + 1 + 16


def test_each_encryption_uses_a_fresh_nonce_prefix() -> None:
    a, b = encrypt_bytes(b"same", KEY), encrypt_bytes(b"same", KEY)
    assert a[13:20] != b[13:20]
    assert a[20:] != b[20:]


def test_exact_multiple_of_the_chunk_size_ends_with_a_full_final_chunk() -> None:
    # No empty chunk is appended: 3 chunks for 3 * CHUNK bytes; only an empty plaintext has an empty chunk.
    assert encrypted_size(3 * CHUNK, chunk_size=CHUNK) == HEADER_SIZE + 3 * (CHUNK + TAG_SIZE)
    assert encrypted_size(0, chunk_size=CHUNK) == HEADER_SIZE + TAG_SIZE
    assert len(encrypt_via_stream(data_of(3 * CHUNK))) == HEADER_SIZE + 3 * (CHUNK + TAG_SIZE)


def test_decrypt_chunks_yields_one_authenticated_chunk_at_a_time() -> None:
    data = data_of(5 * CHUNK + 7)
    chunks = list(decrypt_chunks(io.BytesIO(encrypt_bytes(data, KEY, chunk_size=CHUNK)), KEY))
    assert [len(c) for c in chunks] == [CHUNK] * 5 + [7]
    assert b"".join(chunks) == data
    assert all(isinstance(c, bytes) for c in chunks)


def test_decrypt_chunks_checks_the_key_before_returning() -> None:
    blob = encrypt_bytes(data_of(3 * CHUNK), KEY, chunk_size=CHUNK)
    with pytest.raises(DecryptionFailed, match="wrong key or modified data in chunk 1"):
        decrypt_chunks(io.BytesIO(blob), new_data_key())  # raises at the call, not at the first next()


def test_encrypting_reader_streams_the_same_format() -> None:
    data = data_of(5 * CHUNK + 7)
    reader = EncryptingReader(io.BytesIO(data), KEY, aad=b"a", chunk_size=CHUNK)
    with pytest.raises(RuntimeError):
        _ = reader.result
    pieces = []
    while piece := reader.read(13):
        pieces.append(piece)
    blob = b"".join(pieces)
    assert len(blob) == encrypted_size(len(data), chunk_size=CHUNK)
    assert decrypt_bytes(blob, KEY, aad=b"a") == data
    assert reader.result.sha256 == hashlib.sha256(data).hexdigest()
    assert reader.result.ciphertext_size == len(blob)
    assert io.BufferedReader(EncryptingReader(io.BytesIO(data), KEY)).read(HEADER_SIZE)[:8] == MAGIC


def test_the_hashing_thread_ends_with_the_stream() -> None:
    before = threading.active_count()
    data = data_of(50 * CHUNK)
    encrypt_stream(io.BytesIO(data), io.BytesIO(), KEY, chunk_size=CHUNK)
    assert threading.active_count() == before
    reader = EncryptingReader(io.BytesIO(data), KEY, chunk_size=CHUNK)
    reader.read(5 * CHUNK)  # started, abandoned half-way
    reader.close()
    assert threading.active_count() == before


def test_an_interrupted_source_propagates_and_stops_the_thread() -> None:
    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            self.calls += 1
            if self.calls > 4:
                raise OSError("disk gone")
            view = memoryview(buffer).cast("B")
            view[:] = b"x" * len(view)
            return len(view)

    before = threading.active_count()
    with pytest.raises(OSError, match="disk gone"):
        encrypt_stream(Failing(), io.BytesIO(), KEY, chunk_size=CHUNK)  # type: ignore[arg-type]
    assert threading.active_count() == before


def test_without_encrypt_into_the_copying_path_gives_the_same_format(monkeypatch: pytest.MonkeyPatch) -> None:
    data = data_of(5 * CHUNK + 7)
    fast = encrypt_bytes(data, KEY, chunk_size=CHUNK)
    monkeypatch.setattr(envelope, "_HAS_INTO", False)
    slow = encrypt_bytes(data, KEY, chunk_size=CHUNK)
    for decrypt in DECRYPTORS:
        assert decrypt(fast, KEY, b"") == decrypt(slow, KEY, b"") == data
    bad = bytearray(slow)
    bad[chunk_span(1).start + 3] ^= 1
    with pytest.raises(DecryptionFailed, match="chunk 2"):
        decrypt_bytes(bytes(bad), KEY)
    monkeypatch.setattr(envelope, "_HAS_INTO", True)
    assert decrypt_bytes(slow, KEY) == data


# -- refusals before any decryption -----------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [0, MIN_CHUNK - 1, MAX_CHUNK + 1])
def test_absurd_chunk_sizes_are_refused_when_writing(chunk_size: int) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        encrypt_bytes(b"x", KEY, chunk_size=chunk_size)
    with pytest.raises(ValueError, match="chunk_size"):
        encrypt_stream(io.BytesIO(b"x"), io.BytesIO(), KEY, chunk_size=chunk_size)
    with pytest.raises(ValueError, match="chunk_size"):
        EncryptingReader(io.BytesIO(b"x"), KEY, chunk_size=chunk_size)
    gc.collect()  # the half-built reader is closed without an error (warnings are errors here)


@pytest.mark.parametrize("chunk_size", [0, MIN_CHUNK - 1, MAX_CHUNK + 1, 2**32 - 1])
@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_absurd_chunk_sizes_are_refused_when_reading(chunk_size: int, decrypt: Decrypt) -> None:
    blob = bytearray(encrypt_bytes(b"data", KEY, chunk_size=CHUNK))
    blob[9:13] = chunk_size.to_bytes(4, "big")
    with pytest.raises(DecryptionFailed, match=f"chunk size {chunk_size} is outside") as caught:
        decrypt(bytes(blob), KEY, b"")
    assert caught.value.details["reason"] == "bad_header"


@pytest.mark.parametrize("length", [15, 33, 0])
def test_a_data_key_must_be_32_bytes(length: int) -> None:
    key = b"k" * length
    with pytest.raises(ValueError, match=f"32 bytes \\(AES-256\\), got {length}") as caught:
        encrypt_bytes(b"x", key)
    assert "kkkk" not in str(caught.value)
    with pytest.raises(ValueError, match="32 bytes"):
        decrypt_bytes(encrypt_bytes(b"x", KEY), key)


def test_new_data_keys_are_random_and_256_bits() -> None:
    keys = {new_data_key() for _ in range(50)}
    assert len(keys) == 50
    assert {len(k) for k in keys} == {DATA_KEY_BYTES} == {32}


# -- damage -----------------------------------------------------------------------------------------

Tamper = Callable[[bytearray], bytes]
BLOB_SIZE = 4 * CHUNK + 9  # five chunks: four full and a short final one


def flip(position: int) -> Tamper:
    def tamper(blob: bytearray) -> bytes:
        blob[position] ^= 0x01
        return bytes(blob)

    return tamper


def swap_chunks_1_and_2(blob: bytearray) -> bytes:
    first, second = bytes(blob[chunk_span(0)]), bytes(blob[chunk_span(1)])
    blob[chunk_span(0)], blob[chunk_span(1)] = second, first
    return bytes(blob)


def drop_chunk_2(blob: bytearray) -> bytes:
    del blob[chunk_span(1)]
    return bytes(blob)


def cut_in_chunk_3(blob: bytearray) -> bytes:
    return bytes(blob[: chunk_span(2).start + 30])


def cut_in_the_last_tag(blob: bytearray) -> bytes:
    return bytes(blob[:-10])


CASES: list[tuple[str, Tamper, str, str]] = [
    ("byte in chunk 2", flip(chunk_span(1).start + 5), "authentication", "wrong key or modified data in chunk 2"),
    ("tag of chunk 1", flip(chunk_span(0).stop - 1), "authentication", "wrong key or modified data in chunk 1"),
    ("byte in the final chunk", flip(-3), "authentication", "chunk 5"),
    ("swapped chunks 1 and 2", swap_chunks_1_and_2, "authentication", "modified data in chunk 1"),
    ("dropped chunk 2", drop_chunk_2, "authentication", "modified data in chunk 2"),
    ("nonce prefix in the header", flip(15), "authentication", "modified data in chunk 1"),
    (
        "chunk size in the header",
        lambda b: bytes(b[:9] + (CHUNK * 2).to_bytes(4, "big") + b[13:]),
        "authentication",
        "modified data in chunk 1",
    ),
    ("magic", flip(1), "bad_magic", "not a Charter encrypted file \\(bad magic\\)"),
    ("version", flip(8), "unsupported_version", "unsupported format version 0"),
    ("cut in the header", lambda b: bytes(b[:14]), "truncated", "header is incomplete"),
    ("header only", lambda b: bytes(b[:HEADER_SIZE]), "truncated", "the final chunk is missing"),
    ("empty file", lambda b: b"", "truncated", "the file is empty"),
    ("cut in chunk 3", cut_in_chunk_3, "authentication", "truncated data in chunk 3 \\(the last in the file\\)"),
    ("cut in the last tag", cut_in_the_last_tag, "truncated", "chunk 5 is incomplete"),
    ("final chunk dropped", lambda b: bytes(b[: chunk_span(4).start]), "truncated", "the final chunk is missing"),
    ("byte appended", lambda b: bytes(b + b"\x00"), "authentication", "chunk 5"),
    ("chunk appended", lambda b: bytes(b + b[chunk_span(1)]), "authentication", "chunk 5"),
    ("not encrypted at all", lambda b: data_of(200), "bad_magic", "bad magic"),
]


@pytest.mark.parametrize(("case", "tamper", "reason", "message"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_damage_is_detected_with_a_clear_reason(
    case: str, tamper: Tamper, reason: str, message: str, decrypt: Decrypt
) -> None:
    blob = encrypt_bytes(data_of(BLOB_SIZE), KEY, chunk_size=CHUNK)
    assert decrypt(blob, KEY, b"") == data_of(BLOB_SIZE)  # the untouched file decrypts
    with pytest.raises(DecryptionFailed, match=message) as caught:
        decrypt(tamper(bytearray(blob)), KEY, b"")
    assert caught.value.details["reason"] == reason
    assert caught.value.code == "decryption_failed"


@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_the_header_is_authenticated_even_where_it_does_not_change_the_layout(decrypt: Decrypt) -> None:
    # One short chunk reads the same whatever the chunk size says: only the associated data catches the change.
    blob = bytearray(encrypt_bytes(b"short", KEY, chunk_size=CHUNK))
    blob[9:13] = (CHUNK * 2).to_bytes(4, "big")
    with pytest.raises(DecryptionFailed, match="wrong key or modified data in chunk 1"):
        decrypt(bytes(blob), KEY, b"")


@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_truncation_at_a_chunk_boundary_says_the_final_chunk_is_missing(decrypt: Decrypt) -> None:
    blob = encrypt_bytes(data_of(4 * CHUNK), KEY, chunk_size=CHUNK)  # four full chunks, the last one final
    for kept in (1, 2, 3):
        with pytest.raises(DecryptionFailed, match="the file is truncated: the final chunk is missing") as caught:
            decrypt(blob[: chunk_span(kept).start], KEY, b"")
        assert caught.value.details == {"reason": "truncated", "chunk": kept + 1}


@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_a_chunk_after_a_full_final_chunk_is_data_after_the_final_chunk(decrypt: Decrypt) -> None:
    blob = encrypt_bytes(data_of(4 * CHUNK), KEY, chunk_size=CHUNK)
    with pytest.raises(DecryptionFailed, match="data after the final chunk \\(chunk 4\\)") as caught:
        decrypt(blob + blob[chunk_span(1)], KEY, b"")
    assert caught.value.details["reason"] == "trailing_data"
    with pytest.raises(DecryptionFailed, match="data after the final chunk"):
        decrypt(blob + b"\x00" * 3, KEY, b"")


@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_wrong_key_and_aad_mismatch_fail_on_the_first_chunk(decrypt: Decrypt) -> None:
    blob = encrypt_bytes(data_of(BLOB_SIZE), KEY, aad=b"sha256-of-a", chunk_size=CHUNK)
    for key, aad in [(new_data_key(), b"sha256-of-a"), (KEY, b"sha256-of-b"), (KEY, b"")]:
        with pytest.raises(DecryptionFailed, match="Cannot decrypt: wrong key or modified data in chunk 1") as caught:
            decrypt(blob, key, aad)
        assert caught.value.details == {"reason": "authentication", "chunk": 1}
    empty = encrypt_bytes(b"", KEY, aad=b"x")
    with pytest.raises(DecryptionFailed, match="chunk 1"):
        decrypt(empty, KEY, b"y")


def test_the_blob_name_appears_in_messages() -> None:
    blob = encrypt_bytes(b"data", KEY)
    with pytest.raises(DecryptionFailed, match=r"^Cannot decrypt models/7/weights\.bin: wrong key") as caught:
        decrypt_bytes(blob, new_data_key(), name="models/7/weights.bin")
    assert caught.value.details["name"] == "models/7/weights.bin"


def test_decrypt_stream_writes_only_authenticated_chunks() -> None:
    data = data_of(BLOB_SIZE)
    blob = bytearray(encrypt_bytes(data, KEY, chunk_size=CHUNK))
    blob[chunk_span(2).start] ^= 1
    out = io.BytesIO()
    with pytest.raises(DecryptionFailed, match="chunk 3"):
        decrypt_stream(io.BytesIO(bytes(blob)), out, KEY)
    assert out.getvalue() == data[: 2 * CHUNK]  # chunks 1 and 2, nothing of chunk 3


def test_decrypt_chunks_yields_the_last_chunk_only_after_the_final_flag() -> None:
    data = data_of(4 * CHUNK)
    blob = encrypt_bytes(data, KEY, chunk_size=CHUNK)
    seen: list[bytes] = []
    with pytest.raises(DecryptionFailed, match="final chunk is missing"):
        for chunk in decrypt_chunks(io.BytesIO(blob[: chunk_span(3).start]), KEY):
            seen.append(chunk)
    assert b"".join(seen) == data[: 2 * CHUNK]  # chunk 3 was authentic, but never yielded as the end


# -- files ------------------------------------------------------------------------------------------


def test_file_round_trip_is_private_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    data = data_of(5 * CHUNK + 7)
    (tmp_path / "plain.bin").write_bytes(data)
    result = encrypt_file(tmp_path / "plain.bin", tmp_path / "blob.enc", KEY, aad=b"a", chunk_size=CHUNK)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.ciphertext_size == (tmp_path / "blob.enc").stat().st_size
    back = decrypt_file(str(tmp_path / "blob.enc"), str(tmp_path / "back.bin"), KEY, aad=b"a", fsync=False)
    assert (tmp_path / "back.bin").read_bytes() == data
    assert back.plaintext_size == len(data)
    assert (tmp_path / "back.bin").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.bin", "blob.enc", "plain.bin"]


def test_encrypt_file_replaces_an_existing_file_atomically(tmp_path: Path) -> None:
    (tmp_path / "plain.bin").write_bytes(b"new")
    (tmp_path / "blob.enc").write_bytes(b"old")
    encrypt_file(tmp_path / "plain.bin", tmp_path / "blob.enc", KEY)
    assert decrypt_bytes((tmp_path / "blob.enc").read_bytes(), KEY) == b"new"


def test_encrypt_file_leaves_nothing_when_the_source_fails(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        encrypt_file(tmp_path / "missing", tmp_path / "blob.enc", KEY)
    (tmp_path / "plain.bin").write_bytes(b"x" * 1000)
    with pytest.raises(ValueError, match="chunk_size"):
        encrypt_file(tmp_path / "plain.bin", tmp_path / "blob.enc", KEY, chunk_size=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.bin"]


@pytest.mark.parametrize(("case", "tamper", "reason", "message"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_decrypt_file_leaves_no_partial_output_and_no_temporary_file(
    tmp_path: Path, case: str, tamper: Tamper, reason: str, message: str, existing: bool
) -> None:
    blob = encrypt_bytes(data_of(BLOB_SIZE), KEY, chunk_size=CHUNK)
    (tmp_path / "blob.enc").write_bytes(tamper(bytearray(blob)))
    target = tmp_path / "out.bin"
    if existing:
        target.write_bytes(b"previous content")
    with pytest.raises(DecryptionFailed, match=message):
        decrypt_file(tmp_path / "blob.enc", target, KEY)
    expected = ["blob.enc", "out.bin"] if existing else ["blob.enc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == expected
    if existing:
        assert target.read_bytes() == b"previous content"


def test_decrypt_file_with_a_wrong_key_or_aad_leaves_nothing(tmp_path: Path) -> None:
    encrypt_file_path = tmp_path / "blob.enc"
    encrypt_file_path.write_bytes(encrypt_bytes(data_of(BLOB_SIZE), KEY, aad=b"a", chunk_size=CHUNK))
    for key, aad in [(new_data_key(), b"a"), (KEY, b"b")]:
        with pytest.raises(DecryptionFailed, match="chunk 1"):
            decrypt_file(encrypt_file_path, tmp_path / "out.bin", key, aad=aad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.enc"]
