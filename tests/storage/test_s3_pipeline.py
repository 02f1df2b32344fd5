"""The whole artifact pipeline on an S3-compatible store (moto's server): upload, encryption at rest,
download, verification, and tampering with the stored object."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from charter.config import Settings
from tests.conftest import Factory, make_settings
from tests.inventory.conftest import sklearn_model_bytes
from tests.storage.conftest import PREFIX, s3_uri


@pytest.fixture
def settings(home: Path, db_url: str, bucket: str, moto_endpoint: str) -> Settings:
    return make_settings(home, db_url, artifact_store=s3_uri(bucket, moto_endpoint))


def test_artifacts_live_encrypted_in_the_bucket_and_tampering_is_caught(
    client: TestClient,
    factory: Factory,
    login: Callable[..., dict[str, str]],
    s3_client: Any,
    bucket: str,
) -> None:
    factory.user("olivia", "model_owner@credit-risk")
    owner = login("olivia")
    assert (
        client.post("/api/v1/models", json={"name": "credit", "team": "credit-risk"}, headers=owner).status_code == 201
    )
    assert client.post("/api/v1/models/credit/versions", json={"version": "1"}, headers=owner).status_code == 201
    content = sklearn_model_bytes()
    upload = client.post(
        "/api/v1/models/credit/versions/1/artifacts", files={"file": ("model.pkl", content)}, headers=owner
    )
    assert upload.status_code == 201, upload.text
    digest = upload.json()["digest"]
    assert digest == hashlib.sha256(content).hexdigest()

    objects = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert objects == [f"{PREFIX}/{digest[:2]}/{digest[2:4]}/{digest}"]
    stored = s3_client.get_object(Bucket=bucket, Key=objects[0])["Body"].read()
    assert content[:64] not in stored

    download = client.get("/api/v1/models/credit/versions/1/artifacts/model.pkl", headers=owner)
    assert download.content == content
    assert client.post("/api/v1/models/credit/versions/1/verify", headers=owner).json()["ok"] is True

    tampered = bytearray(stored)
    tampered[-1] ^= 0x01
    s3_client.put_object(Bucket=bucket, Key=objects[0], Body=bytes(tampered))
    report = client.post("/api/v1/models/credit/versions/1/verify", headers=owner).json()
    assert report["ok"] is False and [f["path"] for f in report["files"] if not f["ok"]] == ["model.pkl"]
