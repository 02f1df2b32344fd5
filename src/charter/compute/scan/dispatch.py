"""Format detection and folder walks: which scanner reads which file.

A file is routed by its first bytes before its name (zip, ``.npy``, HDF5, pickle ``PROTO``, a
safetensors header, gzip/bzip2/xz/lzma/zlib), then by name (``.safetensors``, ``.onnx``, pickle-like
names such as ``.pkl .joblib .pt .bin``), and anything else is walked tentatively as a protocol
0/1 pickle. What is left is ``unknown-format``: **not verified**, never clean (GGUF, TF SavedModel,
7z, Python source, an empty file...), with two reasoned exceptions:

* text: files named like text (``.json .txt .md .yaml .toml .csv ...``, ``LICENSE``, ``README``)
  that decode as UTF-8 without NUL bytes and do not parse as a pickle that imports anything are
  ``clean`` (format ``text``): a model folder always holds some (``config.json``, tokenizers, a
  model card), and a folder verdict that is always "not verified" would tell a user nothing.
  Protocol 0 pickles *are* ASCII text, hence the pickle probe first. Text is not judged for what
  code may do with it (``trust_remote_code`` in a ``config.json``): that is outside a scanner of
  serialised models;
* a file that an ONNX model of the same folder names as its external data is ``clean`` raw
  tensor bytes (format ``onnx-external-data``), unless its content says pickle or zip.

HDF5 files are judged by the Keras configs they carry (:mod:`.keras`); one without a config holds
arrays only and is clean.

Folders are walked recursively in name order. Symlinked files are read (as a loader would);
symlinked folders are not followed (``not-followed``, not verified), and ``.git`` folders are
skipped (no loader reads them; model signing ignores them too).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePath
from typing import BinaryIO

from charter.compute.scan.archives import (
    PICKLE_SUFFIXES,
    ZIP_MAGICS,
    is_pickle_start,
    scan_compressed,
    scan_zip,
)
from charter.compute.scan.keras import scan_h5
from charter.compute.scan.numpy_files import MAGIC as NPY_MAGIC
from charter.compute.scan.numpy_files import scan_npy
from charter.compute.scan.onnx_files import scan_onnx
from charter.compute.scan.pickles import probe, walk
from charter.compute.scan.report import (
    FileResult,
    Finding,
    Recorder,
    ScanLimits,
    ScanReport,
    Unverifiable,
    verdict_of,
    worst,
)
from charter.compute.scan.safetensors_files import looks_like_safetensors, scan_safetensors
from charter.compute.scan.streams import Source, named_like_text, not_text

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
_COMPRESSED_SUFFIXES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".lzma": "lzma", ".z": "zlib"}


def scan_path(path: Path | str, *, limits: ScanLimits = ScanLimits()) -> ScanReport:
    """Scan a file or, recursively, a folder. Raises ``FileNotFoundError`` when nothing is there."""
    root = Path(path)
    if not root.exists() and not root.is_symlink():
        raise FileNotFoundError(f"no such file or folder: {root}")
    if root.is_dir():
        return _scan_folder(root, limits)
    return _report([_scan_one(root, display=str(root), name=root.name, base=root.parent, limits=limits)])


def scan_file(path: Path | str, *, name: str | None = None, limits: ScanLimits = ScanLimits()) -> ScanReport:
    """Scan one file. ``name`` is its logical name (an upload kept under a temporary name): it is
    used for format detection and in the report; ONNX symlink checks then have no folder to use."""
    file = Path(path)
    if not file.exists() and not file.is_symlink():
        raise FileNotFoundError(f"no such file: {file}")
    display = name if name is not None else str(file)
    logical = PurePath(name).name if name is not None else file.name
    base = file.parent if name is None else None
    return _report([_scan_one(file, display=display, name=logical, base=base, limits=limits)])


def _report(files: list[FileResult], extra: list[Finding] | None = None) -> ScanReport:
    extra = extra or []
    findings = tuple(f for result in files for f in result.findings) + tuple(extra)
    verdicts = [r.verdict for r in files] + ([verdict_of(extra)] if extra else [])
    return ScanReport(verdict=worst(verdicts), findings=findings, files=tuple(files))


def _scan_folder(root: Path, limits: ScanLimits) -> ScanReport:
    files: list[Path] = []
    results: list[FileResult] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        for d in list(dirnames):
            if d == ".git":
                dirnames.remove(d)
            elif (here / d).is_symlink():
                dirnames.remove(d)
                rec = Recorder(str(here / d), limits)
                rec.add(None, "not-followed", "medium", "a symlinked folder: its files were not scanned")
                results.append(_result(rec, "symlinked-folder", 0))
        files.extend(here / f for f in sorted(filenames))
    onnx_data: set[Path] = set()
    for file in files:
        if file.suffix.lower() == ".onnx":
            results.append(
                _scan_one(file, display=str(file), name=file.name, base=file.parent, limits=limits, onnx_data=onnx_data)
            )
    for file in files:
        if file.suffix.lower() != ".onnx":
            results.append(
                _scan_one(
                    file,
                    display=str(file),
                    name=file.name,
                    base=file.parent,
                    limits=limits,
                    external=frozenset(onnx_data),
                )
            )
    results.sort(key=lambda r: r.path)
    if not results:
        rec = Recorder(str(root), limits)
        rec.add(None, "empty-folder", "low", "the folder holds no files: nothing was verified")
        return _report([], rec.findings)
    return _report(results)


def _result(rec: Recorder, fmt: str, size: int) -> FileResult:
    findings = tuple(rec.findings)
    return FileResult(path=rec.file, format=fmt, verdict=verdict_of(findings), size=size, findings=findings)


def _scan_one(
    path: Path,
    *,
    display: str,
    name: str,
    base: Path | None,
    limits: ScanLimits,
    external: frozenset[Path] = frozenset(),
    onnx_data: set[Path] | None = None,
) -> FileResult:
    rec = Recorder(display, limits)
    try:
        info = path.stat()
    except OSError as exc:
        rec.add(None, "read-error", "medium", f"cannot read the file: {exc.strerror or exc}")
        return _result(rec, "unreadable", 0)
    if not stat.S_ISREG(info.st_mode):
        rec.add(None, "unknown-format", "medium", "not a regular file")
        return _result(rec, "special", 0)
    size = info.st_size
    try:
        with path.open("rb") as f:
            fmt = _dispatch(rec, f, path, name=name, size=size, base=base, external=external, onnx_data=onnx_data)
    except Unverifiable as exc:
        rec.failed(None, exc)
        fmt = "unknown"
    except OSError as exc:
        rec.add(None, "read-error", "medium", f"cannot read the file: {exc.strerror or exc}")
        fmt = "unreadable"
    except Exception as exc:  # a parser library failing in a way not foreseen: this file, not the whole scan
        rec.add(None, "parse-error", "medium", f"the scanner could not read this file: {exc!r}")
        fmt = "unknown"
    return _result(rec, fmt, size)


def _dispatch(
    rec: Recorder,
    f: BinaryIO,
    path: Path,
    *,
    name: str,
    size: int,
    base: Path | None,
    external: frozenset[Path],
    onnx_data: set[Path] | None,
) -> str:
    head = f.read(64)
    f.seek(0)
    suffix = PurePath(name).suffix.lower()
    if size == 0:
        rec.add(None, "unknown-format", "low", "an empty file")
        return "empty"
    if head.startswith(ZIP_MAGICS):
        return scan_zip(rec, f, size, keras=suffix == ".keras")
    if head.startswith(NPY_MAGIC):
        scan_npy(rec, None, f, size)
        return "npy"
    if head.startswith(HDF5_MAGIC):
        return "keras-h5" if scan_h5(rec, path) else "hdf5"
    if is_pickle_start(head):
        result = walk(rec, None, Source(f, size=size))
        return "pytorch-legacy" if result.legacy_torch else "joblib" if result.joblib_arrays else "pickle"
    if suffix == ".safetensors" or looks_like_safetensors(head, size):
        scan_safetensors(rec, None, f, size)
        return "safetensors"
    if suffix == ".onnx":
        referenced = scan_onnx(rec, path, base=base)
        if onnx_data is not None:
            onnx_data.update(referenced)
        return "onnx"
    kind = _compression(head, suffix, name)
    if kind is not None:
        inner = name[: -len(suffix)] if _COMPRESSED_SUFFIXES.get(suffix) == kind else name
        return scan_compressed(rec, f, kind, name=inner)
    if path.resolve() in external:
        if probe(rec, None, Source(f, size=size)) is not None:
            return "pickle"
        return "onnx-external-data"
    if head.startswith(SEVEN_ZIP_MAGIC):
        rec.add(None, "unknown-format", "medium", "7z archives are not supported: the content was not scanned")
        return "7z"
    if suffix in PICKLE_SUFFIXES:
        walk(rec, None, Source(f, size=size))
        return "pickle"
    if named_like_text(name):
        return _scan_text(rec, f, size)
    if probe(rec, None, Source(f, size=size)) is not None:
        return "pickle"
    rec.add(None, "unknown-format", "low", "not a model format the scanner reads")
    return "unknown"


def _compression(head: bytes, suffix: str, name: str) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x5d\x00\x00"):
        return "lzma"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0 and not named_like_text(name):
        return "zlib"
    return None


def _scan_text(rec: Recorder, f: BinaryIO, size: int) -> str:
    if probe(rec, None, Source(f, size=size)) is not None:
        return "pickle"
    f.seek(0)
    reason = not_text(f)
    if reason is not None:
        rec.add(None, "unknown-format", "low", f"named like text but is not UTF-8 text ({reason})")
        return "unknown"
    return "text"
