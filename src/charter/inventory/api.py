"""REST routes for models, versions, the lifecycle, model cards and datasets.

Each route parses, calls one service function and shapes the answer. Models are addressed by id or
name (``/models/credit-scoring`` and ``/models/3`` are the same model).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from charter.errors import InvalidInput, SignatureInvalid
from charter.inventory import artifacts, bom, cards, service
from charter.inventory.schemas import (
    ArtifactOverride,
    ArtifactRead,
    CardUpdate,
    Classification,
    DatasetCreate,
    DatasetRead,
    Domain,
    HistoryEntry,
    ModelCreate,
    ModelRead,
    ModelUpdate,
    Promotion,
    RiskTier,
    RiskTierChange,
    Stage,
    VersionCreate,
    VersionDiff,
    VersionRead,
)
from charter.pagination import Page
from charter.security.permissions import Permission
from charter.server.deps import Context, Needs

router = APIRouter(prefix="/api/v1")
P = Permission
ModelRef = Annotated[str, "model id or name"]
Limit = Annotated[int, Query(ge=1, le=500)]


# -- models -----------------------------------------------------------------------------------------


@router.post("/models", response_model=ModelRead, status_code=status.HTTP_201_CREATED, tags=["models"])
def register_model(data: ModelCreate, ctx: Context = Needs(P.MODEL_WRITE)) -> ModelRead:
    """Register an AI system in the inventory, owned by a team."""
    return service.register_model(ctx.session, ctx.principal, data)


@router.get("/models", response_model=Page[ModelRead], tags=["models"], summary="List and search the inventory")
def list_models(
    ctx: Context = Needs(P.MODEL_READ),
    q: Annotated[str | None, Query(max_length=100, description="part of the name, description or purpose")] = None,
    team: str | None = None,
    stage: Stage | None = Query(default=None, description="models with a version in this stage"),
    risk_tier: RiskTier | None = None,
    domain: Domain | None = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[ModelRead]:
    return service.list_models(
        ctx.session,
        ctx.principal,
        query=q,
        team=team,
        stage=stage,
        risk_tier=risk_tier,
        domain=domain,
        tag=tag,
        cursor=cursor,
        limit=limit,
    )


@router.get("/models/{model}", response_model=ModelRead, tags=["models"])
def read_model(model: ModelRef, ctx: Context = Needs(P.MODEL_READ)) -> ModelRead:
    return service.read_model(ctx.session, ctx.principal, model)


@router.patch("/models/{model}", response_model=ModelRead, tags=["models"])
def update_model(model: ModelRef, data: ModelUpdate, ctx: Context = Needs(P.MODEL_WRITE)) -> ModelRead:
    """Change a model's description fields (the risk tier has its own route)."""
    return service.update_model(ctx.session, ctx.principal, model, data)


@router.put("/models/{model}/risk-tier", response_model=ModelRead, tags=["models"])
def set_risk_tier(model: ModelRef, data: RiskTierChange, ctx: Context = Needs(P.RISK_WRITE)) -> ModelRead:
    """Set the model's EU AI Act risk tier (risk officers)."""
    return service.set_risk_tier(ctx.session, ctx.principal, model, data.risk_tier)


@router.get("/models/{model}/history", response_model=Page[HistoryEntry], tags=["models"])
def model_history(
    model: ModelRef, ctx: Context = Needs(P.MODEL_READ), cursor: str | None = None, limit: Limit = 50
) -> Page[HistoryEntry]:
    """Every audited change to the model, its versions and artifacts, newest first; refusals included."""
    return service.history(ctx.session, ctx.principal, model, cursor=cursor, limit=limit)


# -- versions ---------------------------------------------------------------------------------------


@router.post(
    "/models/{model}/versions", response_model=VersionRead, status_code=status.HTTP_201_CREATED, tags=["versions"]
)
def create_version(model: ModelRef, data: VersionCreate, ctx: Context = Needs(P.MODEL_WRITE)) -> VersionRead:
    """A new version in `draft`, with its lineage (datasets), metrics and parameters."""
    return service.create_version(ctx.session, ctx.principal, model, data)


@router.get("/models/{model}/versions", response_model=Page[VersionRead], tags=["versions"])
def list_versions(
    model: ModelRef,
    ctx: Context = Needs(P.MODEL_READ),
    stage: Stage | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[VersionRead]:
    return service.list_versions(ctx.session, ctx.principal, model, stage=stage, cursor=cursor, limit=limit)


@router.get("/models/{model}/versions/{version}", response_model=VersionRead, tags=["versions"])
def read_version(model: ModelRef, version: str, ctx: Context = Needs(P.MODEL_READ)) -> VersionRead:
    return service.read_version(ctx.session, ctx.principal, model, version)


@router.post("/models/{model}/versions/{version}/promote", response_model=VersionRead, tags=["versions"])
def promote(model: ModelRef, version: str, data: Promotion, ctx: Context = Needs(P.MODEL_READ)) -> VersionRead:
    """Move a version through its lifecycle.

    `draft → review → approved → production → deprecated → retired` (and back to draft from review,
    back to production from deprecated). Approval needs `version:approve` in the model's team and a
    reviewer other than the version's author; promotion to `approved` or `production` needs every
    artifact scanned clean (or overridden) and a signature that verifies. The exact permission is
    checked by the service for the requested move.
    """
    return service.promote(ctx.session, ctx.principal, model, version, data, protection=ctx.state.protection)


@router.get("/models/{model}/diff", response_model=VersionDiff, tags=["versions"], summary="Compare two versions")
def diff(
    model: ModelRef,
    old: Annotated[str, Query(description="the earlier version")],
    new: Annotated[str, Query(description="the later version")],
    ctx: Context = Needs(P.MODEL_READ),
) -> VersionDiff:
    return service.diff_versions(ctx.session, ctx.principal, model, old, new)


# -- model cards ------------------------------------------------------------------------------------


@router.get(
    "/models/{model}/versions/{version}/card",
    tags=["cards"],
    summary="The version's model card: JSON, Markdown (Hugging Face layout) or a CycloneDX ML-BOM",
    response_class=Response,
    responses={200: {"content": {"application/json": {}, "text/markdown": {}, "application/vnd.cyclonedx+json": {}}}},
)
def read_card(
    model: ModelRef,
    version: str,
    ctx: Context = Needs(P.MODEL_READ),
    format: Literal["json", "markdown", "cyclonedx"] = "json",
) -> Response:
    return card_response(ctx, model, version, format)


def card_response(ctx: Context, model: str, version: str, format: str) -> Response:
    """The card in one format (shared with the dashboard's export links)."""
    card = service.model_card(ctx.session, ctx.principal, model, version)
    if format == "markdown":
        return PlainTextResponse(cards.to_markdown(card), media_type="text/markdown; charset=utf-8")
    if format == "cyclonedx":
        return Response(bom.to_cyclonedx(card), media_type="application/vnd.cyclonedx+json")
    return JSONResponse(cards.to_json(card))


@router.patch("/models/{model}/versions/{version}/card", response_model=VersionRead, tags=["cards"])
def update_card(model: ModelRef, version: str, data: CardUpdate, ctx: Context = Needs(P.MODEL_WRITE)) -> VersionRead:
    """Edit the owner-written card fields (limitations, ethical considerations, ...); null removes one."""
    return service.update_card(ctx.session, ctx.principal, model, version, data.fields)


# -- datasets ---------------------------------------------------------------------------------------


@router.post("/datasets", response_model=DatasetRead, status_code=status.HTTP_201_CREATED, tags=["datasets"])
def register_dataset(data: DatasetCreate, ctx: Context = Needs(P.DATASET_WRITE)) -> DatasetRead:
    return service.register_dataset(ctx.session, ctx.principal, data)


@router.get("/datasets", response_model=Page[DatasetRead], tags=["datasets"])
def list_datasets(
    ctx: Context = Needs(P.DATASET_READ),
    q: Annotated[str | None, Query(max_length=100)] = None,
    team: str | None = None,
    classification: Classification | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[DatasetRead]:
    return service.list_datasets(
        ctx.session, ctx.principal, query=q, team=team, classification=classification, cursor=cursor, limit=limit
    )


@router.get("/datasets/{dataset}", response_model=DatasetRead, tags=["datasets"])
def read_dataset(dataset: str, ctx: Context = Needs(P.DATASET_READ)) -> DatasetRead:
    return service.read_dataset(ctx.session, ctx.principal, dataset)


# -- artifacts --------------------------------------------------------------------------------------

VersionPath = "/models/{model}/versions/{version}"


def _receive(upload: UploadFile, scratch: Path, limit: int) -> Path:
    """Copy the received file into the scratch folder, refusing it as soon as it passes the size limit."""
    with tempfile.NamedTemporaryFile(dir=scratch, prefix="upload-", delete=False) as out:
        target = Path(out.name)
        copied = 0
        try:
            while block := upload.file.read(1 << 20):
                copied += len(block)
                if copied > limit:
                    raise InvalidInput(
                        f"The file is larger than the limit of {limit:,} bytes (CHARTER_MAX_UPLOAD_BYTES)."
                    )
                out.write(block)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
    return target


@router.post(
    VersionPath + "/artifacts", response_model=ArtifactRead, status_code=status.HTTP_201_CREATED, tags=["artifacts"]
)
def upload_artifact(
    model: ModelRef,
    version: str,
    file: Annotated[UploadFile, File(description="the file (streamed; scanned before it is stored)")],
    path: Annotated[
        str | None, Form(max_length=500, description="path inside the model folder; default: the file name")
    ] = None,
    ctx: Context = Needs(P.MODEL_WRITE, write=False),
) -> ArtifactRead:
    """Add a file to a draft version: scanned for unsafe code, encrypted at rest, and signed with the rest."""
    protection = ctx.state.protection
    name = path or file.filename or ""
    received = _receive(file, protection.scratch, protection.settings.max_upload_bytes)
    try:
        # Checked in the request's reading transaction, scanned and hashed once it has ended, stored
        # and signed in a writing one: on SQLite, other writers do not wait for the scan.
        target = artifacts.upload_target(
            ctx.session, ctx.principal, protection, model, version, path=name, plaintext=received
        )
        ctx.end_reading()
        scanned = artifacts.scan_upload(protection, target, received)
        with ctx.writing() as session:
            return artifacts.upload(
                session, ctx.principal, protection, model, version, path=name, plaintext=received, scanned=scanned
            )
    finally:
        received.unlink(missing_ok=True)


@router.get(VersionPath + "/artifacts/{path:path}", tags=["artifacts"], response_class=StreamingResponse)
def download_artifact(
    model: ModelRef, version: str, path: str, ctx: Context = Needs(P.ARTIFACT_READ, write=True)
) -> Response:
    """The file's plaintext, decrypted as it streams. Refused when the version's signature does not verify.

    Each chunk is authenticated before it is sent and the whole file's SHA-256 is checked at the end:
    a stored file that was tampered with ends the response early, so a client that checks the
    `X-Charter-SHA256` header (the SDK does) never keeps a corrupted copy.
    """
    return download_response(ctx, model, version, path)


def download_response(ctx: Context, model: str, version: str, path: str) -> StreamingResponse:
    """Stream one artifact's plaintext (shared with the dashboard's download links)."""
    protection = ctx.state.protection
    artifact, blob = artifacts.open_download(ctx.session, ctx.principal, protection, model, version, path)

    def stream() -> Iterator[bytes]:
        digest = hashlib.sha256()
        with artifacts.plaintext_chunks(protection, blob, name=artifact.path) as chunks:
            for chunk in chunks:
                digest.update(chunk)
                yield chunk
        if digest.hexdigest() != artifact.digest:
            raise SignatureInvalid(f"{artifact.path}: the stored file does not match its recorded SHA-256.")

    headers = {
        "X-Charter-SHA256": artifact.digest,
        "X-Charter-Scan-Verdict": artifact.scan_verdict,
        "Content-Length": str(artifact.size),
        "Content-Disposition": f'attachment; filename="{Path(artifact.path).name}"',
    }
    return StreamingResponse(stream(), media_type="application/octet-stream", headers=headers)


@router.get(VersionPath + "/signature", tags=["artifacts"], response_class=Response)
def read_signature(model: ModelRef, version: str, ctx: Context = Needs(P.ARTIFACT_READ)) -> Response:
    """The version's `model.sig` (a Sigstore bundle); `model_signing verify key` checks it on a downloaded copy."""
    bundle = artifacts.signature_of(ctx.session, ctx.principal, model, version)
    return Response(
        bundle, media_type="application/json", headers={"Content-Disposition": 'attachment; filename="model.sig"'}
    )


@router.post(
    VersionPath + "/verify", tags=["artifacts"], summary="Verify the stored, encrypted files against the signature"
)
def verify(model: ModelRef, version: str, ctx: Context = Needs(P.ARTIFACT_READ)) -> dict[str, Any]:
    report = artifacts.verify_version(ctx.session, ctx.principal, ctx.state.protection, model, version)
    return report.to_dict()


@router.post(VersionPath + "/artifacts/{path:path}/override", response_model=ArtifactRead, tags=["artifacts"])
def override_artifact(
    model: ModelRef, version: str, path: str, data: ArtifactOverride, ctx: Context = Needs(P.ARTIFACT_OVERRIDE)
) -> ArtifactRead:
    """Let a flagged or unverified artifact proceed past review (administrators; recorded with the reason)."""
    return artifacts.override(ctx.session, ctx.principal, model, version, path, data.reason)


@router.get("/keys/signing", tags=["artifacts"], response_class=PlainTextResponse)
def signing_public_key(ctx: Context = Needs(P.MODEL_READ)) -> PlainTextResponse:
    """The public key (PEM) that verifies Charter's model signatures, for `model_signing verify key`."""
    return PlainTextResponse(ctx.state.protection.public_key_pem, media_type="application/x-pem-file")
