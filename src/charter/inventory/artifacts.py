"""Model protection: artifacts are scanned, encrypted, stored and signed on upload; verified on the way out.

The pipeline for one uploaded file (a plaintext temporary file the edge already received):

1. the path is checked (relative, no ``..``) and the size limit applied;
2. the scanner parses it without executing anything; a path-traversal archive or a broken limit
   refuses the upload, any other finding is stored as the artifact's verdict;
3. the file is encrypted (AES-256-GCM envelope, fresh data key wrapped by the master key) into the
   store under the SHA-256 of its plaintext; a blob already stored is reused;
4. the version's manifest is signed again (OpenSSF model-signing) over every artifact's digest.

The store write happens before the database commit: if the transaction then fails, an unreferenced
blob remains, which nothing can read without a database row (it holds the wrapped key).

The route does steps 1 and 2 (and the plaintext's hash) before its writing transaction:
:func:`upload_target` checks in a reading transaction, :func:`scan_upload` scans with none open, and
:func:`upload` stores and signs, checking the version again. Steps 3 and 4 stay in the writing
transaction, as uploads of the same content must take turns (``_lock_digest``).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.compute.crypto import envelope, signing
from charter.compute.scan import ScanLimits, ScanReport, scan_file
from charter.config import Settings
from charter.errors import CharterError, Conflict, InvalidInput, NotFound, SignatureInvalid
from charter.inventory import lifecycle, service
from charter.inventory.models import ArtifactRow, BlobRow, ModelVersionRow
from charter.inventory.schemas import ArtifactRead
from charter.security.masterkeys import MasterKeyRing, WrappedKey
from charter.security.permissions import Permission
from charter.security.principal import Principal, authorize
from charter.storage import ArtifactStore, open_store

P = Permission
_PATH_PART = re.compile(r"^[A-Za-z0-9._+@=-][A-Za-z0-9 ._+@=-]*$")
#: Findings that refuse the upload outright instead of becoming a stored verdict.
REFUSING_RULES = frozenset({"archive-path-traversal", "limit-exceeded"})


@dataclass
class Protection:
    """What the artifact pipeline needs, built once per server or command from the settings."""

    settings: Settings
    _store: ArtifactStore | None = field(default=None, repr=False)

    @cached_property
    def store(self) -> ArtifactStore:
        return self._store or open_store(self.settings.effective_artifact_store, home=self.settings.home)

    @cached_property
    def keyring(self) -> MasterKeyRing:
        env = self.settings.master_key.get_secret_value() if self.settings.master_key else None
        return MasterKeyRing.load(self.settings.keys_dir, env_key=env)

    @property
    def signing_key(self) -> Path:
        return self.settings.signing_key_file

    @cached_property
    def public_key_pem(self) -> str:
        return signing.public_key_pem(signing.load_signing_key(self.signing_key))

    @property
    def limits(self) -> ScanLimits:
        return ScanLimits(
            max_archive_members=self.settings.max_archive_members,
            max_compression_ratio=self.settings.max_decompression_ratio,
        )

    @property
    def scratch(self) -> Path:
        """Temporary files (uploads being scanned and encrypted) live beside the data, not in /tmp."""
        path = self.settings.home / "tmp"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path


def check_path(path: str) -> str:
    """A relative POSIX path inside the model folder; what the signature and the download will name."""
    cleaned = path.strip().replace("\\", "/")
    parts = PurePosixPath(cleaned).parts
    if (
        not cleaned
        or len(cleaned) > 500
        or cleaned.startswith("/")
        or not parts
        or any(p in ("..", ".") or not _PATH_PART.match(p) for p in parts)
    ):
        raise InvalidInput(
            f"The artifact path {path!r} is not allowed: use a relative path such as `model.pkl` or "
            "`weights/layer1.safetensors` (letters, digits, ' ', '.', '_', '-', '+', '@', '=', no '..')."
        )
    if parts[0] in signing.IGNORED_PATHS:
        # model_signing leaves these out of every manifest, so a file there could never be verified.
        raise InvalidInput(
            f"{cleaned!r} cannot be uploaded: `{parts[0]}` at the top of a model folder is left out of "
            "signatures (the signature file itself and git metadata)."
        )
    return "/".join(parts)


def _finding_dicts(report: ScanReport) -> list[dict[str, Any]]:
    return [
        {
            "file": f.file,
            "member": f.member,
            "rule": f.rule,
            "severity": f.severity,
            "module": f.module,
            "name": f.name,
            "message": f.message,
        }
        for f in report.findings
    ]


def store_blob(session: Session, protection: Protection, plaintext: Path, digest: str | None = None) -> BlobRow:
    """Encrypt (unless encryption is off) into the store under the plaintext's SHA-256; reuse a stored blob.

    The digest (``digest``, when the caller took it before its transaction: see :func:`scan_upload`)
    is known first so that a file stored before is not encrypted again; the ciphertext then streams
    straight into the store (no encrypted copy is written first), and the encryption's own hash of
    what it read must equal it (else the file changed in between and nothing is stored).
    """
    digest = digest or _sha256(plaintext)
    size = plaintext.stat().st_size
    _lock_digest(session, digest)
    existing = session.get(BlobRow, digest)
    if existing is not None and protection.store.exists(digest):
        return existing
    wrapped: WrappedKey | None = None
    with plaintext.open("rb") as src:
        if protection.settings.encrypt_artifacts:
            data_key = envelope.new_data_key()
            stored = envelope.encrypted_size(size)
            reader = envelope.EncryptingReader(src, data_key)
            with io.BufferedReader(reader, buffer_size=1 << 20) as sealed:
                protection.store.put(digest, sealed, size=stored)
            if reader.result.sha256 != digest:  # the file changed while it was read
                protection.store.delete(digest)
                raise Conflict("The uploaded file changed while it was being stored; upload it again.")
            wrapped = protection.keyring.wrap(data_key)
        else:
            stored = size
            protection.store.put(digest, src, size=size)
    if existing is not None:  # the row outlived its blob (store wiped): the new upload restores it
        session.delete(existing)
        session.flush()
    row = BlobRow(
        digest=digest,
        size=size,
        stored_size=stored,
        key_id=wrapped.key_id if wrapped else None,
        wrapped_key=wrapped.wrapped if wrapped else None,
    )
    session.add(row)
    session.flush()
    return row


def _lock_digest(session: Session, digest: str) -> None:
    """Serialise uploads of the same content until their transactions end.

    Two writers of one digest would otherwise both encrypt it under their own data key and the
    later object would replace the earlier one in the store, while the database kept the first
    writer's wrapped key. SQLite writers already hold the database's write lock; on PostgreSQL a
    transaction-scoped advisory lock on the digest does it (other content is not held up).
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        key = int.from_bytes(bytes.fromhex(digest[:16]), "big", signed=True)
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def sign_version(protection: Protection, row: ModelVersionRow) -> None:
    """Sign the manifest of the version's files again (after any change to them)."""
    digests = {a.path: a.digest for a in row.artifacts}
    if not digests:
        row.signature = row.signature_key_id = row.signed_at = None
        return
    bundle = signing.sign_digests(digests, protection.signing_key, model_name=f"{row.model.name}@{row.version}")
    row.signature = bundle
    row.signature_key_id = signing.key_fingerprint(protection.public_key_pem)
    row.signed_at = datetime.now(UTC)


@dataclass(frozen=True)
class UploadTarget:
    """Where an upload goes, checked in a reading transaction (:func:`upload_target`), as plain values."""

    model_id: int
    version_id: int
    version: str
    name: str  # the artifact's path
    size: int


@dataclass(frozen=True)
class ScannedUpload:
    """A file scanned for an upload (:func:`scan_upload`), with its SHA-256: the upload's long work,
    done before its writing transaction."""

    target: UploadTarget
    report: ScanReport
    digest: str


def _checked(row: ModelVersionRow, protection: Protection, path: str, plaintext: Path) -> tuple[str, int]:
    """The artifact's path and size, once the version takes files and the file is within the limit."""
    name = check_path(path)
    if row.stage in lifecycle.FROZEN:
        raise Conflict(
            f"Version {row.version} is in {row.stage!r}: its files are frozen. Register a new version to change them."
        )
    size = plaintext.stat().st_size
    if size > protection.settings.max_upload_bytes:
        raise InvalidInput(
            f"{name} is {size:,} bytes; the limit is {protection.settings.max_upload_bytes:,} "
            "(CHARTER_MAX_UPLOAD_BYTES)."
        )
    return name, size


def upload_target(
    session: Session,
    actor: Principal,
    protection: Protection,
    model_ref: str | int,
    version: str,
    *,
    path: str,
    plaintext: Path,
) -> UploadTarget:
    """The version and path an upload goes to, once ``actor`` may write it, the version takes files
    and the file is within the size limit (403, 404, 409, 422 else)."""
    row = service.version_for(session, actor, model_ref, version, P.MODEL_WRITE)
    name, size = _checked(row, protection, path, plaintext)
    return UploadTarget(row.model_id, row.id, row.version, name, size)


def scan_upload(protection: Protection, target: UploadTarget, plaintext: Path) -> ScannedUpload:
    """Scan and hash an upload with no transaction open; a refusing finding refuses it (audited).

    The route finds the target (:func:`upload_target`) in a reading transaction, ends it, scans,
    and hands the result to :func:`upload` in a writing transaction, which checks the version
    again (it may have been frozen meanwhile). On SQLite a writing transaction holds the
    database's write lock from its start, and a scan and a hash take seconds a gigabyte: done
    inside it, every other write of the server waited for them.
    """
    name = target.name
    report = scan_file(plaintext, name=name, limits=protection.limits)
    refusing = [f for f in report.findings if f.rule in REFUSING_RULES]
    if refusing:
        error = InvalidInput(
            f"{name} was refused: " + "; ".join(f"{f.member or f.file}: {f.message}" for f in refusing),
            details={"findings": _finding_dicts(report)},
        )
        raise error.recorded_as(
            "artifact.upload",
            resource_type=service.RESOURCE,
            resource_id=target.model_id,
            outcome="failed",
            details={"version": target.version, "path": name},
        )
    return ScannedUpload(target, report, _sha256(plaintext))


def upload(
    session: Session,
    actor: Principal,
    protection: Protection,
    model_ref: str | int,
    version: str,
    *,
    path: str,
    plaintext: Path,
    scanned: ScannedUpload | None = None,
) -> ArtifactRead:
    """Scan, encrypt, store and sign one file of a draft version (a file at the same path is replaced).

    ``scanned``: the file as :func:`scan_upload` scanned it before this transaction; used if it was
    made for this version, path and size, else the file is scanned here.
    """
    target = upload_target(session, actor, protection, model_ref, version, path=path, plaintext=plaintext)
    row = session.get_one(ModelVersionRow, target.version_id)  # loaded just now: no query
    if scanned is None or scanned.target != target:
        scanned = scan_upload(protection, target, plaintext)
    name, report = target.name, scanned.report
    blob = store_blob(session, protection, plaintext, scanned.digest)
    file_format = report.files[0].format if report.files else None
    artifact = next((a for a in row.artifacts if a.path == name), None)
    replaced = artifact.digest if artifact is not None else None
    if artifact is None:
        artifact = ArtifactRow(path=name, created_by=actor.actor, version=row)
        row.artifacts.append(artifact)
    artifact.digest, artifact.blob = blob.digest, blob
    artifact.size, artifact.format = blob.size, file_format
    artifact.scan_verdict, artifact.scan_findings = report.verdict, _finding_dicts(report)
    artifact.scanned_at = datetime.now(UTC)
    artifact.override_by = artifact.override_reason = artifact.override_at = None
    row.artifacts.sort(key=lambda a: a.path)
    session.flush()
    sign_version(protection, row)
    session.flush()
    audit.record(
        session,
        actor,
        "artifact.upload",
        resource_type=service.RESOURCE,
        resource_id=row.model_id,
        details={
            "version": row.version,
            "path": name,
            "digest": blob.digest,
            "size": blob.size,
            "verdict": report.verdict,
            "findings": len(report.findings),
            "replaced": replaced,
            "encrypted": blob.wrapped_key is not None,
        },
    )
    return service.artifact_read(artifact)


def override(
    session: Session, actor: Principal, model_ref: str | int, version: str, path: str, reason: str
) -> ArtifactRead:
    """An administrator's recorded decision to let a flagged or unverified artifact through the lifecycle."""
    row = service.version_for(session, actor, model_ref, version, P.MODEL_READ)
    authorize(actor, P.ARTIFACT_OVERRIDE, service.scope_of(row.model))
    artifact = _artifact(row, path)
    if artifact.scan_verdict == "clean":
        raise InvalidInput(f"{artifact.path} scanned clean; there is nothing to override.")
    artifact.override_by = actor.actor
    artifact.override_reason = reason
    artifact.override_at = datetime.now(UTC)
    session.flush()
    audit.record(
        session,
        actor,
        "artifact.override",
        resource_type=service.RESOURCE,
        resource_id=row.model_id,
        details={"version": row.version, "path": artifact.path, "verdict": artifact.scan_verdict, "reason": reason},
    )
    return service.artifact_read(artifact)


def _artifact(row: ModelVersionRow, path: str) -> ArtifactRow:
    for artifact in row.artifacts:
        if artifact.path == path:
            return artifact
    raise NotFound(f"Version {row.version} of {row.model.name} has no artifact {path!r}.")


# -- reading and verifying --------------------------------------------------------------------------


def _data_key(protection: Protection, blob: BlobRow) -> bytes | None:
    if blob.wrapped_key is None:
        return None
    assert blob.key_id is not None
    return protection.keyring.unwrap(WrappedKey(key_id=blob.key_id, wrapped=bytes(blob.wrapped_key)))


@contextmanager
def plaintext_chunks(protection: Protection, blob: BlobRow, *, name: str) -> Iterator[Iterator[bytes]]:
    """The stored file's plaintext, chunk by chunk, each chunk authenticated before it is handed out."""
    key = _data_key(protection, blob)
    with protection.store.open(blob.digest) as src:
        if key is None:
            yield iter(lambda: src.read(1 << 20), b"")
        else:
            yield envelope.decrypt_chunks(src, key, name=name)


def stored_digest(protection: Protection, blob: BlobRow, *, name: str) -> str:
    digest = hashlib.sha256()
    with plaintext_chunks(protection, blob, name=name) as chunks:
        for chunk in chunks:
            digest.update(chunk)
    return digest.hexdigest()


def check_manifest(protection: Protection, row: ModelVersionRow) -> None:
    """Refuse a version whose signature does not verify or does not sign exactly its recorded files.

    Cheap (no artifact is read): the check before every download.
    """
    if not row.artifacts:
        return
    if row.signature is None:
        raise SignatureInvalid(f"Version {row.version} of {row.model.name} has files but no signature.")
    recorded = {a.path: a.digest for a in row.artifacts}
    signing.verify_digests(recorded, bytes(row.signature), protection.public_key_pem).raise_for_problems(
        what=f"{row.model.name} {row.version}"
    )


@dataclass(frozen=True)
class FileCheck:
    path: str
    ok: bool
    problem: str | None = None


@dataclass(frozen=True)
class VersionVerification:
    model: str
    version: str
    ok: bool
    signed_by: str | None
    problems: list[str]
    files: list[FileCheck]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "ok": self.ok,
            "signed_by": self.signed_by,
            "problems": self.problems,
            "files": [f.__dict__ for f in self.files],
        }


def verify_stored(protection: Protection, row: ModelVersionRow) -> VersionVerification:
    """Decrypt every stored file as it streams, hash it, and check the signature over the result."""
    digests: dict[str, str] = {}
    files: list[FileCheck] = []
    problems: list[str] = []
    for artifact in row.artifacts:
        try:
            digests[artifact.path] = stored_digest(protection, artifact.blob, name=artifact.path)
            files.append(FileCheck(artifact.path, True))
        except CharterError as exc:  # unreadable, tampered, wrong key: named, and the walk goes on
            files.append(FileCheck(artifact.path, False, exc.message))
            problems.append(f"{artifact.path}: {exc.message}")
    if row.signature is None:
        if row.artifacts:
            problems.append("the version has files but no signature")
    else:
        result = signing.verify_digests(digests, bytes(row.signature), protection.public_key_pem)
        unreadable = {f.path for f in files if not f.ok}
        for problem in result.problems:
            if not (problem.kind == "removed" and problem.path in unreadable):
                problems.append(problem.detail)
        failed = {p.path for p in result.problems}
        files = [
            FileCheck(f.path, False, f.problem or "digest differs from the signed manifest") if f.path in failed else f
            for f in files
        ]
    return VersionVerification(
        model=row.model.name,
        version=row.version,
        ok=not problems,
        signed_by=row.signature_key_id,
        problems=problems,
        files=files,
    )


def verify_version(
    session: Session, actor: Principal, protection: Protection, model_ref: str | int, version: str
) -> VersionVerification:
    row = service.version_for(session, actor, model_ref, version, P.ARTIFACT_READ)
    report = verify_stored(protection, row)
    audit.record(
        session,
        actor,
        "version.verify",
        resource_type=service.RESOURCE,
        resource_id=row.model_id,
        outcome="allowed" if report.ok else "failed",
        details={"version": row.version, "ok": report.ok, "problems": report.problems[:20]},
    )
    return report


def promotion_refusals(protection: Protection, row: ModelVersionRow, target: str) -> list[str]:
    """The artifact gate: into approved or production only with clean (or overridden) files that verify."""
    if target not in lifecycle.PROTECTED:
        return []
    reasons = [
        f"{a.path} scanned {a.scan_verdict.replace('_', ' ')} and has no administrator override"
        for a in row.artifacts
        if a.scan_verdict != "clean" and a.override_by is None
    ]
    if row.artifacts:
        report = verify_stored(protection, row)
        reasons.extend(f"signature: {p}" for p in report.problems)
    return reasons


def open_download(
    session: Session, actor: Principal, protection: Protection, model_ref: str | int, version: str, path: str
) -> tuple[ArtifactRead, BlobRow]:
    """Authorize and check a download; the caller streams ``plaintext_chunks`` of the returned blob."""
    row = service.version_for(session, actor, model_ref, version, P.ARTIFACT_READ)
    artifact = _artifact(row, path)
    try:
        check_manifest(protection, row)
    except SignatureInvalid as exc:
        raise exc.recorded_as(
            "artifact.download",
            resource_type=service.RESOURCE,
            resource_id=row.model_id,
            outcome="failed",
            details={"version": row.version, "path": artifact.path},
        ) from None
    from charter.policies import gates as policy_gates  # the policies read the inventory: imported late

    policy_gates.check_download(session, actor, protection, row, artifact.path)
    audit.record(
        session,
        actor,
        "artifact.download",
        resource_type=service.RESOURCE,
        resource_id=row.model_id,
        details={"version": row.version, "path": artifact.path, "digest": artifact.digest},
    )
    return service.artifact_read(artifact), artifact.blob


def signature_of(session: Session, actor: Principal, model_ref: str | int, version: str) -> bytes:
    row = service.version_for(session, actor, model_ref, version, P.ARTIFACT_READ)
    if row.signature is None:
        raise NotFound(f"Version {row.version} of {row.model.name} has no signature (it has no files).")
    return bytes(row.signature)


# -- master-key rotation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RotationResult:
    key_id: str
    rewrapped: int
    previous: tuple[str, ...]


def rewrap_all(session: Session, actor: Principal, protection: Protection, *, rotate: bool = True) -> RotationResult:
    """Make a new master key active (when ``rotate``) and re-wrap every data key under it.

    Only the wrapped keys in the database change; no artifact is re-encrypted or even read.
    """
    ring = protection.keyring
    previous = ring.key_ids
    if rotate:
        ring.rotate()
    count = 0
    for blob in session.scalars(
        select(BlobRow).where(BlobRow.wrapped_key.is_not(None), BlobRow.key_id != ring.active_key_id)
    ):
        assert blob.key_id is not None and blob.wrapped_key is not None
        new = ring.rewrap(WrappedKey(key_id=blob.key_id, wrapped=bytes(blob.wrapped_key)))
        blob.key_id, blob.wrapped_key = new.key_id, new.wrapped
        count += 1
    session.flush()
    audit.record(
        session,
        actor,
        "keys.rotate" if rotate else "keys.rewrap",
        resource_type="master_key",
        resource_id=ring.active_key_id,
        details={"rewrapped": count, "previous_keys": list(previous)},
    )
    return RotationResult(ring.active_key_id, count, tuple(previous))


def key_usage(session: Session) -> dict[str | None, int]:
    rows = session.execute(select(BlobRow.key_id, func.count()).group_by(BlobRow.key_id)).all()
    return {key_id: n for key_id, n in rows}


def retire_key(session: Session, actor: Principal, protection: Protection, key_id: str) -> None:
    in_use = key_usage(session).get(key_id, 0)
    if in_use:
        raise Conflict(
            f"Master key {key_id} still wraps {in_use} data key(s); run `charter keys rotate` (or "
            "`charter keys rewrap`) first so that nothing needs it."
        )
    protection.keyring.retire(key_id)
    audit.record(session, actor, "keys.retire", resource_type="master_key", resource_id=key_id)
