"""The artifact store interface and what every backend shares.

A store holds opaque blobs under content-address keys: the SHA-256 hex digest
of the plaintext, computed by the caller (the blob itself is usually
encrypted, so the store could not recompute it and does not try). Keys are
validated before they reach a path or an object name, so a key can never
climb out of the store. Blobs are fanned out by the first two byte pairs of
the key (``ab/cd/abcd...``) to keep folders and listings small.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol, runtime_checkable

from charter.errors import InvalidInput

__all__ = [
    "READ_CHUNK",
    "ArtifactStore",
    "SizeCheck",
    "blob_name",
    "is_fanout",
    "is_key",
    "key_from_name",
    "read_chunks",
    "validate_key",
]

#: How much a filesystem put, or a streaming read, holds at a time.
READ_CHUNK = 1024 * 1024

_KEY = re.compile(r"[0-9a-f]{64}")
_FANOUT = re.compile(r"[0-9a-f]{2}")


@runtime_checkable
class ArtifactStore(Protocol):
    """Where encrypted artifacts live: a folder or an S3-compatible bucket, chosen by URI.

    Every method validates ``key`` first (64 lowercase hex characters) and
    raises :class:`~charter.errors.InvalidInput` otherwise. Backend failures
    (unreachable, bucket missing, disk full, access denied) raise
    :class:`~charter.errors.StorageError`; a missing blob raises
    :class:`~charter.errors.NotFound`.
    """

    #: The canonical URI of this store (never contains credentials).
    uri: str

    def put(self, key: str, src: BinaryIO, *, size: int | None = None) -> int:
        """Store everything ``src`` yields under ``key``; return the number of bytes written.

        Streams in bounded chunks. Atomic: readers see the previous blob (or
        none) until the new one is complete; a failure (including an exception
        raised by ``src``, which propagates unchanged) leaves no partial blob.
        When ``size`` is given and the stream is shorter or longer, nothing
        is stored and :class:`~charter.errors.InvalidInput` is raised.
        """
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A readable, streaming file object for the blob; use it in a ``with`` block."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """The blob's size in bytes; :class:`~charter.errors.NotFound` when missing."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing blob is not an error."""
        ...

    def keys(self) -> Iterator[str]:
        """Every stored key, lazily; leftovers of interrupted writes are not keys."""
        ...

    def check(self) -> None:
        """Raise :class:`~charter.errors.StorageError` with what to fix if the store cannot be used."""
        ...


def is_key(value: object) -> bool:
    return isinstance(value, str) and _KEY.fullmatch(value) is not None


def validate_key(key: object) -> str:
    """Return ``key`` when it is a SHA-256 hex digest (64 lowercase hex characters); refuse anything else."""
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        # Repr, shortened: the value may be hostile (a path, control characters, a huge string).
        shown = repr(key)[:80]
        raise InvalidInput(
            f"Invalid artifact key {shown}: expected a SHA-256 hex digest (64 lowercase hex characters)",
            details={"field": "key"},
        )
    return key


def blob_name(key: str) -> str:
    """The fanned-out relative name of a (validated) key: ``ab/cd/abcd...``."""
    return f"{key[:2]}/{key[2:4]}/{key}"


def key_from_name(name: str) -> str | None:
    """The key stored under the relative name ``ab/cd/abcd...``, or None for anything else."""
    parts = name.split("/")
    if len(parts) != 3:
        return None
    first, second, key = parts
    if not is_key(key) or not (_FANOUT.fullmatch(first) and _FANOUT.fullmatch(second)):
        return None
    return key if key[:2] == first and key[2:4] == second else None


def is_fanout(name: str) -> bool:
    return _FANOUT.fullmatch(name) is not None


class SizeCheck:
    """Counts bytes as they stream by and refuses more, or fewer, than the caller announced."""

    def __init__(self, key: str, expected: int | None) -> None:
        if expected is not None and expected < 0:
            raise InvalidInput(f"Invalid size {expected}: must be >= 0", details={"field": "size"})
        self.key = key
        self.expected = expected
        self.total = 0

    def add(self, count: int) -> None:
        self.total += count
        if self.expected is not None and self.total > self.expected:
            raise self._mismatch("more than")

    def finish(self) -> int:
        if self.expected is not None and self.total != self.expected:
            raise self._mismatch("only")
        return self.total

    def _mismatch(self, how: str) -> InvalidInput:
        return InvalidInput(
            f"Artifact {self.key}: expected {self.expected} bytes but the stream gave {how} {self.total}; "
            "nothing was stored",
            details={"field": "size", "expected": self.expected},
        )


def read_chunks(src: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    """Yield ``src`` in pieces of exactly ``chunk_size`` bytes (the last one shorter, never empty).

    Short reads (pipes, sockets, decrypting wrappers) are gathered so a
    backend with a minimum part size gets full parts. One chunk is held at a
    time (two, briefly, while a source that trickles is joined).
    """
    while True:
        chunk = src.read(chunk_size)
        if not chunk:
            return
        if len(chunk) < chunk_size:
            pieces, have = [chunk], len(chunk)
            del chunk
            while have < chunk_size:
                more = src.read(chunk_size - have)
                if not more:
                    break
                pieces.append(more)
                have += len(more)
            # A file's last read is short and then at EOF: one piece, no copy.
            chunk = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            del pieces
            if have < chunk_size:
                yield chunk
                return
        yield chunk
        del chunk  # drop our reference before the next read allocates another chunk
