"""Attestations: a person states that a requirement is met, for one model or the whole organisation, until a date.

Writing one needs ``compliance:write`` in the model's team (the organisation, for organisation-wide
ones). An optional supporting document is stored like a model file: encrypted into the artifact
store under the SHA-256 of its plaintext, its data key wrapped by the master key (so key rotation
re-wraps it too); the database keeps its name, size and digest only, never its bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.compliance import service
from charter.compliance.models import AttestationRow
from charter.compliance.schemas import AttestationCreate, AttestationDocument, AttestationRead
from charter.errors import InvalidInput, NotFound
from charter.inventory import artifacts
from charter.inventory import service as inventory
from charter.inventory.artifacts import Protection
from charter.inventory.models import BlobRow, ModelRow
from charter.security.permissions import Permission
from charter.security.principal import ORG, Principal, authorize

P = Permission
DEFAULT_VALIDITY = timedelta(days=365)
LONGEST = timedelta(days=3650)


def _read(row: AttestationRow, model: str | None, now: datetime) -> AttestationRead:
    document = None
    if row.document_digest is not None:
        assert row.document_name is not None and row.document_size is not None
        document = AttestationDocument(name=row.document_name, size=row.document_size, sha256=row.document_digest)
    return AttestationRead(
        id=row.id,
        framework=row.framework_id,
        requirement=row.requirement_id,
        model=model,
        statement=row.statement,
        document=document,
        valid_until=row.valid_until,
        current=now < row.valid_until,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _document_name(name: str | None) -> str:
    """The file's own name, printable ASCII without quotes (it goes into a Content-Disposition header)."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    cleaned = "".join(c for c in base if " " <= c <= "~" and c not in "\"\\;").strip()
    return (cleaned or "document")[:200]


def attest(
    session: Session,
    actor: Principal,
    protection: Protection,
    data: AttestationCreate,
    *,
    document: Path | None = None,
    document_name: str | None = None,
    now: datetime | None = None,
) -> AttestationRead:
    """Record an attestation, with an optional document (a plaintext file the edge received)."""
    model = inventory.get_model_row(session, data.model) if data.model else None
    authorize(actor, P.COMPLIANCE_WRITE, inventory.scope_of(model) if model else ORG)
    framework = service.find_framework(session, data.framework)
    requirement = next((r for r in framework.requirements if r.spec.id == data.requirement), None)
    if requirement is None:
        raise NotFound(f"Framework {framework.id!r} has no requirement {data.requirement!r}.")
    moment = now or datetime.now(UTC)
    wanted = requirement.spec.satisfied_by.effective_attestation()
    default = timedelta(days=wanted.max_age_days) if wanted and wanted.max_age_days else DEFAULT_VALIDITY
    valid_until = data.valid_until or moment + default
    if valid_until <= moment:
        raise InvalidInput(f"valid_until {valid_until:%Y-%m-%d %H:%M} UTC has passed already.")
    if valid_until > moment + LONGEST:
        raise InvalidInput("An attestation is valid for at most ten years; attest again when it lapses.")
    blob: BlobRow | None = None
    if document is not None:
        size = document.stat().st_size
        if size > protection.settings.max_upload_bytes:
            raise InvalidInput(
                f"The document is {size:,} bytes; the limit is {protection.settings.max_upload_bytes:,} "
                "(CHARTER_MAX_UPLOAD_BYTES)."
            )
        # The artifact pipeline's own store step: encrypted, deduplicated by digest, rotated with the keys.
        blob = artifacts.store_blob(session, protection, document)
    row = AttestationRow(
        framework_id=framework.id,
        requirement_id=requirement.spec.id,
        model_id=model.id if model else None,
        statement=data.statement,
        document_digest=blob.digest if blob else None,
        document_name=_document_name(document_name) if blob else None,
        document_size=blob.size if blob else None,
        valid_until=valid_until,
        created_at=moment,
        created_by=actor.actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "compliance.attest",
        resource_type=inventory.RESOURCE if model else service.RESOURCE,
        resource_id=model.id if model else framework.id,
        details={
            "attestation": row.id,
            "framework": framework.id,
            "requirement": requirement.spec.id,
            "valid_until": valid_until.isoformat(),
            "document": {"name": row.document_name, "size": row.document_size, "sha256": row.document_digest}
            if blob
            else None,
        },
    )
    return _read(row, model.name if model else None, moment)


def list_attestations(
    session: Session,
    actor: Principal,
    *,
    framework: str | None = None,
    model: str | None = None,
    current_only: bool = False,
    now: datetime | None = None,
) -> list[AttestationRead]:
    """Attestations, newest first: organisation-wide ones and those on models the actor may read compliance of.

    ``model`` gives that model's own attestations and the organisation-wide ones that cover it.
    """
    service.may_read(actor)
    moment = now or datetime.now(UTC)
    stmt = (
        select(AttestationRow, ModelRow.name)
        .join(ModelRow, ModelRow.id == AttestationRow.model_id, isouter=True)
        .order_by(AttestationRow.id.desc())
    )
    teams = actor.team_ids_with(P.COMPLIANCE_READ)
    if teams is not None:
        stmt = stmt.where(AttestationRow.model_id.is_(None) | ModelRow.team_id.in_(teams))
    if framework is not None:
        stmt = stmt.where(AttestationRow.framework_id == framework)
    if model is not None:
        row = inventory.get_model_row(session, model)
        authorize(actor, P.COMPLIANCE_READ, inventory.scope_of(row))
        stmt = stmt.where((AttestationRow.model_id == row.id) | AttestationRow.model_id.is_(None))
    reads = [_read(a, name, moment) for a, name in session.execute(stmt)]
    return [r for r in reads if r.current or not current_only]


def document_of(session: Session, actor: Principal, attestation_id: int) -> tuple[AttestationRead, BlobRow]:
    """An attestation and its document's blob, for streaming (the caller decrypts with the protection)."""
    row = session.get(AttestationRow, attestation_id)
    if row is None:
        raise NotFound(f"No attestation {attestation_id}.")
    model = session.get(ModelRow, row.model_id) if row.model_id is not None else None
    if model is not None:
        authorize(actor, P.COMPLIANCE_READ, inventory.scope_of(model))
    else:
        service.may_read(actor)
    if row.document_digest is None:
        raise NotFound(f"Attestation {attestation_id} has no document.")
    blob = session.get(BlobRow, row.document_digest)
    assert blob is not None  # a foreign key
    return _read(row, model.name if model else None, datetime.now(UTC)), blob
