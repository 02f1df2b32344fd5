"""Models, versions, the lifecycle, artifacts, model cards and datasets over ``/api/v1``."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from charter.client.base import ClientBase, paginate, query, segment
from charter.compute.crypto import weights as weights_crypto
from charter.errors import SignatureInvalid
from charter.inventory.schemas import (
    ArtifactRead,
    DatasetRead,
    HistoryEntry,
    ModelRead,
    VersionDiff,
    VersionRead,
)
from charter.pagination import Page

CardFormat = Literal["json", "markdown", "cyclonedx"]


def _version_path(model: str | int, version: str) -> str:
    return f"/api/v1/models/{segment(model)}/versions/{segment(version)}"


def _file_path(path: str) -> str:
    # Artifact paths may hold folders: each part is quoted, the slashes kept.
    return "/".join(segment(part) for part in path.split("/"))


class InventoryAPI(ClientBase):
    # -- models ---------------------------------------------------------------------------------

    def register_model(self, name: str, *, team: str, **fields: Any) -> ModelRead:
        """Register a model. ``fields``: purpose, intended_use, out_of_scope_uses, domain, description,
        deployment_context, data_sources, regulations, tags (see ``ModelCreate``)."""
        return self._post(ModelRead, "/api/v1/models", {"name": name, "team": team, **fields})

    def get_model(self, model: str | int) -> ModelRead:
        return self._get(ModelRead, f"/api/v1/models/{segment(model)}")

    def update_model(self, model: str | int, **changes: Any) -> ModelRead:
        data = self._transport.json("PATCH", f"/api/v1/models/{segment(model)}", json=changes)
        return ModelRead.model_validate(data)

    def list_models(
        self,
        *,
        q: str | None = None,
        team: str | None = None,
        stage: str | None = None,
        risk_tier: str | None = None,
        domain: str | None = None,
        tag: str | None = None,
    ) -> Iterator[ModelRead]:
        """Every model you may read that matches, page by page."""
        params = query(q=q, team=team, stage=stage, risk_tier=risk_tier, domain=domain, tag=tag)
        return paginate(lambda cursor: self._get(Page[ModelRead], "/api/v1/models", {**params, **query(cursor=cursor)}))

    def model_history(self, model: str | int) -> Iterator[HistoryEntry]:
        """Every audited change to the model, newest first."""
        path = f"/api/v1/models/{segment(model)}/history"
        return paginate(lambda cursor: self._get(Page[HistoryEntry], path, query(cursor=cursor)))

    # -- versions and the lifecycle -------------------------------------------------------------

    def create_version(
        self,
        model: str | int,
        version: str,
        *,
        datasets: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> VersionRead:
        """A new draft version. ``datasets`` maps a dataset name to its role (training, evaluation,
        reference); ``fields``: description, framework, metrics, parameters, input_schema, output_schema, card."""
        links = [{"dataset": name, "role": role} for name, role in (datasets or {}).items()]
        body = {"version": version, "datasets": links, **fields}
        return self._post(VersionRead, f"/api/v1/models/{segment(model)}/versions", body)

    def get_version(self, model: str | int, version: str) -> VersionRead:
        return self._get(VersionRead, _version_path(model, version))

    def list_versions(self, model: str | int, *, stage: str | None = None) -> Iterator[VersionRead]:
        path = f"/api/v1/models/{segment(model)}/versions"
        return paginate(lambda cursor: self._get(Page[VersionRead], path, query(stage=stage, cursor=cursor)))

    def promote(self, model: str | int, version: str, stage: str, *, comment: str | None = None) -> VersionRead:
        """Move a version to ``stage`` (the server checks the lifecycle, roles, four eyes and gates)."""
        body = query(stage=stage, comment=comment)
        return self._post(VersionRead, _version_path(model, version) + "/promote", body)

    def approve(self, model: str | int, version: str, *, comment: str | None = None) -> VersionRead:
        """Approve a version in review (needs ``version:approve``; not its author)."""
        return self.promote(model, version, "approved", comment=comment)

    def diff_versions(self, model: str | int, old: str, new: str) -> VersionDiff:
        return self._get(VersionDiff, f"/api/v1/models/{segment(model)}/diff", {"old": old, "new": new})

    def update_card(self, model: str | int, version: str, **fields: str | list[str] | None) -> VersionRead:
        """Edit the owner-written model-card fields (limitations, ethical_considerations, ...)."""
        data = self._transport.json("PATCH", _version_path(model, version) + "/card", json={"fields": fields})
        return VersionRead.model_validate(data)

    def model_card(self, model: str | int, version: str, *, format: CardFormat = "json") -> Any:
        """The card as JSON (a dict), Markdown with YAML front matter (str), or a CycloneDX ML-BOM (dict)."""
        response = self._transport.send("GET", _version_path(model, version) + "/card", params={"format": format})
        return response.text if format == "markdown" else response.json()

    # -- artifacts ------------------------------------------------------------------------------

    def upload_artifact(
        self, model: str | int, version: str, file: str | os.PathLike[str] | BinaryIO, *, path: str | None = None
    ) -> ArtifactRead:
        """Add a file to a draft version; the server scans, encrypts and signs it. ``path`` names it inside
        the model folder (default: the file's name)."""
        url = _version_path(model, version) + "/artifacts"
        if isinstance(file, str | os.PathLike):
            local = Path(file)
            with local.open("rb") as handle:
                data = self._transport.json(
                    "POST", url, files={"file": (local.name, handle)}, data=query(path=path or local.name)
                )
        else:
            name = path or Path(getattr(file, "name", "artifact")).name
            data = self._transport.json("POST", url, files={"file": (name, file)}, data={"path": name})
        return ArtifactRead.model_validate(data)

    def download_artifact(self, model: str | int, version: str, path: str, dest: str | os.PathLike[str]) -> Path:
        """Download one file to ``dest`` (a file or a folder). The file appears only once its SHA-256
        matches the signed one; a corrupted transfer leaves nothing behind."""
        target = Path(dest)
        if target.is_dir():
            target = target / path
        target.parent.mkdir(parents=True, exist_ok=True)
        url = _version_path(model, version) + "/artifacts/" + _file_path(path)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".charter-")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, self._transport.stream("GET", url) as response:
                expected = response.headers.get("x-charter-sha256")
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    out.write(chunk)
            if expected is None or digest.hexdigest() != expected:
                raise SignatureInvalid(
                    f"{path}: the downloaded bytes do not match the signed SHA-256; nothing was kept."
                )
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    def signature(self, model: str | int, version: str) -> bytes:
        """The version's ``model.sig`` (OpenSSF model-signing bundle)."""
        return self._transport.send("GET", _version_path(model, version) + "/signature").content

    def signing_public_key(self) -> str:
        """The PEM public key that verifies Charter's model signatures."""
        return self._transport.send("GET", "/api/v1/keys/signing").text

    def download_version(self, model: str | int, version: str, folder: str | os.PathLike[str]) -> Path:
        """Every file of a version plus its ``model.sig`` into ``folder``, ready for
        ``model_signing verify key FOLDER --signature FOLDER/model.sig --public_key KEY``."""
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        for artifact in self.get_version(model, version).artifacts:
            self.download_artifact(model, version, artifact.path, root / artifact.path)
        (root / "model.sig").write_bytes(self.signature(model, version))
        return root

    def verify_version(self, model: str | int, version: str) -> dict[str, Any]:
        """Have the server decrypt and hash every stored file and check them against the signature."""
        result: dict[str, Any] = self._transport.json("POST", _version_path(model, version) + "/verify")
        return result

    def override_artifact(self, model: str | int, version: str, path: str, *, reason: str) -> ArtifactRead:
        """Let a flagged artifact proceed past review (administrators; the reason is recorded)."""
        url = _version_path(model, version) + "/artifacts/" + _file_path(path) + "/override"
        return self._post(ArtifactRead, url, {"reason": reason})

    # -- weights, locally (the framework's vocabulary) -----------------------------------------

    @staticmethod
    def encrypt_weights(weights: np.ndarray[Any, Any], key: bytes) -> bytes:
        """Encrypt an array with a 32-byte key (AES-256-GCM envelope, chunked); no server involved.

        Unlike ``Fernet(key).encrypt(weights.tobytes())`` the dtype, shape and memory order travel
        with the data, no whole copy of the array is made, and any change to the result is detected.
        """
        return weights_crypto.encrypt_weights(weights, key)

    @staticmethod
    def decrypt_weights(blob: bytes, key: bytes) -> np.ndarray[Any, Any]:
        """The array :meth:`encrypt_weights` encrypted, with its dtype and shape; a wrong key or a
        modified byte raises ``DecryptionFailed``."""
        return weights_crypto.decrypt_weights(blob, key)

    # -- datasets -------------------------------------------------------------------------------

    def register_dataset(self, name: str, *, team: str, **fields: Any) -> DatasetRead:
        """``fields``: location, classification, legal_basis, retention_days, consent_required, description, tags."""
        return self._post(DatasetRead, "/api/v1/datasets", {"name": name, "team": team, **fields})

    def get_dataset(self, dataset: str | int) -> DatasetRead:
        return self._get(DatasetRead, f"/api/v1/datasets/{segment(dataset)}")

    def list_datasets(
        self, *, q: str | None = None, team: str | None = None, classification: str | None = None
    ) -> Iterator[DatasetRead]:
        params = query(q=q, team=team, classification=classification)
        return paginate(
            lambda cursor: self._get(Page[DatasetRead], "/api/v1/datasets", {**params, **query(cursor=cursor)})
        )
