"""The artifact store contract, run on the filesystem and on S3 (moto's server) alike."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from charter.errors import CharterError, InvalidInput, NotFound, StorageError
from charter.storage import ArtifactStore, open_store
from charter.storage.s3 import PART_SIZE
from tests.storage.conftest import ACCESS_KEY, PREFIX, SECRET_KEY, Backend, s3_uri

MIB = 1024 * 1024


def key_for(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def read_all(store: ArtifactStore, key: str) -> bytes:
    with store.open(key) as blob:
        return blob.read()


class Boom(Exception):
    """What a failing source stream raises (a dropped upload, a decryption error)."""


class FailingStream(io.RawIOBase):
    """Yields ``good`` bytes, then raises: the caller's stream dies mid-put."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left == 0:
            raise Boom("source stream died")
        count = min(len(buffer), self.left)
        buffer[:count] = b"x" * count
        self.left -= count
        return count


# -- round trips ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, 1000, PART_SIZE - 1, PART_SIZE, 20 * MIB + 3],
    ids=["empty", "one-byte", "small", "just-under-a-part", "exactly-a-part", "multi-part"],
)
def test_put_then_open_returns_the_same_bytes(store: ArtifactStore, size: int) -> None:
    data = os.urandom(size)
    key = key_for(f"blob-{size}")
    assert store.put(key, io.BytesIO(data)) == size
    assert store.exists(key)
    assert store.size(key) == size
    assert read_all(store, key) == data


def test_put_gathers_short_reads_from_the_source(store: ArtifactStore) -> None:
    class Trickle(io.RawIOBase):
        """Gives at most 64 KiB per read, as a socket or a decrypting wrapper would."""

        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self.data.read(min(len(buffer), 64 * 1024))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    data = os.urandom(PART_SIZE + 100 * 1024)
    key = key_for("trickle")
    assert store.put(key, Trickle(data)) == len(data)  # type: ignore[arg-type]
    assert read_all(store, key) == data


def test_open_streams_with_read_and_readinto(store: ArtifactStore) -> None:
    data = os.urandom(3 * MIB + 17)
    key = key_for("reader")
    store.put(key, io.BytesIO(data))
    with store.open(key) as blob:
        assert blob.read(10) == data[:10]
        buffer = bytearray(MIB)
        assert blob.readinto(buffer) == MIB  # type: ignore[attr-defined]
        assert bytes(buffer) == data[10 : 10 + MIB]
        assert blob.read() == data[10 + MIB :]
        assert blob.read(1) == b""
    with pytest.raises(ValueError, match="closed"):
        blob.read(1)


def test_overwrite_replaces_the_blob(backend: Backend) -> None:
    store, key = backend.store, key_for("overwritten")
    store.put(key, io.BytesIO(b"first version, longer than the second"))
    store.put(key, io.BytesIO(b"second"))
    assert read_all(store, key) == b"second"
    assert store.size(key) == len(b"second")
    assert list(store.keys()) == [key]


def test_announced_size_is_checked_and_a_mismatch_stores_nothing(backend: Backend) -> None:
    store = backend.store
    data = os.urandom(PART_SIZE + 10)
    assert store.put(key_for("exact"), io.BytesIO(data), size=len(data)) == len(data)
    store.delete(key_for("exact"))
    for label, announced, payload in [
        ("short-small", 11, b"0123456789"),
        ("long-small", 9, b"0123456789"),
        ("short-multipart", len(data) + 1, data),
        ("long-multipart", len(data) - 1, data),
    ]:
        key = key_for(label)
        with pytest.raises(InvalidInput, match=f"expected {announced} bytes"):
            store.put(key, io.BytesIO(payload), size=announced)
        assert not store.exists(key)
    assert backend.leftovers() == []


def test_exists_size_and_idempotent_delete(store: ArtifactStore) -> None:
    key = key_for("lifecycle")
    assert not store.exists(key)
    store.delete(key)  # deleting what is not there is fine
    store.put(key, io.BytesIO(b"payload"))
    assert store.exists(key) and store.size(key) == 7
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)
    with pytest.raises(NotFound):
        store.size(key)


def test_missing_key_is_not_found_and_named(store: ArtifactStore) -> None:
    key = key_for("never stored")
    with pytest.raises(NotFound, match=key) as caught, store.open(key):
        pass
    assert caught.value.details == {"key": key}
    with pytest.raises(NotFound, match=key):
        store.size(key)


def test_keys_lists_exactly_the_stored_keys(backend: Backend) -> None:
    store = backend.store
    assert list(store.keys()) == []
    stored = {key_for(f"listed-{n}") for n in range(5)}
    for key in stored:
        store.put(key, io.BytesIO(key.encode()))
    debris_key = key_for("crashed mid-put")
    backend.plant_debris(debris_key)
    listed = list(store.keys())
    assert sorted(listed) == sorted(stored)
    assert not store.exists(debris_key)


def test_the_uri_reopens_the_same_store(store: ArtifactStore) -> None:
    key = key_for("reopened")
    store.put(key, io.BytesIO(b"same store"))
    again = open_store(store.uri)
    assert again.uri == store.uri
    assert read_all(again, key) == b"same store"


def test_check_passes_on_a_usable_store(store: ArtifactStore) -> None:
    store.check()


# -- keys are digests, nothing else -----------------------------------------------------------------

BAD_KEYS = [
    "../x",
    "../" + "a" * 61,
    "a" * 63,
    "a" * 65,
    "A" * 64,
    "g" * 64,
    "aa/" + "a" * 61,
    "a" * 63 + "\n",
    "",
]


@pytest.mark.parametrize("bad", BAD_KEYS, ids=repr)
@pytest.mark.parametrize("operation", ["put", "open", "exists", "size", "delete"])
def test_invalid_keys_are_refused(backend: Backend, operation: str, bad: str) -> None:
    store = backend.store
    src = io.BytesIO(b"never read")
    calls: dict[str, Callable[[], object]] = {
        "put": lambda: store.put(bad, src),
        "open": lambda: store.open(bad),
        "exists": lambda: store.exists(bad),
        "size": lambda: store.size(bad),
        "delete": lambda: store.delete(bad),
    }
    with pytest.raises(InvalidInput, match="SHA-256 hex digest"):
        calls[operation]()
    assert src.tell() == 0
    assert backend.leftovers() == []


# -- failures leave nothing behind ------------------------------------------------------------------


@pytest.mark.parametrize("good", [0, 1000, PART_SIZE + MIB], ids=["at-once", "small", "after-a-part"])
def test_a_put_that_fails_midway_leaves_nothing(backend: Backend, good: int) -> None:
    key = key_for(f"failed-{good}")
    with pytest.raises(Boom):
        backend.store.put(key, FailingStream(good))  # type: ignore[arg-type]
    assert not backend.store.exists(key)
    assert list(backend.store.keys()) == []
    # No temp file, no half object, no unfinished multipart upload.
    assert backend.leftovers() == []


def test_a_failed_overwrite_keeps_the_previous_blob(backend: Backend) -> None:
    store, key = backend.store, key_for("kept")
    old = os.urandom(1000)
    store.put(key, io.BytesIO(old))
    with pytest.raises(Boom):
        store.put(key, FailingStream(PART_SIZE + MIB))  # type: ignore[arg-type]
    assert read_all(store, key) == old
    assert len(backend.leftovers()) == 1


# -- memory -----------------------------------------------------------------------------------------

# Runs in its own interpreter: tracemalloc counts every thread, and the moto server
# thread in this one holds each uploaded blob whole.
MEMORY_PROBE = r"""
import hashlib, json, sys, tracemalloc
from charter.storage import open_store

SIZE = int(sys.argv[2])
BLOCK = hashlib.sha256(b"block").digest() * 32768 + b"1234567"  # 1 MiB + 7: parts differ from each other


class Source:
    def __init__(self):
        self.pos = 0
        self.view = memoryview(BLOCK)
        self.digest = hashlib.sha256()

    def read(self, n=-1):
        n = SIZE - self.pos if n < 0 else min(n, SIZE - self.pos)
        pieces, left = [], n
        while left:
            start = self.pos % len(BLOCK)
            take = min(left, len(BLOCK) - start)
            pieces.append(self.view[start : start + take])
            self.pos += take
            left -= take
        data = b"".join(pieces)
        self.digest.update(data)
        return data


store = open_store(sys.argv[1])
key = "ab" * 32
store.exists(key)  # warm up: the S3 client and its service model are not what we measure
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
source = Source()
written = store.put(key, source, size=SIZE)
put_peak = tracemalloc.get_traced_memory()[1] - base
tracemalloc.reset_peak()
base = tracemalloc.get_traced_memory()[0]
digest, buffer, total = hashlib.sha256(), bytearray(1024 * 1024), 0
with store.open(key) as blob:
    while count := blob.readinto(buffer):
        digest.update(memoryview(buffer)[:count])
        total += count
read_peak = tracemalloc.get_traced_memory()[1] - base
print(json.dumps({
    "written": written, "read": total, "same": digest.digest() == source.digest.digest(),
    "put_peak": put_peak, "read_peak": read_peak,
}))
"""


@pytest.mark.slow
def test_put_and_open_stream_in_bounded_memory(store: ArtifactStore) -> None:
    size = 64 * MIB
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", MEMORY_PROBE, store.uri, str(size)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["written"] == report["read"] == size and report["same"]
    # A blob held whole would need >= 64 MiB. Measured: filesystem put ~2 MiB, read ~1 MiB; S3 put
    # ~10.5 MiB (one 8 MiB part), read ~3 MiB. Holding a second part would break the put budget.
    assert report["put_peak"] < PART_SIZE + 4 * MIB, report
    assert report["read_peak"] < 8 * MIB, report


# -- filesystem specifics ---------------------------------------------------------------------------


def test_filesystem_folders_are_0700_and_blobs_0600(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "artifacts"
    store = open_store(str(root))
    key = key_for("private")
    store.put(key, io.BytesIO(b"secret-ish"))
    blob = root / key[:2] / key[2:4] / key
    for folder in (tmp_path / "deep", root, blob.parent.parent, blob.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(blob.stat().st_mode) == 0o600


def test_filesystem_check_creates_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "new" / "artifacts"
    open_store(str(root)).check()
    assert root.is_dir() and list(root.iterdir()) == []  # the write probe is gone


@pytest.mark.parametrize("where", ["root-is-a-file", "parent-is-a-file"])
def test_filesystem_unusable_folder_is_a_storage_error(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    store = open_store(str(blocker if where == "root-is-a-file" else blocker / "artifacts"))
    with pytest.raises(StorageError, match=str(blocker)) as caught:
        store.check()
    assert "folder" in caught.value.message
    with pytest.raises(StorageError, match="Cannot write artifact"):
        store.put(key_for("nowhere"), io.BytesIO(b"data"))


# -- S3 specifics -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: connecting is refused


def assert_no_credentials_in(error: CharterError) -> None:
    for text in (error.message, repr(error.details), str(error.__cause__)):
        assert SECRET_KEY not in text and ACCESS_KEY not in text


def test_s3_big_blobs_go_up_in_parts(s3_client: Any, bucket: str, moto_endpoint: str) -> None:
    store = open_store(s3_uri(bucket, moto_endpoint))
    big, small = key_for("big"), key_for("small")
    store.put(big, io.BytesIO(os.urandom(2 * PART_SIZE + 1)))
    store.put(small, io.BytesIO(b"small"))
    head = s3_client.head_object(Bucket=bucket, Key=f"{PREFIX}/{big[:2]}/{big[2:4]}/{big}")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart object's ETag counts its parts
    head = s3_client.head_object(Bucket=bucket, Key=f"{PREFIX}/{small[:2]}/{small[2:4]}/{small}")
    assert "-" not in head["ETag"]


def test_s3_keys_follow_the_pagination(monkeypatch: pytest.MonkeyPatch, bucket: str, moto_endpoint: str) -> None:
    monkeypatch.setattr("charter.storage.s3.LIST_PAGE_SIZE", 2)
    store = open_store(s3_uri(bucket, moto_endpoint))
    stored = {key_for(f"paged-{n}") for n in range(7)}
    for key in stored:
        store.put(key, io.BytesIO(b"x"))
    assert sorted(store.keys()) == sorted(stored)


def test_s3_missing_bucket_is_a_storage_error_saying_so(moto_endpoint: str) -> None:
    store = open_store(s3_uri("charter-no-such-bucket", moto_endpoint))
    with pytest.raises(StorageError, match=r"bucket 'charter-no-such-bucket' does not exist") as caught:
        store.check()
    assert_no_credentials_in(caught.value)
    # Not NotFound: the blob is not missing, the whole store is.
    with pytest.raises(StorageError, match="does not exist"), store.open(key_for("anything")):
        pass
    with pytest.raises(StorageError, match="does not exist"):
        store.put(key_for("anything"), io.BytesIO(b"data"))
    with pytest.raises(StorageError, match="does not exist"):
        list(store.keys())


def test_s3_unreachable_endpoint_is_a_quick_storage_error() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = open_store(s3_uri("charter-artifacts", endpoint, connect_timeout="1", max_attempts="1"))
    started = time.monotonic()
    with pytest.raises(StorageError, match="Cannot reach the S3 endpoint") as caught:
        store.check()
    assert endpoint in caught.value.message and "endpoint_url" in caught.value.message
    assert_no_credentials_in(caught.value)
    with pytest.raises(StorageError, match="Cannot reach"):
        store.put(key_for("anything"), io.BytesIO(b"data"))
    assert time.monotonic() - started < 5


def test_s3_missing_credentials_say_where_to_put_them(
    monkeypatch: pytest.MonkeyPatch, bucket: str, moto_endpoint: str
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StorageError, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        open_store(s3_uri(bucket, moto_endpoint)).check()
