"""REST routes for compliance (``/api/v1/compliance``): frameworks, status, history, attestations, assessments.

A framework is sent as JSON (the same document as a YAML file); ``POST /frameworks/parse`` takes
the text of a YAML or JSON file. Attestations are multipart forms, so that a document can go with
them.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from charter.compliance import assessments, attestations, frameworks, service
from charter.compliance.schemas import (
    AttestationCreate,
    AttestationRead,
    ComplianceStatus,
    DpiaForm,
    FrameworkDocument,
    FrameworkRead,
    FrameworkSummary,
    FrameworkText,
    FriaForm,
    SnapshotRead,
)
from charter.errors import InvalidInput, SignatureInvalid
from charter.evidence.schemas import EvidenceRead
from charter.inventory import artifacts
from charter.policies import gates
from charter.security.permissions import Permission
from charter.server.deps import Context, Needs

router = APIRouter(prefix="/api/v1/compliance", tags=["compliance"])
P = Permission
ModelPath = "/models/{model}"


@router.get("/frameworks", response_model=list[FrameworkSummary])
def list_frameworks(ctx: Context = Needs(P.COMPLIANCE_READ)) -> list[FrameworkSummary]:
    """The frameworks shipped with Charter, then those added by users."""
    return service.list_frameworks(ctx.session, ctx.principal)


@router.post("/frameworks", response_model=FrameworkRead, status_code=status.HTTP_201_CREATED)
def save_framework(document: FrameworkDocument, ctx: Context = Needs(P.COMPLIANCE_WRITE)) -> FrameworkRead:
    """Add a framework, or a new version of one you added. Expressions and references are checked; errors
    give their field and position."""
    read, _created = service.save_framework(ctx.session, ctx.principal, document)
    return read


@router.post("/frameworks/parse", response_model=FrameworkRead, status_code=status.HTTP_201_CREATED)
def save_framework_text(data: FrameworkText, ctx: Context = Needs(P.COMPLIANCE_WRITE)) -> FrameworkRead:
    """As `POST /frameworks`, from the text of a YAML or JSON file."""
    read, _created = service.save_framework(ctx.session, ctx.principal, frameworks.parse_text(data.text))
    return read


@router.get("/frameworks/{framework}", response_model=FrameworkRead)
def read_framework(framework: str, ctx: Context = Needs(P.COMPLIANCE_READ)) -> FrameworkRead:
    return service.read_framework(ctx.session, ctx.principal, framework)


@router.get(ModelPath + "/status", response_model=ComplianceStatus)
def model_status(
    model: str,
    ctx: Context = Needs(P.COMPLIANCE_READ, write=True),
    version: Annotated[str | None, Query(max_length=100)] = None,
    framework: Annotated[str | None, Query(max_length=64)] = None,
    requirement: Annotated[list[str] | None, Query(max_length=50)] = None,
) -> ComplianceStatus:
    """Each requirement's status for the model (its newest production version unless `version` is given), with
    what decided it and the open gaps. A full answer that differs from the last one is kept in the history."""
    check = gates.signature_checker(ctx.session, ctx.state.protection)
    return service.status_for_model(
        ctx.session,
        ctx.principal,
        model,
        version,
        framework,
        requirements=requirement,
        signature_check=check,
    )


@router.get(ModelPath + "/history", response_model=list[SnapshotRead])
def model_history(
    model: str,
    ctx: Context = Needs(P.COMPLIANCE_READ),
    framework: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SnapshotRead]:
    """The model's status over time, newest first: one entry per change."""
    return service.history(ctx.session, ctx.principal, model, framework, limit=limit)


def _receive(upload: UploadFile, scratch: Path, limit: int) -> Path:
    """Copy the received document to the scratch folder, refusing it once it passes the size limit."""
    with tempfile.NamedTemporaryFile(dir=scratch, prefix="attestation-", delete=False) as out:
        target = Path(out.name)
        copied = 0
        try:
            while block := upload.file.read(1 << 20):
                copied += len(block)
                if copied > limit:
                    raise InvalidInput(f"The document is larger than {limit:,} bytes (CHARTER_MAX_UPLOAD_BYTES).")
                out.write(block)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
    return target


@router.post("/attestations", response_model=AttestationRead, status_code=status.HTTP_201_CREATED)
def attest(
    framework: Annotated[str, Form(max_length=64)],
    requirement: Annotated[str, Form(max_length=64)],
    statement: Annotated[str, Form(max_length=10_000, description="what is attested and how it was checked")],
    model: Annotated[str | None, Form(max_length=100, description="none: organisation-wide")] = None,
    valid_until: Annotated[datetime | None, Form(description="default: the requirement's max age, else a year")] = None,
    document: Annotated[UploadFile | None, File(description="a supporting document, stored encrypted")] = None,
    ctx: Context = Needs(P.COMPLIANCE_WRITE),
) -> AttestationRead:
    """Attest that a requirement is met, for a model or the whole organisation, until a date."""
    try:
        data = AttestationCreate(
            framework=framework, requirement=requirement, statement=statement, model=model, valid_until=valid_until
        )
    except ValidationError as exc:
        listed = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        raise InvalidInput(f"The attestation is not valid: {listed}") from None
    protection = ctx.state.protection
    if document is None:
        return attestations.attest(ctx.session, ctx.principal, protection, data)
    received = _receive(document, protection.scratch, protection.settings.max_upload_bytes)
    try:
        return attestations.attest(
            ctx.session, ctx.principal, protection, data, document=received, document_name=document.filename
        )
    finally:
        received.unlink(missing_ok=True)


@router.get("/attestations", response_model=list[AttestationRead])
def list_attestations(
    ctx: Context = Needs(P.COMPLIANCE_READ),
    framework: Annotated[str | None, Query(max_length=64)] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
    current: bool = False,
) -> list[AttestationRead]:
    """Attestations you may read, newest first; `model` adds the organisation-wide ones that cover it."""
    return attestations.list_attestations(
        ctx.session, ctx.principal, framework=framework, model=model, current_only=current
    )


@router.get("/attestations/{attestation}/document", response_class=StreamingResponse)
def attestation_document(attestation: int, ctx: Context = Needs(P.COMPLIANCE_READ)) -> StreamingResponse:
    """The attestation's document, decrypted as it streams; its SHA-256 is checked at the end."""
    protection = ctx.state.protection
    read, blob = attestations.document_of(ctx.session, ctx.principal, attestation)
    assert read.document is not None
    name, digest = read.document.name, read.document.sha256

    def stream() -> Iterator[bytes]:
        check = hashlib.sha256()
        with artifacts.plaintext_chunks(protection, blob, name=name) as chunks:
            for chunk in chunks:
                check.update(chunk)
                yield chunk
        if check.hexdigest() != digest:
            raise SignatureInvalid(f"{name}: the stored document does not match its recorded SHA-256.")

    headers = {
        "X-Charter-SHA256": digest,
        "Content-Length": str(read.document.size),
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    return StreamingResponse(stream(), media_type="application/octet-stream", headers=headers)


@router.post(
    ModelPath + "/versions/{version}/dpia", response_model=EvidenceRead, status_code=status.HTTP_201_CREATED
)
def record_dpia(model: str, version: str, form: DpiaForm, ctx: Context = Needs(P.EVIDENCE_WRITE)) -> EvidenceRead:
    """A data protection impact assessment (GDPR Art. 35(7) a-d), stored as `dpia` evidence on the version."""
    return assessments.record_dpia(ctx.session, ctx.principal, model, version, form)


@router.post(
    ModelPath + "/versions/{version}/fria", response_model=EvidenceRead, status_code=status.HTTP_201_CREATED
)
def record_fria(model: str, version: str, form: FriaForm, ctx: Context = Needs(P.EVIDENCE_WRITE)) -> EvidenceRead:
    """A fundamental rights impact assessment (EU AI Act Art. 27(1) a-f), stored as `fria` evidence."""
    return assessments.record_fria(ctx.session, ctx.principal, model, version, form)
