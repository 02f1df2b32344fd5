"""Encrypted numpy arrays: dtype, shape and memory order survive, in constant extra memory.

The plaintext is exactly a ``.npy`` file (format 2.0 header, then the array's bytes), so an
encrypted array decrypted with :func:`~charter.compute.crypto.envelope.decrypt_file` is
loadable by ``numpy.load``, and an ``.npy`` file (format 1.0 or 2.0) encrypted with
:func:`~charter.compute.crypto.envelope.encrypt_file` loads with :func:`load_encrypted_array`.

Every dtype ``.npy`` can describe without pickle round-trips: booleans, integers, floats
(float16 too), complex numbers, strings, datetimes, either byte order, structured dtypes
without Python objects; so do 0-d and empty shapes and Fortran order. Arrays of Python
objects (``dtype.hasobject``) are refused: storing them needs pickle, which runs code when
loaded.

Memory: the array's own memory is sealed chunk by chunk, never copied whole (no
``tobytes()``). A C- or Fortran-contiguous array is read in place; any other (a slice with
steps, a transposed view) is gathered in C order one chunk-sized block at a time, as
``numpy.save`` does. Loading allocates the array once and decrypts into it directly.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.lib import format as npy

from charter.compute.crypto.envelope import (
    DEFAULT_CHUNK,
    BytesLike,
    EncryptResult,
    StrPath,
    _plain_reader_of_blob,
    _plain_reader_of_stream,
    _PlainReader,
    _seal_to_bytes,
    _seal_to_file,
)
from charter.errors import InvalidInput

__all__ = ["decrypt_weights", "encrypt_weights", "load_encrypted_array", "save_encrypted_array"]

#: Largest ``.npy`` header accepted when loading (numpy's own default, 10,000 bytes, is too small
#: for wide structured dtypes; the header is authenticated, so a larger bound is safe).
MAX_HEADER_BYTES = 1024 * 1024


def encrypt_weights(
    array: np.ndarray[Any, Any], data_key: bytes, *, aad: bytes = b"", chunk_size: int = DEFAULT_CHUNK
) -> bytes:
    """The encrypted ``.npy`` form of ``array``, in memory (one output allocation)."""
    header, pieces, total = _serialise(array, chunk_size)
    return _seal_to_bytes(_chain(memoryview(header), pieces), total, data_key, aad=aad, chunk_size=chunk_size)


def decrypt_weights(
    blob: BytesLike, data_key: bytes, *, aad: bytes = b"", name: str | None = None
) -> np.ndarray[Any, Any]:
    """The array encrypted by :func:`encrypt_weights`, with its dtype, shape and order."""
    return _read_array(_plain_reader_of_blob(blob, data_key, aad=aad, name=name))


def save_encrypted_array(
    array: np.ndarray[Any, Any],
    path: StrPath,
    data_key: bytes,
    *,
    aad: bytes = b"",
    chunk_size: int = DEFAULT_CHUNK,
    fsync: bool = True,
) -> EncryptResult:
    """Encrypt ``array`` into a file, streaming, atomically (see ``encrypt_file``).

    The result's ``sha256`` is that of the plaintext ``.npy`` bytes.
    """
    header, pieces, total = _serialise(array, chunk_size)
    return _seal_to_file(
        _chain(memoryview(header), pieces), total, path, data_key, aad=aad, chunk_size=chunk_size, fsync=fsync
    )


def load_encrypted_array(
    path: StrPath, data_key: bytes, *, aad: bytes = b"", name: str | None = None
) -> np.ndarray[Any, Any]:
    """The array in an encrypted file, decrypted straight into its own memory."""
    with open(path, "rb", buffering=0) as src:
        return _read_array(_plain_reader_of_stream(src, data_key, aad=aad, name=name))


def _serialise(array: np.ndarray[Any, Any], chunk_size: int) -> tuple[bytes, Iterator[memoryview], int]:
    """The ``.npy`` header, the array's bytes as consecutive pieces, and the total size."""
    if not isinstance(array, np.ndarray):
        raise InvalidInput(f"Expected a numpy array, got {type(array).__name__}", details={"field": "array"})
    if array.dtype.hasobject:
        raise InvalidInput(
            f"Arrays of Python objects (dtype {array.dtype}) cannot be encrypted: they can only be stored "
            "with pickle, which runs code when loaded. Convert to a numeric, string or structured dtype.",
            details={"field": "array", "dtype": str(array.dtype)},
        )
    buffer = io.BytesIO()
    header_data = npy.header_data_from_array_1_0(array)
    npy.write_array_header_2_0(buffer, header_data)
    header = buffer.getvalue()
    return header, _array_pieces(array, bool(header_data["fortran_order"]), chunk_size), len(header) + array.nbytes


def _array_pieces(array: np.ndarray[Any, Any], fortran_order: bool, chunk_size: int) -> Iterator[memoryview]:
    if array.nbytes == 0:
        return
    if array.flags.c_contiguous or array.flags.f_contiguous:
        yield _bytes_of(array, fortran_order)
        return
    # Gathered in C order, a block at a time; each block is copied out of the iterator's
    # buffer, which it reuses, because the sealer may still be hashing the previous block.
    per_block = max(1, chunk_size // array.itemsize)
    blocks = np.nditer(array, flags=["external_loop", "buffered", "zerosize_ok"], buffersize=per_block, order="C")
    for block in blocks:
        yield np.array(block, copy=True).view(np.uint8).data


def _bytes_of(array: np.ndarray[Any, Any], fortran_order: bool) -> memoryview:
    """The memory of a contiguous array as a flat byte view, in its storage order (no copy)."""
    flat = array.reshape(-1, order="F" if fortran_order else "C")
    return flat.view(np.uint8).data


def _read_array(reader: _PlainReader) -> np.ndarray[Any, Any]:
    try:
        version = npy.read_magic(reader)
        if version == (1, 0):
            shape, fortran_order, dtype = npy.read_array_header_1_0(reader, max_header_size=MAX_HEADER_BYTES)
        elif version == (2, 0):
            shape, fortran_order, dtype = npy.read_array_header_2_0(reader, max_header_size=MAX_HEADER_BYTES)
        else:
            raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported (1.0 and 2.0 are)")
    except ValueError as exc:
        raise InvalidInput(f"The decrypted data is not an array in .npy format: {exc}") from None
    if dtype.hasobject:
        raise InvalidInput(
            f"The decrypted array holds Python objects (dtype {dtype}); refused: loading it would need pickle."
        )
    array = np.empty(shape, dtype=dtype, order="F" if fortran_order else "C")
    target = _bytes_of(array, fortran_order) if array.nbytes else memoryview(bytearray(0))
    got = 0
    while got < len(target):
        count = reader.readinto(target[got:])
        if not count:
            raise InvalidInput(f"The decrypted array is shorter than its header says ({got} of {len(target)} bytes).")
        got += count
    if reader.read(1):  # also makes the reader verify the final chunk
        raise InvalidInput("The decrypted array is longer than its header says: more data follows it.")
    return array


def _chain(first: memoryview, rest: Iterator[memoryview]) -> Iterator[memoryview]:
    yield first
    yield from rest
