"""One store test suite, run on every backend (as mlflow runs its store tests on each database).

The S3 backend talks HTTP to a real S3-compatible server: moto's, in a thread
on 127.0.0.1, started once per session; each test gets a fresh bucket and
dummy credentials. Sockets may connect to the loopback only, so no test can
reach AWS (or anything else) by accident.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3.session
import httpx
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from charter.storage import ArtifactStore, open_store
from charter.storage.base import blob_name

REGION = "us-east-1"
PREFIX = "team/artifacts"
ACCESS_KEY = "AKIACHARTERTESTONLY0"
SECRET_KEY = "charter-test-secret-do-not-echo-0123456789"
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in _LOOPBACK:
            raise OSError(f"storage tests may only connect to the loopback, not {host!r}")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials; nothing from the developer's AWS set-up (profiles, endpoints, proxies) leaks in."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_client(moto_endpoint: str) -> Any:
    """A plain boto3 client on the moto server, to look behind the store's back (made once: it is slow)."""
    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    ).client("s3", endpoint_url=moto_endpoint, config=Config(retries={"mode": "standard", "max_attempts": 1}))


@pytest.fixture
def bucket(s3_client: Any, moto_endpoint: str) -> Iterator[str]:
    name = f"charter-test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    yield name
    # Drop every bucket and blob so the server's memory does not grow over the session.
    httpx.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()


def s3_uri(bucket: str, endpoint: str, *, prefix: str = PREFIX, **options: str) -> str:
    options = {"endpoint_url": endpoint, "region": REGION, **options}
    query = "&".join(f"{name}={value}" for name, value in options.items())
    return f"s3://{bucket}/{prefix}?{query}"


@dataclass
class Backend:
    """A store plus the means to look behind its back."""

    name: str
    store: ArtifactStore
    #: Everything stored or half-stored: files (temp files included), objects, unfinished uploads.
    leftovers: Callable[[], list[str]]
    #: Leave what a crashed or foreign writer would: temp files, stray and misplaced objects.
    plant_debris: Callable[[str], None]


def filesystem_backend(root: Path) -> Backend:
    def leftovers() -> list[str]:
        return sorted(str(path.relative_to(root)) for path in root.rglob("*") if not path.is_dir())

    def plant_debris(key: str) -> None:
        folder = root / blob_name(key).rsplit("/", 1)[0]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".tmp-crashed-put").write_bytes(b"half a blob")
        (root / "README").write_text("not an artifact")
        misplaced = root / ("ff/ff" if key.startswith("0000") else "00/00")
        misplaced.mkdir(parents=True, exist_ok=True)
        (misplaced / key).write_bytes(b"in the wrong folder")

    return Backend("filesystem", open_store(str(root)), leftovers, plant_debris)


def s3_backend(client: Any, bucket: str, endpoint: str) -> Backend:
    def leftovers() -> list[str]:
        objects = [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return sorted(objects + [f"unfinished upload of {upload['Key']}" for upload in uploads])

    def plant_debris(key: str) -> None:
        name = f"{PREFIX}/{blob_name(key)}"
        upload = client.create_multipart_upload(Bucket=bucket, Key=name)
        client.upload_part(Bucket=bucket, Key=name, UploadId=upload["UploadId"], PartNumber=1, Body=b"half")
        client.put_object(Bucket=bucket, Key=f"{PREFIX}/README", Body=b"not an artifact")
        misplaced = "ff/ff" if key.startswith("0000") else "00/00"
        client.put_object(Bucket=bucket, Key=f"{PREFIX}/{misplaced}/{key}", Body=b"in the wrong folder")
        client.put_object(Bucket=bucket, Key=f"elsewhere/{blob_name(key)}", Body=b"outside the prefix")

    return Backend("s3", open_store(s3_uri(bucket, endpoint)), leftovers, plant_debris)


@pytest.fixture(params=["filesystem", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "filesystem":
        return filesystem_backend(tmp_path / "artifacts")
    client = request.getfixturevalue("s3_client")
    bucket = request.getfixturevalue("bucket")
    return s3_backend(client, bucket, request.getfixturevalue("moto_endpoint"))


@pytest.fixture
def store(backend: Backend) -> ArtifactStore:
    return backend.store
