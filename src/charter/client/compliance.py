"""Compliance over ``/api/v1/compliance`` and training records over ``/api/v1/training``."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from charter.client.base import ClientBase, Moment, iso, query, segment
from charter.compliance.schemas import (
    AttestationRead,
    ComplianceStatus,
    DpiaForm,
    FrameworkDocument,
    FrameworkRead,
    FrameworkSummary,
    FriaForm,
    SnapshotRead,
)
from charter.evidence.schemas import EvidenceRead
from charter.training.schemas import CompletionRead, CourseRead, TrainingStatus

_BASE = "/api/v1/compliance"


def _model(model: str | int, *parts: str) -> str:
    return "/".join([f"{_BASE}/models/{segment(model)}", *parts])


def _plain(document: FrameworkDocument | DpiaForm | FriaForm | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(document, FrameworkDocument | DpiaForm | FriaForm):
        return document.model_dump(mode="json")
    return dict(document)


class ComplianceAPI(ClientBase):
    def compliance_frameworks(self) -> list[FrameworkSummary]:
        """The frameworks: shipped with Charter (EU AI Act, GDPR, NIST AI RMF, ISO/IEC 42001), then yours."""
        return self._get(list[FrameworkSummary], f"{_BASE}/frameworks")

    def get_framework(self, framework: str) -> FrameworkRead:
        return self._get(FrameworkRead, f"{_BASE}/frameworks/{segment(framework)}")

    def add_framework(self, document: FrameworkDocument | Mapping[str, Any] | str | Path) -> FrameworkRead:
        """Add a framework (or a new version of one you added): a document, or the path of a YAML or JSON file.

        Expressions and references are checked: errors raise ``InvalidInput`` with their positions in
        ``details["errors"]``.
        """
        if isinstance(document, str | Path):
            text = Path(document).read_text(encoding="utf-8")
            return self._post(FrameworkRead, f"{_BASE}/frameworks/parse", {"text": text})
        return self._post(FrameworkRead, f"{_BASE}/frameworks", _plain(document))

    def compliance_status(
        self,
        model: str | int,
        *,
        version: str | None = None,
        framework: str | None = None,
        requirements: Sequence[str] | None = None,
    ) -> ComplianceStatus:
        """Each requirement's status for the model (its newest production version by default), with why and gaps."""
        params = query(version=version, framework=framework, requirement=list(requirements) if requirements else None)
        return self._get(ComplianceStatus, _model(model, "status"), params)

    def check_compliance(
        self, model_id: str | int, requirements: Sequence[str] | None = None, *, framework: str | None = None
    ) -> ComplianceStatus:
        """The framework's ``check_compliance``: the model's status against ``requirements``
        ('Art. 9' or 'eu-ai-act:Art. 9'), or against every requirement when none are named."""
        return self.compliance_status(model_id, framework=framework, requirements=requirements)

    def compliance_history(
        self, model: str | int, *, framework: str | None = None, limit: int | None = None
    ) -> list[SnapshotRead]:
        """The model's status over time, newest first, one entry per change."""
        return self._get(list[SnapshotRead], _model(model, "history"), query(framework=framework, limit=limit))

    def attest(
        self,
        framework: str,
        requirement: str,
        *,
        statement: str,
        model: str | None = None,
        valid_until: Moment | None = None,
        document: str | os.PathLike[str] | BinaryIO | None = None,
    ) -> AttestationRead:
        """Attest that a requirement is met, for a model (or the organisation), with an optional document."""
        form = query(
            framework=framework, requirement=requirement, statement=statement, model=model, valid_until=iso(valid_until)
        )
        url = f"{_BASE}/attestations"
        if document is None:
            data = self._transport.json("POST", url, data=form)
        elif isinstance(document, str | os.PathLike):
            local = Path(document)
            with local.open("rb") as handle:
                data = self._transport.json("POST", url, data=form, files={"document": (local.name, handle)})
        else:
            name = Path(getattr(document, "name", "document")).name
            data = self._transport.json("POST", url, data=form, files={"document": (name, document)})
        return AttestationRead.model_validate(data)

    def attestations(
        self, *, model: str | None = None, framework: str | None = None, current: bool = False
    ) -> list[AttestationRead]:
        params = query(model=model, framework=framework, current=current or None)
        return self._get(list[AttestationRead], f"{_BASE}/attestations", params)

    def attestation_document(self, attestation: int) -> bytes:
        """The attestation's document (decrypted by the server; its SHA-256 is checked here too)."""
        import hashlib

        from charter.errors import SignatureInvalid

        response = self._transport.send("GET", f"{_BASE}/attestations/{segment(attestation)}/document")
        content: bytes = response.content
        expected = response.headers.get("X-Charter-SHA256")
        if expected and hashlib.sha256(content).hexdigest() != expected:
            raise SignatureInvalid(f"The document of attestation {attestation} does not match its SHA-256.")
        return content

    def record_dpia(self, model: str | int, version: str, form: DpiaForm | Mapping[str, Any]) -> EvidenceRead:
        """A data protection impact assessment (GDPR Art. 35), stored as ``dpia`` evidence on the version."""
        return self._post(EvidenceRead, _model(model, "versions", segment(version), "dpia"), _plain(form))

    def record_fria(self, model: str | int, version: str, form: FriaForm | Mapping[str, Any]) -> EvidenceRead:
        """A fundamental rights impact assessment (EU AI Act Art. 27), stored as ``fria`` evidence."""
        return self._post(EvidenceRead, _model(model, "versions", segment(version), "fria"), _plain(form))


class TrainingAPI(ClientBase):
    def training_courses(self) -> list[CourseRead]:
        return self._get(list[CourseRead], "/api/v1/training/courses")

    def add_training_course(
        self,
        course: str,
        *,
        title: str,
        kind: str,
        validity_days: int | None = 365,
        required: bool = False,
        description: str | None = None,
    ) -> CourseRead:
        """A course; ``required`` ones must be held by every owner and approver of a model."""
        body = {
            "id": course,
            "title": title,
            "kind": kind,
            "validity_days": validity_days,
            "required": required,
            "description": description,
        }
        return self._post(CourseRead, "/api/v1/training/courses", body)

    def record_training(
        self,
        person: str,
        course: str,
        *,
        completed_at: Moment | None = None,
        expires_at: Moment | None = None,
        note: str | None = None,
    ) -> CompletionRead:
        """Record that a user completed a course (it expires after the course's validity unless told)."""
        body = {
            "person": person,
            "course": course,
            "completed_at": iso(completed_at),
            "expires_at": iso(expires_at),
            "note": note,
        }
        return self._post(CompletionRead, "/api/v1/training/completions", body)

    def training_completions(
        self, *, person: str | None = None, course: str | None = None, current: bool = False
    ) -> list[CompletionRead]:
        params = query(person=person, course=course, current=current or None)
        return self._get(list[CompletionRead], "/api/v1/training/completions", params)

    def my_training(self) -> TrainingStatus:
        """Your own completions and the required courses you lack."""
        return self._get(TrainingStatus, "/api/v1/training/me")
