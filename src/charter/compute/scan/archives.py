"""Zip archives (PyTorch ``torch.save`` files, ``.npz``, ``.keras``, plain zips) and compressed streams.

Every member is scanned and routed by its *content* first (a pickle under ``data.txt`` is found):
a ``PROTO`` opcode, the ``.npy`` or zip magic, a safetensors header; then by name (pickle-like and
``.npy`` names); any other member is walked tentatively as a protocol 0/1 pickle
(:func:`.pickles.probe`): if an unpickler would turn it into an import, it is a pickle and judged
as one. What is left is data, and what data means depends on the archive:

* in a PyTorch, NumPy ``.npz`` or Keras archive, the format says what its other members are (raw
  storages, weights, metadata), and its loader reaches them only through that format: clean;
* in a plain zip, a member is judged as a file in a folder would be: text named as text is clean,
  anything else is ``unknown-format`` (not verified).

Members are read from the central directory's offsets with the local header parsed here, not by
``zipfile.ZipFile.open``: its refusals (flag bits 0x20/0x40, a local name differing from the
central one, a bad CRC) are evasions against scanners while lenient loaders read on. The scanner
reads the bytes as a lenient loader would and reports the oddity: encrypted members (flag bit 0 or
strong encryption) cannot be read and are ``encrypted-member`` (not verified); a local/central name
mismatch is ``archive-name-mismatch`` (high); patched data (0x20) is not verified. CRCs are not
checked (the scan reads what a loader would, right or wrong). Names with ``..`` components,
absolute paths or drive letters are ``archive-path-traversal`` (critical).
"""

from __future__ import annotations

import io
import re
import shutil
import struct
import tempfile
import zipfile
from pathlib import PurePosixPath
from typing import BinaryIO, cast

from charter.compute.scan.keras import check_config_text
from charter.compute.scan.numpy_files import MAGIC as NPY_MAGIC
from charter.compute.scan.numpy_files import scan_npy
from charter.compute.scan.pickles import probe, walk
from charter.compute.scan.report import Malformed, Recorder, Truncated, Unverifiable
from charter.compute.scan.safetensors_files import looks_like_safetensors, scan_safetensors
from charter.compute.scan.streams import Decompressed, Slice, Source, named_like_text, not_text

# Names that promise a pickle: content that does not parse is not verified. Inside archives, the
# ambiguous ``.bin``/``.dat``/``.data`` (often raw tensor bytes there) are only probed.
MEMBER_PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".dill", ".pt", ".pth", ".ckpt"})
PICKLE_SUFFIXES = MEMBER_PICKLE_SUFFIXES | {".bin", ".dat", ".data"}
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_METHODS = {zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "zip-lzma"}
_ENCRYPTED, _PATCHED, _STRONG, _UTF8 = 0x1, 0x20, 0x40, 0x800
_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_CONFIG = 64 << 20


def is_pickle_start(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and head[1] <= 5


def traversal(name: str) -> bool:
    parts = re.split(r"[\\/]", name)
    return name.startswith(("/", "\\")) or bool(_DRIVE.match(name)) or ".." in parts


def scan_stream(rec: Recorder, member: str | None, stream: BinaryIO, *, size: int | None, name: str, depth: int) -> str:
    """Scan an archive member or a decompressed stream by content, then by name; return its format."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(cast(io.RawIOBase, stream))
    head = buffered.peek(16)[:16]
    suffix = PurePosixPath(name).suffix.lower()
    seekable = buffered.seekable()
    if head.startswith(ZIP_MAGICS):
        scan_nested_zip(rec, member, buffered, size=size, depth=depth)
        return "zip"
    if head.startswith(NPY_MAGIC) or suffix == ".npy":
        scan_npy(rec, member, cast(BinaryIO, buffered), size)
        return "npy"
    if is_pickle_start(head) or suffix in MEMBER_PICKLE_SUFFIXES:
        walk(rec, member, Source(cast(BinaryIO, buffered), size=size if seekable else None))
        return "pickle"
    if size is not None and (suffix == ".safetensors" or looks_like_safetensors(head, size)):
        scan_safetensors(rec, member, cast(BinaryIO, buffered), size)
        return "safetensors"
    if probe(rec, member, Source(cast(BinaryIO, buffered), size=size if seekable else None)) is not None:
        return "pickle"
    return "data"


def scan_nested_zip(rec: Recorder, member: str | None, stream: BinaryIO, *, size: int | None, depth: int) -> None:
    if depth + 1 > rec.limits.max_archive_depth:
        rec.add(member, "limit-exceeded", "medium", f"archives nested deeper than {rec.limits.max_archive_depth}")
        return
    if stream.seekable() and size is not None:
        scan_zip(rec, stream, size, prefix=f"{member}!", depth=depth + 1)
        return
    with tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool:
        shutil.copyfileobj(stream, spool, 1 << 20)
        total = spool.tell()
        spool.seek(0)
        scan_zip(rec, cast(BinaryIO, spool), total, prefix=f"{member}!", depth=depth + 1)


def zip_format(names: list[str], *, keras: bool) -> str:
    if keras:
        return "keras"
    if any(n.endswith("data.pkl") for n in names):
        return "pytorch-zip"
    files = [n for n in names if not n.endswith("/")]
    if files and all(n.endswith(".npy") for n in files):
        return "npz"
    return "zip"


def scan_zip(
    rec: Recorder, stream: BinaryIO, size: int, *, prefix: str = "", depth: int = 0, keras: bool = False
) -> str:
    """Scan every member of a zip archive; return the archive's format name."""
    limits = rec.limits
    try:
        with zipfile.ZipFile(stream) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error, NotImplementedError) as exc:
        rec.add(prefix or None, "parse-error", "medium", f"unreadable zip archive: {exc}")
        return "zip"
    names = [i.filename for i in infos]
    keras = keras or ("config.json" in names and "metadata.json" in names)
    fmt = zip_format(names, keras=keras)
    if len(infos) > limits.max_archive_members:
        rec.add(
            prefix or None,
            "limit-exceeded",
            "medium",
            f"{len(infos):,} members, over max_archive_members ({limits.max_archive_members:,}): "
            "the rest is not scanned",
        )
        infos = infos[: limits.max_archive_members]
    declared = 0
    for info in infos:
        member = prefix + info.filename
        if traversal(info.orig_filename):
            rec.add(member, "archive-path-traversal", "critical", f"the member name {info.orig_filename!r} escapes")
        if info.is_dir():
            continue
        declared += info.file_size
        if declared > limits.max_total_uncompressed:
            rec.add(
                member,
                "limit-exceeded",
                "medium",
                f"members declare over max_total_uncompressed ({limits.max_total_uncompressed:,} bytes): "
                "this one and the rest are not scanned",
            )
            break
        _scan_member(rec, stream, size, info, member, depth, typed=fmt != "zip")
    if keras:
        _check_keras_config(rec, stream, size, infos, prefix)
    return fmt


def _scan_member(
    rec: Recorder, archive: BinaryIO, size: int, info: zipfile.ZipInfo, member: str, depth: int, *, typed: bool
) -> None:
    limits = rec.limits
    if info.flag_bits & (_ENCRYPTED | _STRONG):
        rec.add(member, "encrypted-member", "medium", "the member is encrypted: its content cannot be scanned")
        return
    if info.file_size >= limits.ratio_check_min_bytes and info.file_size > limits.max_compression_ratio * max(
        info.compress_size, 1
    ):
        rec.add(
            member,
            "limit-exceeded",
            "medium",
            f"declares {info.file_size:,} bytes from {info.compress_size:,} compressed, over max_compression_ratio "
            f"({limits.max_compression_ratio:g})",
        )
        return
    if info.flag_bits & _PATCHED:
        rec.add(member, "unsupported-compression", "medium", "compressed patched data (flag bit 5) is not supported")
    try:
        stream, length = _open_member(rec, archive, size, info, member)
        if stream is None:
            return
        if scan_stream(rec, member, stream, size=length, name=info.filename, depth=depth) == "data" and not typed:
            _judge_untyped(rec, archive, size, info, member)
    except Unverifiable as exc:
        rec.failed(member, exc)
    except OSError as exc:
        rec.add(member, "read-error", "medium", f"cannot read the member: {exc}")


def _judge_untyped(rec: Recorder, archive: BinaryIO, size: int, info: zipfile.ZipInfo, member: str) -> None:
    """A member of a plain zip that is no known format: judged as a file in a folder would be
    (text named as text is clean, anything else is not verified); a PyTorch, NumPy or Keras
    archive's format says what its data members are."""
    if named_like_text(info.filename):
        stream, _ = _open_member(rec.child(), archive, size, info, member)
        reason = not_text(stream) if stream is not None else "unreadable"
        if reason is None:
            return
        rec.add(member, "unknown-format", "low", f"named like text but is not UTF-8 text ({reason})")
    else:
        rec.add(member, "unknown-format", "low", "not a model format the scanner reads")


def _open_member(
    rec: Recorder, archive: BinaryIO, size: int, info: zipfile.ZipInfo, member: str
) -> tuple[BinaryIO | None, int]:
    archive.seek(info.header_offset)
    header = archive.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise Malformed(f"no local file header at offset {info.header_offset}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    raw_name = archive.read(name_len)
    local = raw_name.decode("utf-8" if info.flag_bits & _UTF8 else "cp437", "replace")
    if local != info.orig_filename:
        rec.add(
            member,
            "archive-name-mismatch",
            "high",
            f"the local header names it {local!r}: zip readers disagree on which name is real",
        )
        if traversal(local):
            rec.add(member, "archive-path-traversal", "critical", f"the local header name {local!r} escapes")
    start = info.header_offset + 30 + name_len + extra_len
    if start + info.compress_size > size:
        raise Truncated("the member's data runs past the end of the archive")
    raw = Slice(archive, start, info.compress_size)
    if info.compress_type == zipfile.ZIP_STORED:
        length = min(info.compress_size, info.file_size)
        return cast(BinaryIO, Slice(archive, start, length)), length
    method = _METHODS.get(info.compress_type)
    if method is None:
        rec.add(
            member, "unsupported-compression", "medium", f"compression method {info.compress_type} is not supported"
        )
        return None, 0
    reader = Decompressed(cast(BinaryIO, raw), method, rec.limits, expected=info.file_size, what=f"member {member}")
    return cast(BinaryIO, reader), info.file_size


def _check_keras_config(rec: Recorder, archive: BinaryIO, size: int, infos: list[zipfile.ZipInfo], prefix: str) -> None:
    config = next((i for i in infos if i.filename == "config.json"), None)
    if config is None:
        rec.add(prefix or None, "parse-error", "medium", "a .keras archive without config.json")
        return
    member = prefix + "config.json"
    if config.flag_bits & (_ENCRYPTED | _STRONG) or config.file_size > _MAX_CONFIG:
        rec.add(member, "parse-error", "medium", "config.json is encrypted or too large to read")
        return
    try:
        stream, _ = _open_member(rec.child(), archive, size, config, member)
        if stream is not None:
            check_config_text(rec, member, stream.read(_MAX_CONFIG), "config.json")
    except Unverifiable as exc:
        rec.failed(member, exc)


def scan_compressed(rec: Recorder, stream: BinaryIO, kind: str, *, name: str) -> str:
    """A whole file compressed with gzip, bzip2, xz, lzma or zlib (joblib's ``compress=``)."""
    reader = Decompressed(stream, kind, rec.limits, what=f"{kind} stream")
    try:
        inner = scan_stream(rec, None, cast(BinaryIO, reader), size=None, name=name, depth=0)
    except Unverifiable as exc:
        rec.failed(None, exc)
        inner = "data"
    if inner == "data":
        rec.add(None, "unknown-format", "low", f"the {kind} stream holds no format the scanner knows")
    return f"{kind}+{inner}"
