"""Artifacts in a local folder: ``<root>/ab/cd/abcd...``, owner-only permissions.

A put writes a ``.tmp-*`` file in the blob's own folder, fsyncs it, renames it
over the final name (atomic on POSIX, same filesystem by construction) and
fsyncs the folder, so after a crash a blob is either complete or absent; at
worst ``.tmp-*`` files remain, which :meth:`FilesystemStore.keys` ignores.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from charter.errors import ConfigurationError, NotFound, StorageError
from charter.storage.base import READ_CHUNK, SizeCheck, blob_name, is_fanout, is_key, read_chunks, validate_key

__all__ = ["FilesystemStore", "path_from_uri"]

_DIR_MODE = 0o700
TMP_PREFIX = ".tmp-"


def path_from_uri(uri: str, *, home: Path | None = None) -> Path:
    """The absolute folder named by a plain path or a ``file:///abs/path`` URI.

    A relative plain path is taken relative to ``home`` when given, else to
    the current directory; ``~`` is expanded.
    """
    if uri.lower().startswith("file://"):
        parts = urlsplit(uri)
        if parts.query or parts.fragment:
            raise ConfigurationError(f"Artifact store URI {uri!r}: file:// URIs take no query or fragment")
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigurationError(
                f"Artifact store URI {uri!r}: a file URI needs an absolute path and three slashes, "
                "e.g. file:///var/lib/charter/artifacts (or give a plain path)"
            )
        return Path(unquote(parts.path))
    path = Path(uri).expanduser()
    if not path.is_absolute():
        path = (home if home is not None else Path.cwd()) / path
    return path.absolute()


class FilesystemStore:
    """An :class:`~charter.storage.ArtifactStore` in a local folder (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.uri = self.root.as_uri()

    def __repr__(self) -> str:
        return f"FilesystemStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / blob_name(validate_key(key))

    # -- writing ------------------------------------------------------------------------------------

    def put(self, key: str, src: BinaryIO, *, size: int | None = None) -> int:
        final = self._path(key)
        counter = SizeCheck(key, size)
        folder = final.parent
        with _storage_errors(f"Cannot write artifact {key} under {self.root}"):
            created = _make_dirs(folder)
            fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, dir=folder)  # mode 0600
        tmp = Path(tmp_name)
        try:
            with open(fd, "wb", buffering=0) as out:
                for chunk in read_chunks(src, READ_CHUNK):
                    counter.add(len(chunk))
                    with _storage_errors(f"Cannot write artifact {key} under {self.root}"):
                        _write_all(out, chunk)
                total = counter.finish()
                with _storage_errors(f"Cannot write artifact {key} under {self.root}"):
                    os.fsync(out.fileno())
            with _storage_errors(f"Cannot write artifact {key} under {self.root}"):
                os.replace(tmp, final)
                # The rename, and any folder we created, are durable only once their folders are synced.
                for synced in [folder, *(path.parent for path in created)]:
                    _fsync_dir(synced)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return total

    def delete(self, key: str) -> None:
        path = self._path(key)
        with _storage_errors(f"Cannot delete artifact {key} under {self.root}"):
            path.unlink(missing_ok=True)

    # -- reading ------------------------------------------------------------------------------------

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        path = self._path(key)
        try:
            return path.open("rb")
        except FileNotFoundError:
            raise NotFound(f"Artifact {key} not found in {self.uri}", details={"key": key}) from None
        except OSError as exc:
            raise StorageError(f"Cannot read artifact {key} under {self.root}: {exc.strerror}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        try:
            return path.stat().st_size
        except FileNotFoundError:
            raise NotFound(f"Artifact {key} not found in {self.uri}", details={"key": key}) from None
        except OSError as exc:
            raise StorageError(f"Cannot read artifact {key} under {self.root}: {exc.strerror}") from exc

    def keys(self) -> Iterator[str]:
        for first in _sorted_dirs(self.root):
            for second in _sorted_dirs(self.root / first):
                folder = self.root / first / second
                with _storage_errors(f"Cannot list artifacts under {self.root}"):
                    names = sorted(entry.name for entry in os.scandir(folder) if entry.is_file(follow_symlinks=False))
                for name in names:
                    # Skips .tmp-* leftovers and anything that is not a key in its own folder.
                    if is_key(name) and name[:2] == first and name[2:4] == second:
                        yield name

    # -- health -------------------------------------------------------------------------------------

    def check(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StorageError(
                f"Artifact store {self.root} is not a folder: point the store URI at a folder "
                "(it is created when missing)"
            )
        try:
            _make_dirs(self.root)
            fd, probe = tempfile.mkstemp(prefix=TMP_PREFIX, dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StorageError(
                f"Artifact store folder {self.root} is not writable ({exc.strerror}): create it and give "
                "the user running Charter write access, or choose another folder in the store URI"
            ) from exc


@contextlib.contextmanager
def _storage_errors(message: str) -> Iterator[None]:
    """Our own file operations failing (disk full, permissions) is a storage outage, not a bug."""
    try:
        yield
    except OSError as exc:
        raise StorageError(f"{message}: {exc.strerror or exc}") from exc


def _make_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents, each 0700 (``Path.mkdir`` gives parents the default mode)."""
    missing: list[Path] = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    created: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir(mode=_DIR_MODE)
        except FileExistsError:
            continue  # a concurrent put made it first
        created.append(path)
    return created


def _write_all(out: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = out.write(view)
        view = view[written:]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sorted_dirs(folder: Path) -> list[str]:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StorageError(f"Cannot list artifacts under {folder}: {exc.strerror}") from exc
    return sorted(entry.name for entry in entries if is_fanout(entry.name) and entry.is_dir(follow_symlinks=False))
