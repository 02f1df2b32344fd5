"""Byte streams the scanners read: a bounded view of a file, a bounded decompressor, a buffered reader.

Nothing here holds a whole file in memory: the pickle reader keeps a small window, skips large
arguments with ``seek`` when it can (so a 1 GB ``BINBYTES8`` costs one system call), and the
decompressor asks for at most one chunk of output at a time, whatever the input's ratio.
"""

from __future__ import annotations

import bz2
import codecs
import io
import lzma
import struct
import zlib
from collections.abc import Callable
from pathlib import PurePath
from typing import BinaryIO, Protocol

from charter.compute.scan.report import LimitExceeded, Malformed, ScanLimits, Truncated

CHUNK = 256 * 1024


class Slice(io.RawIOBase):
    """A read-only, seekable window ``[start, start + length)`` of a seekable stream."""

    def __init__(self, raw: BinaryIO, start: int, length: int) -> None:
        super().__init__()
        self._raw, self._start, self._length, self._pos = raw, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, min(base + offset, self._length))
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        left = self._length - self._pos
        n = left if size is None or size < 0 else min(size, left)
        if n <= 0:
            return b""
        self._raw.seek(self._start + self._pos)
        data = self._raw.read(n)
        self._pos += len(data)
        return data

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Zlib:
    """``zlib``'s decompressor with the ``needs_input`` interface of ``bz2`` and ``lzma``."""

    def __init__(self, wbits: int) -> None:
        self._d = zlib.decompressobj(wbits)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def needs_input(self) -> bool:
        return not self._d.unconsumed_tail

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        return self._d.decompress(self._d.unconsumed_tail + data, max(max_length, 0))


class _ZipLzma:
    """Zip's LZMA method: a 4-byte header and the LZMA1 properties, then a raw stream."""

    def __init__(self) -> None:
        self._head = b""
        self._d: lzma.LZMADecompressor | None = None

    @property
    def eof(self) -> bool:
        return self._d is not None and self._d.eof

    @property
    def needs_input(self) -> bool:
        return self._d is None or self._d.needs_input

    @property
    def unused_data(self) -> bytes:
        return b"" if self._d is None else self._d.unused_data

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        if self._d is None:
            self._head += data
            if len(self._head) < 4:
                return b""
            (size,) = struct.unpack("<H", self._head[2:4])
            if len(self._head) < 4 + size:
                return b""
            decode = getattr(lzma, "_decode_filter_properties", None)
            if decode is None:
                raise Malformed("this Python cannot read zip LZMA members")
            props = decode(lzma.FILTER_LZMA1, self._head[4 : 4 + size])
            self._d = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[props])
            data, self._head = self._head[4 + size :], b""
        return self._d.decompress(data, max_length)


DECOMPRESSORS: dict[str, Callable[[], _Decompressor]] = {
    "deflate": lambda: _Zlib(-15),
    "zlib": lambda: _Zlib(15),
    "gzip": lambda: _Zlib(31),
    "bzip2": bz2.BZ2Decompressor,
    "xz": lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ),
    "lzma": lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE),
    "zip-lzma": _ZipLzma,
}
_RESTARTABLE = {"gzip", "bzip2", "xz"}  # formats whose files may hold several concatenated streams
_ERRORS = (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError)


class Decompressed(io.RawIOBase):
    """A forward-only decompressing reader that enforces the size and ratio limits as it goes.

    ``expected`` (a zip member's declared size) caps the output, as ``zipfile`` does; a stream that
    ends before producing it is truncated.
    """

    def __init__(
        self, raw: BinaryIO, kind: str, limits: ScanLimits, *, expected: int | None = None, what: str = "stream"
    ) -> None:
        super().__init__()
        self._raw, self._kind, self._limits, self._expected, self._what = raw, kind, limits, expected, what
        self._d = DECOMPRESSORS[kind]()
        self._pending = b""
        self.posn = 0
        self._out = 0
        self._done = False

    @property
    def consumed(self) -> int:
        return self.posn

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self.read(CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        if self._expected is not None:
            size = min(size, self._expected - self._out)
        if size <= 0 or self._done:
            return b""
        try:
            data = self._next(size)
        except _ERRORS as exc:
            raise Malformed(f"corrupt {self._kind} data in {self._what}: {exc}") from exc
        self._out += len(data)
        self._check()
        return data

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _next(self, size: int) -> bytes:
        while True:
            if self._d.eof:
                rest = self._d.unused_data + self._raw.read(CHUNK)
                if not rest or self._kind not in _RESTARTABLE:
                    self._done = True
                    return b""
                self._d, self._pending = DECOMPRESSORS[self._kind](), rest
                self.posn += len(rest)
            if self._d.needs_input and not self._pending:
                self._pending = self._raw.read(CHUNK)
                self.posn += len(self._pending)
                if not self._pending:
                    raise Truncated(f"the compressed data of {self._what} ends before its end marker")
            data = self._d.decompress(self._pending if self._d.needs_input else b"", size)
            self._pending = b""
            if data:
                return data

    def _check(self) -> None:
        limits = self._limits
        if self._out > limits.max_total_uncompressed:
            raise LimitExceeded(
                f"{self._what} decompresses past max_total_uncompressed ({limits.max_total_uncompressed:,} bytes)"
            )
        if self._out >= limits.ratio_check_min_bytes and self._out > limits.max_compression_ratio * max(self.posn, 1):
            raise LimitExceeded(
                f"{self._what} decompresses more than {limits.max_compression_ratio:g} times its compressed size"
            )


class Source:
    """A buffered forward reader over a binary stream, for the pickle opcode walker.

    ``size`` is the stream's length when known (files and zip members); with it, ``skip`` of a
    large argument seeks instead of reading and still detects a truncated stream. ``buf[pos]`` is
    the next byte: the pickle walker's inner loop reads it directly (a method call per opcode costs
    a third of the walk).
    """

    def __init__(self, stream: BinaryIO, *, size: int | None) -> None:
        self._f = stream
        self._seekable = _seekable(stream)
        self._base = stream.tell() if self._seekable else 0  # stream offset of _buf[0]
        self._size = size
        self.buf = b""
        self.pos = 0

    def tell(self) -> int:
        return self._base + self.pos

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes available at ``_i``; False at end of stream."""
        if len(self.buf) - self.pos >= need:
            return True
        rest = self.buf[self.pos :]
        self._base += self.pos
        chunks = [rest]
        have = len(rest)
        while have < need:
            if self._seekable:
                self._f.seek(self._base + have)
            chunk = self._f.read(max(CHUNK, need - have))
            if not chunk:
                break
            chunks.append(chunk)
            have += len(chunk)
        self.buf, self.pos = b"".join(chunks), 0
        return have >= need

    def at_eof(self) -> bool:
        return not self._fill(1)

    def read(self, n: int) -> bytes:
        i = self.pos
        j = i + n
        if j <= len(self.buf):
            self.pos = j
            return self.buf[i:j]
        if not self._fill(n):
            raise Truncated(f"the stream ends inside a {n}-byte argument at offset {self.tell()}")
        data = self.buf[self.pos : self.pos + n]
        self.pos += n
        return data

    def byte(self) -> int:
        if self.pos >= len(self.buf) and not self._fill(1):
            raise Truncated(f"the stream ends at offset {self.tell()} without a STOP opcode")
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return self.buf[self.pos : self.pos + n]

    def skip(self, n: int) -> None:
        left = len(self.buf) - self.pos
        if n <= left:
            self.pos += n
            return
        target = self.tell() + n
        if self._size is not None and target > self._size:
            raise Truncated(f"an argument of {n:,} bytes runs past the end of the stream ({self._size:,} bytes)")
        if self._seekable:
            self._base, self.buf, self.pos = target, b"", 0
            self._f.seek(target)
            return
        n -= left
        self._base += len(self.buf)
        self.buf, self.pos = b"", 0
        while n > 0:
            chunk = self._f.read(min(n, 4 * CHUNK))
            if not chunk:
                raise Truncated(f"an argument runs {n:,} bytes past the end of the stream")
            n -= len(chunk)
            self._base += len(chunk)

    def line(self, limit: int) -> bytes | None:
        """The next line without its newline; None when it is longer than ``limit`` (then skipped)."""
        while True:
            end = self.buf.find(b"\n", self.pos, self.pos + limit + 1)
            if end >= 0:
                data = self.buf[self.pos : end]
                self.pos = end + 1
                return data
            if len(self.buf) - self.pos > limit:
                self._skip_line()
                return None
            if not self._fill(len(self.buf) - self.pos + 1):
                raise Truncated(f"the stream ends inside a text argument at offset {self.tell()}")

    def _skip_line(self) -> None:
        while True:
            end = self.buf.find(b"\n", self.pos)
            if end >= 0:
                self.pos = end + 1
                return
            self.pos = len(self.buf)
            if not self._fill(1):
                raise Truncated("the stream ends inside a text argument")


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, ValueError, OSError):
        return False


TEXT_SUFFIXES = frozenset(
    {".json", ".jsonl", ".txt", ".md", ".markdown", ".rst", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".csv"}
    | {".tsv", ".jinja", ".gitattributes", ".gitignore"}
)
TEXT_NAMES = frozenset({"license", "licence", "readme", "notice", "copying", "authors", "citation"})


def named_like_text(name: str) -> bool:
    path = PurePath(name)
    return path.suffix.lower() in TEXT_SUFFIXES or path.stem.lower() in TEXT_NAMES


def not_text(stream: BinaryIO) -> str | None:
    """Why the rest of ``stream`` is not UTF-8 text without NUL bytes, or None when it is."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := stream.read(CHUNK):
            if b"\x00" in chunk:
                return "a NUL byte"
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return str(exc)
    return None
