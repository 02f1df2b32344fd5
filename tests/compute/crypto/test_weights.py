"""Encrypted numpy arrays: dtype, shape and order round-trip, in memory and through files."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from charter.compute.crypto import envelope
from charter.compute.crypto.envelope import (
    HEADER_SIZE,
    TAG_SIZE,
    decrypt_file,
    encrypt_bytes,
    encrypt_file,
    new_data_key,
)
from charter.compute.crypto.weights import (
    decrypt_weights,
    encrypt_weights,
    load_encrypted_array,
    save_encrypted_array,
)
from charter.errors import DecryptionFailed, InvalidInput

KEY = bytes(range(32))
STRUCTURED = np.dtype([("id", "<i8"), ("score", ">f4"), ("name", "S5"), ("flags", "?", (2,))])


def arrays() -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(7)
    matrix = rng.standard_normal((6, 5))
    structured = np.zeros(4, dtype=STRUCTURED)
    structured["id"] = [1, 2, 3, 4]
    structured["score"] = [0.5, -1.5, 2.25, 3.0]
    structured["name"] = [b"a", b"bb", b"ccc", b"dddd"]
    structured["flags"] = [[True, False], [False, True], [True, True], [False, False]]
    return {
        "float64 2-d": matrix,
        "float32": rng.standard_normal(100).astype(np.float32),
        "float16": rng.standard_normal((3, 7)).astype(np.float16),
        "int8": np.arange(-128, 128, dtype=np.int8),
        "uint64": np.arange(50, dtype=np.uint64) * (2**60),
        "bool": rng.random((4, 4)) > 0.5,
        "complex128": rng.standard_normal(10) + 1j * rng.standard_normal(10),
        "complex64 big-endian": (rng.standard_normal(9) + 1j).astype(">c8"),
        "big-endian float64": matrix.astype(">f8"),
        "big-endian int32 3-d": np.arange(60, dtype=">i4").reshape(3, 4, 5),
        "unicode": np.array(["weights", "bias", "ünïcode"]),
        "bytes": np.array([b"a", b"bc", b""]),
        "datetime64": np.array(["2024-01-01", "2025-06-30"], dtype="datetime64[D]"),
        "structured": structured,
        "0-d": np.array(3.25),
        "0-d big-endian int": np.array(-7, dtype=">i2"),
        "empty": np.zeros((0,)),
        "empty 2-d": np.zeros((3, 0), dtype=np.int16),
        "empty structured": np.zeros((0, 2), dtype=STRUCTURED),
        "fortran order": np.asfortranarray(matrix),
        "fortran order 3-d": np.asfortranarray(np.arange(60, dtype=np.float32).reshape(3, 4, 5)),
        "non-contiguous slice": np.arange(400, dtype=np.float64).reshape(20, 20)[::3, 1::2],
        "transposed 3-d": np.arange(120, dtype=np.int32).reshape(4, 5, 6).transpose(2, 0, 1),
        "negative strides": np.arange(100)[::-1],
        "non-contiguous structured": structured[::2],
        "read-only": np.frombuffer(bytes(range(64)), dtype=np.uint16),
    }


CASES = arrays()


def assert_same(back: np.ndarray[Any, Any], original: np.ndarray[Any, Any]) -> None:
    assert back.dtype == original.dtype
    assert back.shape == original.shape
    assert np.isfortran(back) == np.isfortran(original)
    assert back.tobytes() == original.tobytes()  # bit-exact (NaN payloads, -0.0, padding of strings)
    assert back.flags.writeable


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("chunk_size", [16, 64, envelope.DEFAULT_CHUNK])
def test_round_trip_in_memory(name: str, chunk_size: int) -> None:
    original = CASES[name]
    blob = encrypt_weights(original, KEY, aad=b"model-7", chunk_size=chunk_size)
    assert_same(decrypt_weights(blob, KEY, aad=b"model-7"), original)


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_through_a_file(tmp_path: Path, name: str) -> None:
    original = CASES[name]
    result = save_encrypted_array(original, tmp_path / "w.enc", KEY, chunk_size=64, fsync=False)
    assert result.ciphertext_size == (tmp_path / "w.enc").stat().st_size
    assert_same(load_encrypted_array(tmp_path / "w.enc", KEY), original)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.enc"]


@pytest.mark.parametrize("name", ["float64 2-d", "fortran order", "structured", "non-contiguous slice", "0-d"])
def test_the_plaintext_is_an_npy_file(tmp_path: Path, name: str) -> None:
    original = CASES[name]
    result = save_encrypted_array(original, tmp_path / "w.enc", KEY, chunk_size=64)
    decrypt_file(tmp_path / "w.enc", tmp_path / "w.npy", KEY)
    assert_same(np.load(tmp_path / "w.npy", allow_pickle=False), original)
    assert result.plaintext_size == (tmp_path / "w.npy").stat().st_size
    assert result.sha256 == hashlib.sha256((tmp_path / "w.npy").read_bytes()).hexdigest()


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_an_encrypted_npy_file_loads_as_an_array(tmp_path: Path, version: tuple[int, int]) -> None:
    original = CASES["big-endian int32 3-d"]
    with open(tmp_path / "w.npy", "wb") as f:
        np.lib.format.write_array(f, original, version=version)
    encrypt_file(tmp_path / "w.npy", tmp_path / "w.enc", KEY, chunk_size=32)
    assert_same(load_encrypted_array(tmp_path / "w.enc", KEY), original)


def test_a_large_array_spans_many_chunks_and_reads_straight_into_its_memory(tmp_path: Path) -> None:
    original = np.random.default_rng(1).standard_normal((300, 257))  # ~600 KB over 64 KiB chunks
    blob = encrypt_weights(original, KEY, chunk_size=65536)
    assert_same(decrypt_weights(blob, KEY), original)
    save_encrypted_array(original.T, tmp_path / "w.enc", KEY, chunk_size=65536)  # Fortran order
    assert_same(load_encrypted_array(tmp_path / "w.enc", KEY), original.T)


def test_the_copying_path_gives_the_same_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envelope, "_HAS_INTO", False)
    for original in (CASES["structured"], CASES["fortran order"], CASES["non-contiguous slice"]):
        assert_same(decrypt_weights(encrypt_weights(original, KEY, chunk_size=16), KEY), original)


@pytest.mark.parametrize(
    "array",
    [
        np.array([{"a": 1}, None], dtype=object),
        np.zeros(3, dtype=[("x", "<f8"), ("obj", "O")]),
        np.empty((0,), dtype=object),
    ],
    ids=["object", "structured with an object field", "empty object"],
)
def test_object_arrays_are_refused(tmp_path: Path, array: np.ndarray[Any, Any]) -> None:
    with pytest.raises(InvalidInput, match=r"Python objects .* pickle"):
        encrypt_weights(array, KEY)
    with pytest.raises(InvalidInput, match="Python objects"):
        save_encrypted_array(array, tmp_path / "w.enc", KEY)
    assert list(tmp_path.iterdir()) == []


def test_an_encrypted_object_npy_is_refused_when_loading() -> None:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array([1, "a"], dtype=object), allow_pickle=True)
    blob = encrypt_bytes(buffer.getvalue(), KEY)
    with pytest.raises(InvalidInput, match="Python objects"):
        decrypt_weights(blob, KEY)


def test_a_list_is_not_an_array() -> None:
    with pytest.raises(InvalidInput, match="Expected a numpy array, got list"):
        encrypt_weights([1.0, 2.0], KEY)  # type: ignore[arg-type]


def test_decrypted_data_that_is_not_an_array_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"not an array in \.npy format"):
        decrypt_weights(encrypt_bytes(b"just some bytes, not an array", KEY), KEY)


@pytest.mark.parametrize("change", ["shorter", "longer"])
def test_an_array_whose_data_does_not_match_its_header_is_refused(change: str) -> None:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.arange(10, dtype=np.int64))
    plain = buffer.getvalue()
    plain = plain[:-8] if change == "shorter" else plain + b"\x00" * 8
    with pytest.raises(InvalidInput, match=change):
        decrypt_weights(encrypt_bytes(plain, KEY, chunk_size=32), KEY)


def test_wrong_key_and_aad_are_refused() -> None:
    blob = encrypt_weights(CASES["float64 2-d"], KEY, aad=b"sha-a")
    with pytest.raises(DecryptionFailed, match="wrong key or modified data in chunk 1"):
        decrypt_weights(blob, new_data_key(), aad=b"sha-a")
    with pytest.raises(DecryptionFailed, match="chunk 1"):
        decrypt_weights(blob, KEY, aad=b"sha-b")


def test_damage_in_the_array_data_is_detected(tmp_path: Path) -> None:
    original = np.arange(1000, dtype=np.float64)
    blob = bytearray(encrypt_weights(original, KEY, chunk_size=256))
    third_chunk = HEADER_SIZE + 2 * (256 + TAG_SIZE)
    blob[third_chunk + 10] ^= 0x40
    with pytest.raises(DecryptionFailed, match="chunk 3"):
        decrypt_weights(bytes(blob), KEY, name="weights.npy")
    (tmp_path / "w.enc").write_bytes(bytes(blob))
    with pytest.raises(DecryptionFailed, match=r"^Cannot decrypt weights\.npy: wrong key or modified data in chunk 3"):
        load_encrypted_array(tmp_path / "w.enc", KEY, name="weights.npy")


@pytest.mark.parametrize("load", ["memory", "file"])
def test_a_truncated_array_is_detected(tmp_path: Path, load: str) -> None:
    original = np.arange(64, dtype=np.int32)  # 128-byte header + 256 bytes: exactly 3 chunks of 128
    blob = encrypt_weights(original, KEY, chunk_size=128)
    assert len(blob) == HEADER_SIZE + 3 * (128 + TAG_SIZE)
    cut = blob[: HEADER_SIZE + 2 * (128 + TAG_SIZE)]
    with pytest.raises(DecryptionFailed, match="final chunk is missing"):
        if load == "memory":
            decrypt_weights(cut, KEY)
        else:
            (tmp_path / "w.enc").write_bytes(cut)
            load_encrypted_array(tmp_path / "w.enc", KEY)


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_no_whole_copy_of_the_array_is_made(layout: str) -> None:
    """Peak traced memory (numpy's allocations are traced too) stays near the one unavoidable buffer:
    the returned ciphertext when encrypting, the returned array when decrypting."""
    base = np.random.default_rng(2).standard_normal((2048, 2048))  # 32 MiB; strided: 16 MiB
    original = {"C": base, "F": np.asfortranarray(base), "strided": base[:, ::2]}[layout]
    size = original.nbytes
    slack = 6 * envelope.DEFAULT_CHUNK  # chunk buffers, and blocks gathered from a strided array

    def peak(action: Any) -> tuple[int, Any]:
        tracemalloc.start()
        try:
            result = action()
            return tracemalloc.get_traced_memory()[1], result
        finally:
            tracemalloc.stop()

    control, _ = peak(lambda: original.tobytes())  # the naive way: a measurable whole copy
    assert control >= size
    used, blob = peak(lambda: encrypt_weights(original, KEY))
    assert len(blob) > size
    assert used < size + slack  # the ciphertext itself, nothing more
    used, back = peak(lambda: decrypt_weights(blob, KEY))
    assert used < size + slack
    assert_same(back, np.ascontiguousarray(original) if layout == "strided" else original)
