"""Streaming envelope encryption: AES-256-GCM in the STREAM construction, in constant memory at any size.

Each artifact gets a fresh 256-bit data key (:func:`new_data_key`). The caller
wraps it with the master key ring (:mod:`charter.security.masterkeys`) and keeps
the wrapped key, with the master key's id, in the database row of the blob,
never in the file: a key rotation is then a database update, for files and S3
objects alike. The file holds only what decryption needs besides the key.

File layout, format version 1 (integers big-endian)::

    offset  size  field
    0       8     magic b"\\x89CHRENC\\n"
    8       1     format version: 1
    9       4     chunk size C: plaintext bytes per chunk, MIN_CHUNK..MAX_CHUNK
    13      7     nonce prefix P: random, one per file
    20      ...   chunks 0 .. n-1, each the AES-256-GCM ciphertext of its plaintext and a 16-byte tag

Chunk ``i`` is sealed with the 12-byte nonce ``P ‖ uint32(i) ‖ last`` (``last`` is 1 for the
final chunk, 0 for the others) and the associated data ``header ‖ aad``, where ``aad`` is
the caller's (for example the plaintext SHA-256 that the blob is stored under). Every chunk
holds exactly C bytes of plaintext except the final one, which holds 0 to C bytes; an empty
plaintext is a single, empty, final chunk. The ciphertext of ``s`` plaintext bytes is therefore
``20 + s + 16 * max(1, ceil(s / C))`` bytes (:func:`encrypted_size`).

What decryption detects, and reports as :class:`~charter.errors.DecryptionFailed`:

* a wrong key, or any modified byte of a chunk: the chunk's tag does not verify (GCM cannot
  tell the two apart, so the message names both);
* chunks reordered, duplicated or dropped: the counter in the nonce no longer matches;
* truncation at a chunk boundary: the chunk now last was sealed as not final;
* data appended after the final chunk: the final flag is set on a chunk that is not last;
* a modified header: the header is part of every chunk's associated data (magic, version
  and chunk size are also checked first, for a clearer message);
* a blob swapped for another one, when the caller binds it with ``aad``.

Plaintext is released chunk by chunk, each only after its tag verified; the end of the
plaintext only after the final chunk verified. Memory is a few chunks whatever the size.
Encryption also computes the SHA-256 of the plaintext on the way, on a helper thread so
that it overlaps reading, sealing and writing (hashlib and AES-GCM release the GIL).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import io
import mmap
import os
import secrets
import tempfile
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from charter.errors import DecryptionFailed

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "DATA_KEY_BYTES",
    "DEFAULT_CHUNK",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_CHUNK",
    "MIN_CHUNK",
    "TAG_SIZE",
    "DecryptResult",
    "EncryptResult",
    "EncryptingReader",
    "decrypt_bytes",
    "decrypt_chunks",
    "decrypt_file",
    "decrypt_stream",
    "encrypt_bytes",
    "encrypt_file",
    "encrypt_stream",
    "encrypted_size",
    "new_data_key",
]

MAGIC = b"\x89CHRENC\n"
FORMAT_VERSION = 1
NONCE_PREFIX_SIZE = 7
HEADER_SIZE = len(MAGIC) + 1 + 4 + NONCE_PREFIX_SIZE
TAG_SIZE = 16
DATA_KEY_BYTES = 32
DEFAULT_CHUNK = 1024 * 1024
#: Bounds on the chunk size: a reader allocates two chunks, so a damaged or hostile header must not
#: make it allocate gigabytes; below 16 bytes the tags would outweigh the data.
MIN_CHUNK = 16
MAX_CHUNK = 64 * 1024 * 1024
#: The counter is 32 bits: a nonce must never repeat under one key.
MAX_CHUNKS = 1 << 32
#: Output buffers at least this large are advised to use huge pages.
_HUGE_PAGE_MIN = 8 * 1024 * 1024

BytesLike = bytes | bytearray | memoryview
StrPath = str | os.PathLike[str]
ReadInto = Callable[[memoryview], int]
T = TypeVar("T")

# Recent cryptography releases seal and open into a caller's buffer (``encrypt_into``), so no
# chunk is allocated per call; older ones (pyproject allows >= 42) take the copying path.
# The tests run both.
_HAS_INTO = hasattr(AESGCM, "encrypt_into")


@dataclass(frozen=True)
class EncryptResult:
    plaintext_size: int
    ciphertext_size: int
    #: Hex SHA-256 of the plaintext, computed while it streamed by.
    sha256: str


@dataclass(frozen=True)
class DecryptResult:
    plaintext_size: int
    ciphertext_size: int


def new_data_key() -> bytes:
    """A fresh random 256-bit data key: one per artifact, never reused."""
    return secrets.token_bytes(DATA_KEY_BYTES)


def encrypted_size(plaintext_size: int, *, chunk_size: int = DEFAULT_CHUNK) -> int:
    """The exact ciphertext size of ``plaintext_size`` bytes: ``20 + s + 16 * max(1, ceil(s / C))``."""
    if plaintext_size < 0:
        raise ValueError(f"plaintext_size must be >= 0, got {plaintext_size}")
    _check_chunk_size(chunk_size)
    return HEADER_SIZE + plaintext_size + TAG_SIZE * _chunk_count(plaintext_size, chunk_size)


# -- encryption -------------------------------------------------------------------------------------


def encrypt_stream(
    src: BinaryIO, dst: BinaryIO, data_key: bytes, *, aad: bytes = b"", chunk_size: int = DEFAULT_CHUNK
) -> EncryptResult:
    """Encrypt everything ``src`` yields into ``dst``, chunk by chunk, and hash the plaintext on the way."""
    tally = _Tally()
    for piece in _seal(_read_chunks(_readinto_of(src), chunk_size), _Sealer(data_key, aad, chunk_size), tally):
        _write_all(dst, piece)
    return tally.result()


def encrypt_file(
    src_path: StrPath,
    dst_path: StrPath,
    data_key: bytes,
    *,
    aad: bytes = b"",
    chunk_size: int = DEFAULT_CHUNK,
    fsync: bool = True,
) -> EncryptResult:
    """Encrypt a file into ``dst_path`` atomically (a temporary file in the same folder, then a rename).

    On any failure ``dst_path`` is left as it was and the temporary file is removed. The new
    file is readable by its owner only; ``fsync=False`` skips flushing it to the disk first.
    """
    with open(src_path, "rb", buffering=0) as src:
        return _atomic_write(
            dst_path, lambda dst: encrypt_stream(src, dst, data_key, aad=aad, chunk_size=chunk_size), fsync=fsync
        )


def encrypt_bytes(data: BytesLike, data_key: bytes, *, aad: bytes = b"", chunk_size: int = DEFAULT_CHUNK) -> bytes:
    """The encrypted form of ``data`` (the same format as a file); one output allocation, no copy of the input."""
    view = memoryview(data).cast("B")
    return _seal_to_bytes([view], len(view), data_key, aad=aad, chunk_size=chunk_size)


class EncryptingReader(io.RawIOBase):
    """A readable stream of the ciphertext of ``src``, produced as it is read.

    For consumers that pull, such as an S3 upload or ``ArtifactStore.put``, so that no
    encrypted copy is written first. Its length is :func:`encrypted_size` of the plaintext;
    :attr:`result` is available once it has been read to the end. Closing it does not
    close ``src``. Where a ``BinaryIO`` is expected, wrap it: ``io.BufferedReader(reader)``.
    """

    def __init__(self, src: BinaryIO, data_key: bytes, *, aad: bytes = b"", chunk_size: int = DEFAULT_CHUNK) -> None:
        super().__init__()
        self._tally = _Tally()
        self._pieces = _seal(
            _read_chunks(_readinto_of(src), chunk_size), _Sealer(data_key, aad, chunk_size), self._tally
        )
        self._pending = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            if self._done:
                return 0
            try:
                self._pending = next(self._pieces)
            except StopIteration:
                self._done = True
                return 0
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        pieces = getattr(self, "_pieces", None)  # absent when __init__ raised
        if pieces is not None:
            pieces.close()  # stops the hashing thread when the reader is dropped half-way
        super().close()

    @property
    def result(self) -> EncryptResult:
        if not self._done:
            raise RuntimeError("EncryptingReader.result is known only once the stream has been read to the end")
        return self._tally.result()


# -- decryption -------------------------------------------------------------------------------------


def decrypt_stream(
    src: BinaryIO, dst: BinaryIO, data_key: bytes, *, aad: bytes = b"", name: str | None = None
) -> DecryptResult:
    """Decrypt ``src`` into ``dst``, writing each chunk once its tag verified.

    Raises :class:`~charter.errors.DecryptionFailed` on the first chunk that fails; what was
    written before stays in ``dst`` (use :func:`decrypt_file` when a failure must leave nothing).
    ``name`` (a blob's name) is included in error messages.
    """
    readinto = _readinto_of(src)
    opener = _Opener.read(readinto, data_key, aad, name)
    out = memoryview(bytearray(opener.chunk_size))
    plaintext = 0
    ciphertext = HEADER_SIZE
    for index, sealed, final in opener.stream_chunks(readinto):
        count = opener.open_into(index, sealed, final, out)
        _write_all(dst, out[:count])
        plaintext += count
        ciphertext += len(sealed)
    return DecryptResult(plaintext_size=plaintext, ciphertext_size=ciphertext)


def decrypt_chunks(src: BinaryIO, data_key: bytes, *, aad: bytes = b"", name: str | None = None) -> Iterator[bytes]:
    """The plaintext of ``src`` chunk by chunk, each authenticated before it is yielded.

    The header is read and the first chunk authenticated before this returns, so a wrong key
    or a damaged header raises here, before a caller starts, say, an HTTP response. The last
    chunk is yielded only after its final flag verified; a missing final chunk raises
    :class:`~charter.errors.DecryptionFailed` after the chunks before it were yielded.
    """
    readinto = _readinto_of(src)
    opener = _Opener.read(readinto, data_key, aad, name)
    sealed = opener.stream_chunks(readinto)
    first = opener.open(*next(sealed))
    return _opened(first, opener, sealed)


def decrypt_file(
    src_path: StrPath,
    dst_path: StrPath,
    data_key: bytes,
    *,
    aad: bytes = b"",
    name: str | None = None,
    fsync: bool = True,
) -> DecryptResult:
    """Decrypt a file into ``dst_path`` atomically: on any failure ``dst_path`` is untouched (or not
    created) and no temporary file remains. The new file is readable by its owner only."""
    with open(src_path, "rb", buffering=0) as src:
        return _atomic_write(dst_path, lambda dst: decrypt_stream(src, dst, data_key, aad=aad, name=name), fsync=fsync)


def decrypt_bytes(blob: BytesLike, data_key: bytes, *, aad: bytes = b"", name: str | None = None) -> bytes:
    """The plaintext of an encrypted blob held in memory; one output allocation, nothing returned on failure."""
    view = memoryview(blob).cast("B")
    opener = _Opener.parse(view[:HEADER_SIZE], data_key, aad, name)
    chunks = list(opener.blob_chunks(view))
    # An incomplete last chunk counts 0 here and raises when reached, after the chunks before it
    # (the same order of reports as a stream).
    out = io.BytesIO(bytes(sum(max(len(sealed) - TAG_SIZE, 0) for _, sealed, _ in chunks)))
    target = out.getbuffer()
    try:
        _advise_huge_pages(target)
        position = 0
        for index, sealed, final in chunks:
            position += opener.open_into(index, sealed, final, target[position:])
    finally:
        target.release()
    return out.getvalue()


# -- sealing ----------------------------------------------------------------------------------------


class _Sealer:
    """One file's header, nonce prefix and chunk counter."""

    def __init__(self, data_key: bytes, aad: bytes, chunk_size: int) -> None:
        _check_chunk_size(chunk_size)
        self.chunk_size = chunk_size
        self.prefix = secrets.token_bytes(NONCE_PREFIX_SIZE)
        self.header = MAGIC + bytes([FORMAT_VERSION]) + chunk_size.to_bytes(4, "big") + self.prefix
        self.aad = self.header + bytes(aad)
        self.aead = AESGCM(_checked_key(data_key))
        self.index = 0

    def seal_into(self, plain: memoryview, out: memoryview, *, final: bool) -> int:
        """Seal the next chunk into the front of ``out``; return the sealed length."""
        if self.index >= MAX_CHUNKS:
            raise ValueError(f"too large to encrypt with {self.chunk_size}-byte chunks (at most 2**32 chunks)")
        nonce = _nonce(self.prefix, self.index, final)
        self.index += 1
        size = len(plain) + TAG_SIZE
        if _HAS_INTO:
            return self.aead.encrypt_into(nonce, plain, self.aad, out[:size])
        out[:size] = self.aead.encrypt(nonce, bytes(plain), self.aad)
        return size


@dataclass
class _Tally:
    plaintext_size: int = 0
    ciphertext_size: int = 0
    sha256: str = ""

    def result(self) -> EncryptResult:
        return EncryptResult(self.plaintext_size, self.ciphertext_size, self.sha256)


class _Hasher:
    """SHA-256 of the plaintext, on one helper thread (updates stay in order) once there is more than a chunk."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()

    def update(self, view: memoryview, *, background: bool) -> None:
        if not background and self._pool is None:
            self._sha.update(view)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="charter-sha256")
        self._pending.append(self._pool.submit(self._sha.update, view))

    def settle(self, *, keep: int) -> None:
        """Wait until at most ``keep`` updates are outstanding (their buffers may then be reused)."""
        while len(self._pending) > keep:
            self._pending.popleft().result()

    def hexdigest(self) -> str:
        self.settle(keep=0)
        return self._sha.hexdigest()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _seal(
    chunks: Iterator[tuple[memoryview, bool]], sealer: _Sealer, tally: _Tally
) -> Generator[memoryview, None, None]:
    """The header, then each sealed chunk (a view valid until the next one is requested).

    ``chunks`` must keep a view valid until the chunk after the next one is requested: the
    hash of chunk ``i`` runs while chunk ``i`` is written and chunk ``i + 1`` is read.
    """
    hasher = _Hasher()
    out = memoryview(bytearray(sealer.chunk_size + TAG_SIZE))
    try:
        yield memoryview(sealer.header)
        tally.ciphertext_size = HEADER_SIZE
        for index, (plain, final) in enumerate(chunks):
            hasher.update(plain, background=not (final and index == 0))
            size = sealer.seal_into(plain, out, final=final)
            tally.plaintext_size += len(plain)
            tally.ciphertext_size += size
            yield out[:size]
            hasher.settle(keep=1)
        tally.sha256 = hasher.hexdigest()
    finally:
        hasher.close()


def _read_chunks(readinto: ReadInto, chunk_size: int) -> Iterator[tuple[memoryview, bool]]:
    """Plaintext chunks of a stream, each with whether it is the final one (known by reading one ahead).

    Three buffers rotate, so a view stays valid until the chunk after the next one is requested.
    A chunk is full unless it is the final one; a stream whose length is a multiple of the chunk
    size ends with a full final chunk (only an empty stream gives an empty one).
    """
    _check_chunk_size(chunk_size)
    slots: list[memoryview] = []

    def slot(index: int) -> memoryview:
        if len(slots) <= index % 3:
            slots.append(memoryview(bytearray(chunk_size)))
        return slots[index % 3]

    size = _read_full(readinto, slot(0))
    index = 0
    while True:
        current = slots[index % 3][:size]
        following = _read_full(readinto, slot(index + 1)) if size == chunk_size else 0
        yield current, following == 0
        if following == 0:
            return
        size = following
        index += 1


def _rechunk(pieces: Iterable[memoryview], total: int, chunk_size: int) -> Iterator[tuple[memoryview, bool]]:
    """Chunks of ``chunk_size`` bytes (the final one shorter) over consecutive pieces of ``total`` bytes.

    A chunk that lies within one piece is a slice of it (no copy); one that spans pieces is
    copied into one of two staging buffers that alternate, so, like :func:`_read_chunks`, a
    view stays valid until the chunk after the next one is requested. The pieces themselves
    must stay valid as long as they are referenced.
    """
    count = _chunk_count(total, chunk_size)
    staging: list[memoryview] = []
    current = 0
    fill = 0
    index = 0
    for piece in pieces:
        position, size = 0, len(piece)
        while position < size:
            if fill == 0 and size - position >= chunk_size:
                yield piece[position : position + chunk_size], index == count - 1
                index += 1
                position += chunk_size
                continue
            if len(staging) <= current:
                staging.append(memoryview(bytearray(chunk_size)))
            take = min(chunk_size - fill, size - position)
            staging[current][fill : fill + take] = piece[position : position + take]
            fill += take
            position += take
            if fill == chunk_size:
                yield staging[current], index == count - 1
                index += 1
                current ^= 1
                fill = 0
    if fill or index == 0:
        yield (staging[current][:fill] if fill else memoryview(b"")), True
        index += 1
    if index != count:
        raise ValueError(f"the pieces held {index} chunks, {count} expected from their announced size {total}")


def _seal_to_bytes(pieces: Iterable[memoryview], total: int, data_key: bytes, *, aad: bytes, chunk_size: int) -> bytes:
    """Seal ``total`` plaintext bytes, given as consecutive pieces, into one new ``bytes`` object.

    The output is sealed in place through ``BytesIO.getbuffer()`` and returned by ``getvalue()``,
    which hands over the buffer without copying it: a ``bytearray`` would need a copy into
    ``bytes`` at the end, twice the memory and time.
    """
    sealer = _Sealer(data_key, aad, chunk_size)
    size = encrypted_size(total, chunk_size=chunk_size)
    out = io.BytesIO(bytes(size))
    target = out.getbuffer()
    try:
        _advise_huge_pages(target)
        target[:HEADER_SIZE] = sealer.header
        position = HEADER_SIZE
        for plain, final in _rechunk(pieces, total, chunk_size):
            position += sealer.seal_into(plain, target[position:], final=final)
    finally:
        target.release()
    return out.getvalue()


def _seal_to_file(
    pieces: Iterable[memoryview],
    total: int,
    dst_path: StrPath,
    data_key: bytes,
    *,
    aad: bytes,
    chunk_size: int,
    fsync: bool,
) -> EncryptResult:
    """Seal consecutive pieces into a file, atomically (see :func:`encrypt_file`)."""

    def write(dst: BinaryIO) -> EncryptResult:
        tally = _Tally()
        for piece in _seal(_rechunk(pieces, total, chunk_size), _Sealer(data_key, aad, chunk_size), tally):
            _write_all(dst, piece)
        return tally.result()

    return _atomic_write(dst_path, write, fsync=fsync)


# -- opening ----------------------------------------------------------------------------------------


class _Opener:
    """A parsed header and the key: authenticates and opens chunks, and explains failures."""

    def __init__(self, header: bytes, data_key: bytes, aad: bytes, name: str | None) -> None:
        self.name = name
        self.chunk_size = int.from_bytes(header[len(MAGIC) + 1 : len(MAGIC) + 5], "big")
        self.prefix = header[HEADER_SIZE - NONCE_PREFIX_SIZE : HEADER_SIZE]
        self.aad = header + bytes(aad)
        self.aead = AESGCM(_checked_key(data_key))

    @classmethod
    def read(cls, readinto: ReadInto, data_key: bytes, aad: bytes, name: str | None) -> _Opener:
        header = memoryview(bytearray(HEADER_SIZE))
        size = _read_full(readinto, header)
        return cls.parse(header[:size], data_key, aad, name)

    @classmethod
    def parse(cls, header: memoryview, data_key: bytes, aad: bytes, name: str | None) -> _Opener:
        """Check the header (``header`` may be short: the start of a short file)."""
        data = bytes(header[:HEADER_SIZE])
        if not data:
            raise _failure(name, "the file is empty", reason="truncated")
        if data[: len(MAGIC)] != MAGIC[: len(data)]:
            raise _failure(name, "not a Charter encrypted file (bad magic)", reason="bad_magic")
        if len(data) > len(MAGIC) and data[len(MAGIC)] != FORMAT_VERSION:
            raise _failure(
                name,
                f"unsupported format version {data[len(MAGIC)]} (this version of Charter reads {FORMAT_VERSION})",
                reason="unsupported_version",
            )
        if len(data) < HEADER_SIZE:
            raise _failure(name, "the file is truncated: its header is incomplete", reason="truncated")
        chunk_size = int.from_bytes(data[len(MAGIC) + 1 : len(MAGIC) + 5], "big")
        if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
            raise _failure(
                name,
                f"the header is damaged: chunk size {chunk_size} is outside {MIN_CHUNK}..{MAX_CHUNK}",
                reason="bad_header",
            )
        return cls(data, data_key, aad, name)

    def stream_chunks(self, readinto: ReadInto) -> Iterator[tuple[int, memoryview, bool]]:
        """(index, sealed chunk, whether it is last in the stream), reading one chunk ahead; two buffers."""
        full = self.chunk_size + TAG_SIZE
        current = memoryview(bytearray(full))
        spare: memoryview | None = None
        size = _read_full(readinto, current)
        if size == 0:
            raise self.error("the file is truncated: the final chunk is missing", reason="truncated", chunk=1)
        index = 0
        while True:
            following = 0
            if size == full:
                if spare is None:
                    spare = memoryview(bytearray(full))
                following = _read_full(readinto, spare)
            yield index, current[:size], following == 0
            if following == 0:
                return
            assert spare is not None
            current, spare, size = spare, current, following
            index += 1
            if index >= MAX_CHUNKS:
                raise self.error("the file has more chunks than the format allows", reason="trailing_data")

    def blob_chunks(self, blob: memoryview) -> Iterator[tuple[int, memoryview, bool]]:
        """(index, sealed chunk, whether it is last) as slices of a whole encrypted blob."""
        full = self.chunk_size + TAG_SIZE
        body = len(blob) - HEADER_SIZE
        if body <= 0:
            raise self.error("the file is truncated: the final chunk is missing", reason="truncated", chunk=1)
        count = -(-body // full)
        if count > MAX_CHUNKS:
            raise self.error("the file has more chunks than the format allows", reason="trailing_data")
        for index in range(count):
            start = HEADER_SIZE + index * full
            yield index, blob[start : start + full], index == count - 1

    def open_into(self, index: int, sealed: memoryview, last: bool, out: memoryview) -> int:
        """Authenticate and decrypt one chunk into the front of ``out``; return the plaintext length.

        On failure ``out`` may hold unauthenticated bytes: callers discard it (they raise).
        """
        size = self.plain_size(index, sealed)
        nonce = _nonce(self.prefix, index, last)
        try:
            if _HAS_INTO:
                return self.aead.decrypt_into(nonce, sealed, self.aad, out[:size])
            out[:size] = self.aead.decrypt(nonce, bytes(sealed), self.aad)
            return size
        except InvalidTag:
            raise self._explain(index, sealed, last) from None

    def open(self, index: int, sealed: memoryview, last: bool) -> bytes:
        self.plain_size(index, sealed)
        try:
            return self.aead.decrypt(_nonce(self.prefix, index, last), sealed, self.aad)
        except InvalidTag:
            raise self._explain(index, sealed, last) from None

    def error(self, what: str, *, reason: str, chunk: int | None = None) -> DecryptionFailed:
        return _failure(self.name, what, reason=reason, chunk=chunk)

    def plain_size(self, index: int, sealed: memoryview) -> int:
        if len(sealed) < TAG_SIZE:
            raise self.error(
                f"the file is truncated: chunk {index + 1} is incomplete", reason="truncated", chunk=index + 1
            )
        return len(sealed) - TAG_SIZE

    def _explain(self, index: int, sealed: memoryview, last: bool) -> DecryptionFailed:
        """Why chunk ``index`` did not verify: try it with the other final flag to tell a cut or an
        extended file from a wrong key or modified bytes (only on failure, so it costs nothing normally)."""
        try:
            self.aead.decrypt(_nonce(self.prefix, index, not last), sealed, self.aad)
        except InvalidTag:
            pass
        else:
            if last:
                return self.error(
                    "the file is truncated: the final chunk is missing", reason="truncated", chunk=index + 2
                )
            return self.error(
                f"data after the final chunk (chunk {index + 1})", reason="trailing_data", chunk=index + 2
            )
        if last and len(sealed) < self.chunk_size + TAG_SIZE and index > 0:
            what = f"wrong key, or modified or truncated data in chunk {index + 1} (the last in the file)"
        else:
            what = f"wrong key or modified data in chunk {index + 1}"
        return self.error(what, reason="authentication", chunk=index + 1)


def _opened(first: bytes, opener: _Opener, sealed: Iterator[tuple[int, memoryview, bool]]) -> Iterator[bytes]:
    yield first
    for index, chunk, last in sealed:
        yield opener.open(index, chunk, last)


class _PlainReader(io.RawIOBase):
    """The plaintext of sealed chunks as a readable stream (for the ``.npy`` parser and array loads).

    A read that covers whole chunks decrypts them straight into the caller's buffer, so
    loading an array copies at most one chunk. It returns fewer bytes than asked only at the
    end, which comes only after the final chunk verified. On failure the caller's buffer may
    hold unauthenticated bytes: discard it (the read raised).
    """

    def __init__(self, opener: _Opener, sealed: Iterator[tuple[int, memoryview, bool]]) -> None:
        super().__init__()
        self._opener = opener
        self._sealed = sealed
        self._buffer = memoryview(bytearray(opener.chunk_size))
        self._pending = self._buffer[:0]
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        got = min(len(view), len(self._pending))
        view[:got] = self._pending[:got]
        self._pending = self._pending[got:]
        while got < len(view) and not self._done:
            try:
                index, sealed, last = next(self._sealed)
            except StopIteration:
                self._done = True
                break
            size = max(len(sealed) - TAG_SIZE, 0)
            if size <= len(view) - got:
                got += self._opener.open_into(index, sealed, last, view[got:])
            else:
                self._opener.open_into(index, sealed, last, self._buffer)
                take = len(view) - got
                view[got:] = self._buffer[:take]
                self._pending = self._buffer[take:size]
                got += take
        return got


def _plain_reader_of_stream(src: BinaryIO, data_key: bytes, *, aad: bytes, name: str | None) -> _PlainReader:
    readinto = _readinto_of(src)
    opener = _Opener.read(readinto, data_key, aad, name)
    return _PlainReader(opener, opener.stream_chunks(readinto))


def _plain_reader_of_blob(blob: BytesLike, data_key: bytes, *, aad: bytes, name: str | None) -> _PlainReader:
    view = memoryview(blob).cast("B")
    opener = _Opener.parse(view[:HEADER_SIZE], data_key, aad, name)
    return _PlainReader(opener, opener.blob_chunks(view))


# -- helpers ----------------------------------------------------------------------------------------


def _advise_huge_pages(view: memoryview) -> None:
    """Ask Linux to back a large, not yet touched buffer with transparent huge pages.

    Filling a fresh gigabyte costs one page fault per 4 KiB, which here is most of the time
    of an in-memory encryption (2.3 GB/s against 6 to 8 with huge pages). numpy does the same
    for its own arrays. Only a hint: anywhere it is unavailable nothing happens.
    """
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    libc = _libc() if advice is not None and len(view) >= _HUGE_PAGE_MIN else None
    if libc is None:
        return
    anchor = ctypes.c_char.from_buffer(view)  # an export of the buffer: released below, before getvalue()
    address = ctypes.addressof(anchor)
    del anchor
    start = -(-address // mmap.PAGESIZE) * mmap.PAGESIZE
    length = (address + len(view) - start) // mmap.PAGESIZE * mmap.PAGESIZE
    libc.madvise(start, length, advice)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc


def _failure(name: str | None, what: str, *, reason: str, chunk: int | None = None) -> DecryptionFailed:
    subject = f"Cannot decrypt {name}" if name else "Cannot decrypt"
    details: dict[str, Any] = {"reason": reason}
    if chunk is not None:
        details["chunk"] = chunk
    if name:
        details["name"] = name
    return DecryptionFailed(f"{subject}: {what}.", details=details)


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _chunk_count(size: int, chunk_size: int) -> int:
    return max(1, -(-size // chunk_size))


def _check_chunk_size(chunk_size: int) -> None:
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise ValueError(f"chunk_size must be within {MIN_CHUNK}..{MAX_CHUNK} bytes, got {chunk_size}")


def _checked_key(data_key: bytes) -> bytes:
    if len(data_key) != DATA_KEY_BYTES:
        # The length only: key material never goes into a message.
        raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes (AES-256), got {len(data_key)}")
    return bytes(data_key)


def _readinto_of(src: BinaryIO) -> ReadInto:
    """``src.readinto`` when it has one (no copy), else a ``read`` that copies into the buffer."""
    readinto = getattr(src, "readinto", None)
    if callable(readinto):
        return readinto  # type: ignore[no-any-return]

    def fallback(view: memoryview) -> int:
        data = src.read(len(view))
        view[: len(data)] = data
        return len(data)

    return fallback


def _read_full(readinto: ReadInto, view: memoryview) -> int:
    """Fill ``view`` unless the stream ends first (raw files and sockets may return short reads)."""
    total = 0
    while total < len(view):
        count = readinto(view[total:])
        if not count:
            break
        total += count
    return total


def _write_all(dst: BinaryIO, view: memoryview) -> None:
    while view:
        written = dst.write(view)
        if written is None or written >= len(view):  # a buffered writer takes everything
            return
        view = view[written:]


def _atomic_write(dst_path: StrPath, write: Callable[[BinaryIO], T], *, fsync: bool) -> T:
    """Run ``write`` on a temporary file beside ``dst_path``, then rename it over ``dst_path``.

    On any failure (including an interrupt) the temporary file is removed and ``dst_path`` is
    untouched. ``mkstemp`` creates the file readable by its owner only.
    """
    target = Path(dst_path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with open(fd, "wb", buffering=0) as tmp:
            result = write(tmp)
            if fsync:
                os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return result
