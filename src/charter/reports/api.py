"""REST routes for compliance reports (``/api/v1/reports``): generate, list, read, download, verify a file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile, status

from charter.errors import InvalidInput
from charter.pagination import Page
from charter.policies import gates
from charter.reports import service
from charter.reports.render import MEDIA_TYPES
from charter.reports.schemas import ReportCreate, ReportFormat, ReportKind, ReportRead, ReportVerification
from charter.security.permissions import Permission
from charter.server.deps import Context, Needs

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
P = Permission
SHA256_HEADER = "X-Charter-SHA256"


@router.post("", response_model=ReportRead, status_code=status.HTTP_201_CREATED)
def generate(data: ReportCreate, ctx: Context = Needs(P.COMPLIANCE_READ)) -> ReportRead:
    """Build a model or organisation report, render it (JSON, HTML, PDF, OSCAL), store each file encrypted and
    record one audit event naming every file's SHA-256."""
    protection = ctx.state.protection
    return service.generate_requested(
        ctx.session,
        ctx.principal,
        protection,
        data,
        public_key=ctx.state.audit_key.public_key(),
        signature_check=gates.signature_checker(ctx.session, protection),
    )


@router.get("", response_model=Page[ReportRead])
def list_reports(
    ctx: Context = Needs(P.COMPLIANCE_READ),
    model: Annotated[str | None, Query(max_length=100)] = None,
    kind: ReportKind | None = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> Page[ReportRead]:
    """Reports you may read, newest first."""
    return service.list_reports(ctx.session, ctx.principal, model=model, kind=kind, cursor=cursor, limit=limit)


@router.get("/{report}", response_model=ReportRead)
def read_report(report: int, ctx: Context = Needs(P.COMPLIANCE_READ)) -> ReportRead:
    return service.read_report(ctx.session, ctx.principal, report)


@router.get("/{report}/files/{fmt}", response_class=Response)
def download(report: int, fmt: ReportFormat, ctx: Context = Needs(P.COMPLIANCE_READ)) -> Response:
    """A stored file, decrypted and checked against its recorded SHA-256 before a byte is sent (a file altered in
    storage is refused with an error naming it). The SHA-256 is in the `X-Charter-SHA256` header."""
    read, file_read, content = service.read_file(ctx.session, ctx.principal, ctx.state.protection, report, fmt)
    headers = {
        SHA256_HEADER: file_read.sha256,
        "Content-Disposition": f'attachment; filename="{service.file_name(read, fmt)}"',
    }
    return Response(content, media_type=MEDIA_TYPES[fmt], headers=headers)


@router.post("/verify", response_model=ReportVerification)
def verify(
    file: Annotated[UploadFile, File(description="a report file as downloaded")],
    ctx: Context = Needs(P.COMPLIANCE_READ, write=False),
) -> ReportVerification:
    """Which stored report (and format) an uploaded file is, unaltered, and whether the audit event that recorded
    it still vouches for its hash; or that it matches none."""
    limit = ctx.state.settings.max_upload_bytes
    content = file.file.read(limit + 1)
    if len(content) > limit:
        raise InvalidInput(f"The file is larger than {limit:,} bytes (CHARTER_MAX_UPLOAD_BYTES).")
    return service.verify_file(ctx.session, ctx.principal, content)
