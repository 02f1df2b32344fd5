"""The inventory through the SDK, in process: the issue's "done when" path, end to end.

A model owner registers a model with a real scikit-learn artifact; it is scanned, encrypted, signed
and listed; a reviewer approves it; a tampered artifact is caught; a malicious pickle never becomes
promotable.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from charter.client import Charter
from charter.config import Settings
from charter.errors import Conflict, InvalidInput, PermissionDenied
from tests.conftest import PASSWORD, Factory
from tests.inventory.conftest import malicious_pickle_bytes, sklearn_model_bytes

URL = "http://testserver"


def _sdk(client: TestClient, username: str) -> Charter:
    return Charter.login(URL, username, PASSWORD, http=client)


@pytest.fixture
def people(client: TestClient, factory: Factory) -> tuple[Charter, Charter]:
    factory.user("olivia", "model_owner@credit-risk")
    factory.user("rita", "reviewer@credit-risk")
    return _sdk(client, "olivia"), _sdk(client, "rita")


def test_register_upload_approve_download_and_verify(
    people: tuple[Charter, Charter], tmp_path: Path, settings: Settings
) -> None:
    owner, reviewer = people
    owner.register_dataset("applications", team="credit-risk", classification="personal", legal_basis="contract")
    owner.register_model("credit-scoring", team="credit-risk", domain="credit", purpose="Score applications")
    owner.create_version(
        "credit-scoring", "1.0.0", datasets={"applications": "training"}, metrics={"auc": 0.8}, framework="sklearn"
    )
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(sklearn_model_bytes())
    artifact = owner.upload_artifact("credit-scoring", "1.0.0", model_file)
    assert artifact.scan_verdict == "clean" and artifact.encrypted
    assert [m.name for m in owner.list_models(q="credit")] == ["credit-scoring"]

    owner.promote("credit-scoring", "1.0.0", "review", comment="please review")
    with pytest.raises(PermissionDenied):
        owner.approve("credit-scoring", "1.0.0")  # an owner holds no version:approve
    approved = reviewer.approve("credit-scoring", "1.0.0", comment="looks right")
    assert approved.stage == "approved" and approved.transitions[-1].actor == "user:rita"

    # A downloaded copy verifies with Charter's key, here and with the upstream model_signing CLI.
    folder = owner.download_version("credit-scoring", "1.0.0", tmp_path / "copy")
    assert (folder / "model.pkl").read_bytes() == model_file.read_bytes()
    key = tmp_path / "charter.pub.pem"
    key.write_text(owner.signing_public_key())
    cli = Path(sys.executable).parent / "model_signing"
    command = [
        str(cli),
        "verify",
        "key",
        str(folder),
        "--signature",
        str(folder / "model.sig"),
        "--public_key",
        str(key),
    ]
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    (folder / "model.pkl").write_bytes(model_file.read_bytes() + b"\x00")
    tampered = subprocess.run(command, capture_output=True, text=True, check=False)
    assert tampered.returncode != 0

    assert owner.verify_version("credit-scoring", "1.0.0")["ok"] is True
    card = owner.model_card("credit-scoring", "1.0.0", format="markdown")
    assert card.startswith("---\n") and "credit-scoring" in card
    bom = owner.model_card("credit-scoring", "1.0.0", format="cyclonedx")
    assert bom["metadata"]["component"]["type"] == "machine-learning-model"

    # The stored copy tampered on disk: verification names the file.
    stored = next(p for p in (settings.home / "artifacts").rglob(artifact.digest) if p.is_file())
    data = bytearray(stored.read_bytes())
    data[-5] ^= 0xFF
    stored.write_bytes(bytes(data))
    report = owner.verify_version("credit-scoring", "1.0.0")
    assert report["ok"] is False and "model.pkl" in " ".join(report["problems"])
    with pytest.raises(Conflict, match=r"model\.pkl"):
        owner.promote("credit-scoring", "1.0.0", "production")


def test_a_malicious_pickle_uploaded_from_the_sdk_is_never_promotable(people: tuple[Charter, Charter]) -> None:
    owner, reviewer = people
    owner.register_model("churn", team="credit-risk")
    owner.create_version("churn", "1")
    payload = malicious_pickle_bytes()
    import io

    flagged = owner.upload_artifact("churn", "1", io.BytesIO(payload), path="weights/model.pkl")
    assert flagged.scan_verdict == "unsafe"
    owner.promote("churn", "1", "review")
    with pytest.raises(Conflict, match="unsafe"):
        reviewer.approve("churn", "1")
    with pytest.raises(InvalidInput):
        owner.promote("churn", "1", "production")  # not a lifecycle move from review at all
    assert reviewer.get_version("churn", "1").stage == "review"
    history = [e.action for e in owner.model_history("churn")]
    assert history[0] == "version.promote" and "artifact.upload" in history


def test_encrypt_weights_round_trips_dtype_and_shape_and_detects_tampering() -> None:
    import numpy as np

    from charter.compute.crypto.envelope import new_data_key
    from charter.errors import DecryptionFailed

    key = new_data_key()
    weights = np.arange(24, dtype=np.float16).reshape(2, 3, 4).T  # Fortran-ordered view
    blob = Charter.encrypt_weights(weights, key)
    back = Charter.decrypt_weights(blob, key)
    assert back.dtype == weights.dtype and back.shape == weights.shape and np.array_equal(back, weights)
    tampered = bytearray(blob)
    tampered[-20] ^= 1
    with pytest.raises(DecryptionFailed):
        Charter.decrypt_weights(bytes(tampered), key)
    with pytest.raises(DecryptionFailed):
        Charter.decrypt_weights(blob, new_data_key())
