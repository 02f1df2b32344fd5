"""Report services: generate (build, render, store, audit), list, read, download, verify a file.

Permissions: everything needs ``compliance:read`` (generating only reads the platform; what it
writes is the report itself and its audit event). A model report is read in its model's team;
an organisation report needs the permission in the whole organisation, or in the team it was
limited to. Lists show the reports the actor may read. Deny by default: no ``compliance:read``
anywhere, no reports.

Storage: every rendered file is a blob in the artifact store (encrypted at rest like model files,
named by the SHA-256 of its bytes); the rows keep each file's SHA-256 and size, and ONE audit event
per report names the report, its document's SHA-256 and every file's, so the tamper-evident chain
vouches for the hashes. A download re-hashes the decrypted bytes before handing them out: a blob
altered in the store is refused, named, and the refusal audited; the wrong bytes are never sent.
Services flush, the caller commits. Blobs are written before the commit: a failed transaction
leaves unreferenced blobs, which nothing can read without their rows (as for artifacts).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.audit.models import AuditEventRow
from charter.errors import CharterError, InvalidInput, NotFound, SignatureInvalid
from charter.identity.models import TeamRow
from charter.inventory import artifacts
from charter.inventory.artifacts import Protection
from charter.inventory.models import BlobRow, ModelRow
from charter.pagination import Page, clamp_limit, parse_int_cursor
from charter.policies import facts
from charter.reports import builder
from charter.reports.models import ReportFileRow, ReportRow
from charter.reports.render import EXTENSIONS, MEDIA_TYPES, digest, render
from charter.reports.schemas import (
    FORMATS,
    Period,
    ReportCreate,
    ReportDocument,
    ReportFileRead,
    ReportFormat,
    ReportKind,
    ReportRead,
    ReportVerification,
)
from charter.security.audit_chain import chain_hash
from charter.security.permissions import Permission
from charter.security.principal import ORG, Principal, Scope, authorize

P = Permission
RESOURCE = "report"
DEFAULT_PERIOD = timedelta(days=90)

__all__ = [
    "DEFAULT_PERIOD",
    "RESOURCE",
    "file_name",
    "generate",
    "generate_requested",
    "list_reports",
    "read_file",
    "read_report",
    "verify_file",
]


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _scope(row: ReportRow) -> Scope:
    return ORG if row.team_id is None else Scope.team(row.team_id)


def _may_read_somewhere(actor: Principal) -> None:
    if not actor.holds(P.COMPLIANCE_READ):
        authorize(actor, P.COMPLIANCE_READ, ORG)


def _formats(formats: Sequence[str] | None) -> list[ReportFormat]:
    """The formats asked for, in the canonical order; JSON always (the document itself is the record)."""
    wanted = set(formats or FORMATS)
    unknown = sorted(wanted - set(FORMATS))
    if unknown:
        raise InvalidInput(f"Unknown report format {', '.join(map(repr, unknown))}; expected {', '.join(FORMATS)}.")
    wanted.add("json")
    return [f for f in FORMATS if f in wanted]


def file_name(read: ReportRead, fmt: ReportFormat) -> str:
    """A download's name: ``report-<id>-<model or kind>-<date>.<ext>`` (printable ASCII)."""
    subject = read.model or read.team or "organisation"
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in subject)[:80]
    return f"report-{read.id}-{safe}-{read.generated_at:%Y%m%d}{EXTENSIONS[fmt]}"


def _read(row: ReportRow, model: str | None, team: str | None) -> ReportRead:
    return ReportRead(
        id=row.id,
        kind=row.kind,
        model=model,
        version=row.version,
        team=team,
        title=row.title,
        period=Period(start=row.period_start, end=row.period_end),
        frameworks=list(row.frameworks),
        generated_by=row.generated_by,
        generated_at=row.generated_at,
        document_sha256=row.document_sha256,
        audit_seq=row.audit_seq,
        files=[
            ReportFileRead(
                format=f.format,
                sha256=f.sha256,
                size=f.size,
                media_type=MEDIA_TYPES[f.format],  # type: ignore[index]
            )
            for f in row.files
        ],
    )


def _reads(session: Session, rows: Sequence[ReportRow]) -> list[ReportRead]:
    model_ids = sorted({r.model_id for r in rows if r.model_id is not None})
    team_ids = sorted({r.team_id for r in rows if r.team_id is not None})
    models = {i: n for i, n in session.execute(select(ModelRow.id, ModelRow.name).where(ModelRow.id.in_(model_ids)))}
    teams = {i: n for i, n in session.execute(select(TeamRow.id, TeamRow.name).where(TeamRow.id.in_(team_ids)))}
    out = []
    for row in rows:
        model = models.get(row.model_id) if row.model_id is not None else None
        # A model report names its model; the team is said for team-limited organisation reports.
        team = teams.get(row.team_id) if row.team_id is not None and row.kind == "organisation" else None
        out.append(_read(row, model, team))
    return out


def _store(session: Session, protection: Protection, content: bytes) -> BlobRow:
    """Write the bytes to a scratch file and store them as a blob (encrypted, deduplicated by digest)."""
    handle, name = tempfile.mkstemp(dir=protection.scratch, prefix="report-")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        return artifacts.store_blob(session, protection, path)
    finally:
        path.unlink(missing_ok=True)


def _rendered(document: ReportDocument, formats: Sequence[ReportFormat]) -> dict[ReportFormat, bytes]:
    out: dict[ReportFormat, bytes] = {}
    for fmt in formats:
        try:
            out[fmt] = render(document, fmt)
        except NotImplementedError as exc:
            raise InvalidInput(f"The {fmt} format cannot be produced by this installation: {exc}.") from exc
    return out


def generate(
    session: Session,
    actor: Principal,
    protection: Protection,
    *,
    kind: ReportKind,
    public_key: Ed25519PublicKey,
    model: str | int | None = None,
    version: str | None = None,
    team: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    frameworks: Sequence[str] | None = None,
    formats: Sequence[str] | None = None,
    organisation: str | None = None,
    now: datetime | None = None,
    signature_check: facts.SignatureCheck | None = None,
    progress: builder.Progress | None = None,
) -> ReportRead:
    """Build the report, render each format, store the files and record one audit event naming every hash.

    The period defaults to the :data:`DEFAULT_PERIOD` before ``end`` (default: now).
    """
    moment = _now(now)
    chosen_formats = _formats(formats)
    stop = end or moment
    begin = start or stop - DEFAULT_PERIOD
    org = organisation or protection.settings.jwt_issuer
    if kind == "model":
        if model is None:
            raise InvalidInput("A model report needs a model (its name or id).")
        if team is not None:
            raise InvalidInput("`team` limits organisation reports; a model report is about its model.")
        document = builder.build_model_report(
            session,
            actor,
            model,
            version,
            start=begin,
            end=stop,
            public_key=public_key,
            frameworks=frameworks,
            now=moment,
            organisation=org,
            signature_check=signature_check,
        )
        section = document.models[0]
        model_id: int | None = section.model_id
        model_row = session.get(ModelRow, section.model_id)
        assert model_row is not None
        team_id: int | None = model_row.team_id
        label: str | None = section.version
    elif kind == "organisation":
        if model is not None or version is not None:
            raise InvalidInput("An organisation report covers every model you may read: leave out model and version.")
        document = builder.build_organisation_report(
            session,
            actor,
            start=begin,
            end=stop,
            public_key=public_key,
            frameworks=frameworks,
            team=team,
            now=moment,
            organisation=org,
            signature_check=signature_check,
            progress=progress,
        )
        model_id, label = None, None
        team_id = session.scalar(select(TeamRow.id).where(TeamRow.name == team)) if team is not None else None
    else:
        raise InvalidInput(f"Unknown report kind {kind!r}; expected model or organisation.")
    files = _rendered(document, chosen_formats)
    document_sha256 = digest(document)
    assert hashlib.sha256(files["json"]).hexdigest() == document_sha256  # the JSON file is the document
    row = ReportRow(
        kind=kind,
        model_id=model_id,
        team_id=team_id,
        version=label,
        title=document.title[:300],
        period_start=document.period.start,
        period_end=document.period.end,
        frameworks=list(document.frameworks),
        generated_by=actor.actor,
        generated_at=moment,
        document_sha256=document_sha256,
    )
    for fmt, content in files.items():
        blob = _store(session, protection, content)
        row.files.append(ReportFileRow(format=fmt, sha256=blob.digest, size=blob.size, blob_digest=blob.digest))
    session.add(row)
    session.flush()
    row.audit_seq = audit.record(
        session,
        actor,
        "report.generate",
        resource_type=RESOURCE,
        resource_id=row.id,
        details={
            "kind": kind,
            "model": document.models[0].model if kind == "model" else None,
            "version": label,
            "team": team,
            "period": {"start": document.period.start.isoformat(), "end": document.period.end.isoformat()},
            "frameworks": list(document.frameworks),
            "document_sha256": document_sha256,
            "files": {f.format: {"sha256": f.sha256, "size": f.size} for f in row.files},
            "audit_ok": document.audit.ok,
        },
    )
    session.flush()
    return _reads(session, [row])[0]


def generate_requested(
    session: Session,
    actor: Principal,
    protection: Protection,
    data: ReportCreate,
    *,
    public_key: Ed25519PublicKey,
    signature_check: facts.SignatureCheck | None = None,
) -> ReportRead:
    """:func:`generate` for a request (the API's body, the dashboard's form)."""
    return generate(
        session,
        actor,
        protection,
        kind=data.kind,
        public_key=public_key,
        model=data.model,
        version=data.version,
        team=data.team,
        start=data.start,
        end=data.end,
        frameworks=data.frameworks,
        formats=data.formats,
        signature_check=signature_check,
    )


def _report_for(session: Session, actor: Principal, report_id: int) -> ReportRow:
    row = session.get(ReportRow, report_id)
    if row is None:
        raise NotFound(f"No report {report_id}.")
    authorize(actor, P.COMPLIANCE_READ, _scope(row))
    return row


def read_report(session: Session, actor: Principal, report_id: int) -> ReportRead:
    return _reads(session, [_report_for(session, actor, report_id)])[0]


def list_reports(
    session: Session,
    actor: Principal,
    *,
    model: str | int | None = None,
    kind: ReportKind | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[ReportRead]:
    """Reports the actor may read, newest first, a page at a time."""
    _may_read_somewhere(actor)
    limit = clamp_limit(limit)
    stmt = select(ReportRow).order_by(ReportRow.id.desc()).limit(limit + 1)
    teams = actor.team_ids_with(P.COMPLIANCE_READ)
    if teams is not None:
        stmt = stmt.where(ReportRow.team_id.in_(teams))
    if model is not None:
        from charter.inventory import service as inventory

        model_row = inventory.get_model_row(session, model)
        stmt = stmt.where(ReportRow.model_id == model_row.id)
    if kind is not None:
        stmt = stmt.where(ReportRow.kind == kind)
    before = parse_int_cursor(cursor)
    if before is not None:
        stmt = stmt.where(ReportRow.id < before)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    items = _reads(session, rows[:limit])
    return Page(items=items, next_cursor=str(items[-1].id) if more and items else None)


def read_file(
    session: Session, actor: Principal, protection: Protection, report_id: int, fmt: str
) -> tuple[ReportRead, ReportFileRead, bytes]:
    """A stored file's bytes, decrypted and checked against the recorded SHA-256 before they are returned.

    A file that does not match (or does not decrypt) raises, naming the report and the format, and
    the refusal is audited; the bytes are never handed out.
    """
    row = _report_for(session, actor, report_id)
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown report format {fmt!r}; expected {', '.join(FORMATS)}.")
    found = next((f for f in row.files if f.format == fmt), None)
    if found is None:
        stored = ", ".join(f.format for f in row.files)
        raise NotFound(f"Report {report_id} has no {fmt} file; it was stored as {stored}.")
    blob = session.get(BlobRow, found.blob_digest)
    assert blob is not None  # a foreign key
    name = f"report {report_id} ({fmt})"
    check = hashlib.sha256()
    parts: list[bytes] = []
    try:
        with artifacts.plaintext_chunks(protection, blob, name=name) as chunks:
            for chunk in chunks:
                check.update(chunk)
                parts.append(chunk)
    except CharterError as exc:
        raise type(exc)(
            f"The stored {fmt} file of report {report_id} cannot be read back intact: {exc.message}",
            details=exc.details,
        ).recorded_as(
            "report.download",
            resource_type=RESOURCE,
            resource_id=report_id,
            outcome="failed",
            details={"format": fmt, "sha256": found.sha256},
        ) from None
    if check.hexdigest() != found.sha256:
        raise SignatureInvalid(
            f"The stored {fmt} file of report {report_id} was altered: its SHA-256 is {check.hexdigest()}, "
            f"the report recorded {found.sha256}.",
            details={"report": report_id, "format": fmt, "expected": found.sha256, "actual": check.hexdigest()},
        ).recorded_as(
            "report.download",
            resource_type=RESOURCE,
            resource_id=report_id,
            outcome="failed",
            details={"format": fmt, "sha256": found.sha256},
        )
    read = _reads(session, [row])[0]
    file_read = next(f for f in read.files if f.format == fmt)
    return read, file_read, b"".join(parts)


def _audit_vouches(session: Session, row: ReportRow, fmt: str, sha256: str) -> tuple[bool, str]:
    """Whether the report's audit event names this file's hash and is linked to its neighbours in the chain."""
    if row.audit_seq is None:
        return False, "no audit event is recorded for it"
    seq = row.audit_seq
    events = {
        e.seq: e for e in session.scalars(select(AuditEventRow).where(AuditEventRow.seq.in_([seq - 1, seq, seq + 1])))
    }
    event = events.get(seq)
    if event is None:
        return False, f"its audit event {seq} is missing from the chain"
    if chain_hash(bytes(event.prev_hash), event.body.encode()) != bytes(event.hash):
        return False, f"its audit event {seq} was altered (its hash does not match its content)"
    before, after = events.get(seq - 1), events.get(seq + 1)
    if seq > 1 and (before is None or bytes(before.hash) != bytes(event.prev_hash)):
        return False, f"its audit event {seq} is not linked to the event before it"
    if after is not None and bytes(after.prev_hash) != bytes(event.hash):
        return False, f"its audit event {seq} is not linked to the event after it"
    body: dict[str, Any] = orjson.loads(event.body)
    details = body.get("details") or {}
    recorded = (details.get("files") or {}).get(fmt) or {}
    if (
        body.get("action") != "report.generate"
        or body.get("resource_id") != str(row.id)
        or recorded.get("sha256") != sha256
        or details.get("document_sha256") != row.document_sha256
    ):
        return False, f"its audit event {seq} does not record this hash"
    return True, f"audit event {seq} records this hash and is linked in the chain"


def verify_file(session: Session, actor: Principal, content: bytes) -> ReportVerification:
    """Hash an uploaded file and say which stored report (and format) it is, if any.

    Only reports the actor may read are matched. A match also checks the audit event that recorded
    the report: it must name the hash and be linked to its neighbours (``charter audit verify``
    checks the whole chain).
    """
    _may_read_somewhere(actor)
    sha256 = hashlib.sha256(content).hexdigest()
    stmt = (
        select(ReportRow, ReportFileRow.format)
        .join(ReportFileRow, ReportFileRow.report_id == ReportRow.id)
        .where(ReportFileRow.sha256 == sha256)
        .order_by(ReportRow.id)
    )
    teams = actor.team_ids_with(P.COMPLIANCE_READ)
    if teams is not None:
        stmt = stmt.where(ReportRow.team_id.in_(teams))
    found = session.execute(stmt).first()
    if found is None:
        return ReportVerification(
            sha256=sha256,
            size=len(content),
            matched=False,
            message="This file matches no stored report: it was altered, or it was not issued by this Charter.",
        )
    row, fmt = found
    intact, why = _audit_vouches(session, row, fmt, sha256)
    read = _reads(session, [row])[0]
    message = f"This is the {fmt} file of report {row.id} ({read.title}), unaltered; {why}."
    return ReportVerification(
        sha256=sha256, size=len(content), matched=True, report=read, format=fmt, audit_intact=intact, message=message
    )
