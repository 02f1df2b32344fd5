"""Model signatures that the OpenSSF ``model_signing`` tools also verify.

A signature is what ``model_signing sign key`` writes: a Sigstore bundle
(``model.sig``) holding a DSSE envelope over an in-toto statement whose
predicate lists every file of the model with its SHA-256 digest
(serialization ``method: files``, ``hash_type: sha256``,
``allow_symlinks: false``). Charter signs with the server's EC P-256 key, so
anyone holding the public key can check a downloaded model with::

    model_signing verify key MODEL_DIR --signature MODEL_DIR/model.sig --public_key charter.pub

Signatures cover the plaintext files. Charter stores models encrypted, so
both signing and verification also work from a mapping ``relative POSIX path
-> SHA-256 hex digest`` that the caller computes while it streams the
plaintext (``sign_digests``, ``verify_digests``); the bundle is the same as
the one signed from a folder with those files.

Verification first checks the bundle with the library, then compares the
signed manifest with the actual digests itself, so that every difference is
reported by name: a changed file, an added file, a removed file, and a file
that was renamed (a signed file missing and a new file with the same digest).

Which files a folder's manifest holds follows upstream's defaults:

- ``model.sig`` and the git paths ``.git``, ``.gitattributes``, ``.github``
  and ``.gitignore`` at the top of the folder are left out (recorded in the
  statement's ``ignore_paths``, which upstream's verifier honours);
- a symbolic link, or anything that is neither a file nor a folder, is
  refused, as upstream does without ``--allow_symlinks``;
- a model with no file at all is refused: a signature over nothing proves
  nothing.

Keyless (Sigstore) signing is not offered: it needs the internet and an
OIDC identity, and a server signing on every upload has neither.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from model_signing import manifest
from model_signing._hashing.hashing import Digest
from model_signing._signing import sign_ec_key, sign_sigstore_pb
from model_signing._signing.signing import Payload

from charter.config import write_private_file
from charter.errors import ConfigurationError, InvalidInput, SignatureInvalid

__all__ = [
    "IGNORED_PATHS",
    "SIGNATURE_FILE",
    "Problem",
    "ProblemKind",
    "PublicKeyInput",
    "Verification",
    "create_signing_key",
    "file_sha256",
    "folder_digests",
    "key_fingerprint",
    "load_signing_key",
    "public_key_pem",
    "sign_digests",
    "sign_folder",
    "signed_digests",
    "verify_digests",
    "verify_folder",
    "write_folder_signature",
]

SIGNATURE_FILE = "model.sig"
# Upstream's CLI leaves these out of a folder's manifest by default (its git
# paths, plus the signature file itself); Charter leaves out the same ones so
# that both compute the same manifest for the same folder.
IGNORED_PATHS: tuple[str, ...] = (SIGNATURE_FILE, ".git", ".gitattributes", ".github", ".gitignore")

BLOCK_SIZE = 1 << 20
_HASH = "sha256"
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")

ProblemKind = Literal["changed", "added", "removed", "renamed", "bad_signature"]
PublicKeyInput = str | bytes | Path
"""A public key as PEM text, PEM bytes, or the path of a PEM file."""

# What the library raises, in one place or another, for a bundle that is not
# well-formed or does not verify: JSON and pydantic errors are ValueErrors, a
# missing field is a KeyError or TypeError, an envelope without a signature an
# IndexError, a bundle without a DSSE envelope an AttributeError, a wrong key
# or an edited statement InvalidSignature.
_BAD_BUNDLE_ERRORS = (ValueError, KeyError, TypeError, IndexError, AttributeError, InvalidSignature)


# --- the signing key ------------------------------------------------------------------------------


def create_signing_key(path: Path) -> bool:
    """Create the EC P-256 model-signing key (PKCS#8 PEM, mode 0600) if missing. Returns True when created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private_file(path, pem)
    return True


def load_signing_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        raise ConfigurationError(f"The model signing key {path} does not exist; run `charter init` to create it.")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # TypeError: the key is encrypted; Charter's key never is.
        raise ConfigurationError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigurationError(f"{path} does not hold an EC P-256 private key.")
    return key


def public_key_pem(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> str:
    """The public half as a PEM SubjectPublicKeyInfo: what ``model_signing verify key --public_key`` reads."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_fingerprint(public_key_pem: PublicKeyInput) -> str:
    """A short name for a public key: the first 16 hex digits of the SHA-256 of its DER SubjectPublicKeyInfo.

    Upstream's bundle carries its own hint (the SHA-256 of the PEM text); this
    one does not depend on PEM line wrapping.
    """
    der = _load_public_key(public_key_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def _load_public_key(public_key_pem: PublicKeyInput) -> ec.EllipticCurvePublicKey:
    if isinstance(public_key_pem, Path):
        try:
            data = public_key_pem.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"The public key {public_key_pem} cannot be read: {exc.strerror}.") from exc
    else:
        data = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidInput("The public key is not a PEM public key.") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise InvalidInput("The public key is not an elliptic-curve key.")
    return key


# --- digests --------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks, as lowercase hex."""
    digest = hashlib.sha256()
    buffer = bytearray(BLOCK_SIZE)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def folder_digests(folder: Path) -> dict[str, str]:
    """Every file of a model folder, as relative POSIX path -> SHA-256 hex, with upstream's ignore rules.

    Raises ``InvalidInput`` for a path that is not a folder, and for a symbolic
    link or special file inside it (upstream refuses them too).
    """
    return _folder_digests(folder, frozenset(IGNORED_PATHS))


def _folder_digests(folder: Path, ignore: frozenset[str]) -> dict[str, str]:
    if folder.is_symlink() or not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder.")

    def fail(error: OSError) -> None:
        raise InvalidInput(f"{error.filename} cannot be read: {error.strerror}.") from error

    digests: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder, onerror=fail):
        base = Path(dirpath)
        prefix = base.relative_to(folder).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        # Like upstream, links and special files are refused even inside ignored folders such as .git:
        # upstream checks every path before its ignore rules, and would not verify such a folder.
        for name in dirnames:
            if (base / name).is_symlink():
                raise InvalidInput(f"{prefix + name} is a symbolic link; model signatures do not follow links.")
        for name in filenames:
            relative = prefix + name
            mode = os.lstat(base / name).st_mode
            if stat.S_ISLNK(mode):
                raise InvalidInput(f"{relative} is a symbolic link; model signatures do not follow links.")
            if not stat.S_ISREG(mode):
                raise InvalidInput(f"{relative} is not a regular file.")
            if not _ignored(relative, ignore):
                digests[relative] = file_sha256(base / name)
    return digests


def _ignored(relative: str, ignore: frozenset[str]) -> bool:
    # Upstream ignores a path when it is, or lies under, an ignored path (`Path.is_relative_to`).
    return any(relative == p or relative.startswith(p + "/") for p in ignore)


def _check_digests(digests: Mapping[str, str]) -> dict[str, str]:
    """Validated copy: normalised relative POSIX paths, 64-digit hex digests (lowercased)."""
    checked: dict[str, str] = {}
    for path, digest in digests.items():
        pure = PurePosixPath(path)
        if not path or pure.as_posix() != path or pure.is_absolute() or ".." in pure.parts or "\x00" in path:
            raise InvalidInput(f"{path!r} is not a normalised relative POSIX path.")
        if not isinstance(digest, str) or not _HEX_DIGEST.fullmatch(digest):
            raise InvalidInput(f"The digest of {path} is not a SHA-256 hex digest.")
        checked[path] = digest.lower()
    return checked


# --- signing --------------------------------------------------------------------------------------


def sign_folder(folder: Path, private_key_path: Path, *, model_name: str | None = None) -> bytes:
    """Sign every file of ``folder`` (an existing ``model.sig`` excluded); returns the bundle JSON.

    ``model_name`` (the statement's subject name, informative only) defaults to
    the folder's name, as upstream does.
    """
    digests = folder_digests(folder)
    return sign_digests(digests, private_key_path, model_name=model_name or folder.resolve().name)


def write_folder_signature(folder: Path, private_key_path: Path, *, model_name: str | None = None) -> Path:
    """Sign ``folder`` and write the bundle to ``folder/model.sig``, where upstream's CLI looks by convention."""
    bundle = sign_folder(folder, private_key_path, model_name=model_name)
    target = folder / SIGNATURE_FILE
    target.write_bytes(bundle)
    return target


def sign_digests(digests: Mapping[str, str], private_key_path: Path, *, model_name: str) -> bytes:
    """Sign a model known only by its files' SHA-256 digests; returns the bundle JSON.

    The manifest is built with the library's own classes, exactly as
    ``model_signing``'s folder hashing builds it: ``SerializationType`` from
    the ``files`` / ``sha256`` / ``allow_symlinks: false`` parameters plus
    upstream's ignore paths, one ``FileManifestItem`` per file, then the
    library's ``Payload`` (in-toto statement, root digest over the sorted
    digests) signed by its EC-key ``Signer``. The bundle therefore verifies
    with ``model_signing verify key`` on a folder holding those files.
    """
    checked = _check_digests(digests)
    if not checked:
        raise InvalidInput("A model with no files cannot be signed.")
    ignored = sorted(p for p in checked if _ignored(p, frozenset(IGNORED_PATHS)))
    if ignored:
        raise InvalidInput(f"{', '.join(ignored)} cannot be signed: upstream verifiers ignore these paths.")
    if not model_name:
        raise InvalidInput("A signed model needs a name.")
    load_signing_key(private_key_path)  # a clear ConfigurationError rather than the library's own

    serialization_type = manifest.SerializationType.from_args(
        {"method": "files", "hash_type": _HASH, "allow_symlinks": False, "ignore_paths": list(IGNORED_PATHS)}
    )
    items = [
        serialization_type.new_item(path, Digest(_HASH, bytes.fromhex(digest)))
        for path, digest in sorted(checked.items())
    ]
    payload = Payload(manifest.Manifest(model_name, items, serialization_type))
    signature = sign_ec_key.Signer(private_key_path).sign(payload)
    if not isinstance(signature, sign_sigstore_pb.Signature):  # pragma: no cover - the EC signer's only type
        raise TypeError(f"unexpected signature type {type(signature).__name__}")
    return signature.bundle.to_json().encode()


# --- verification ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reason a model does not match its signature. ``detail`` is the sentence shown to people."""

    kind: ProblemKind
    path: str  # the file (for "renamed", its signed name); SIGNATURE_FILE for "bad_signature"
    detail: str

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class Verification:
    ok: bool
    problems: tuple[Problem, ...]

    def __post_init__(self) -> None:
        if self.ok == bool(self.problems):
            raise ValueError("a verification is ok exactly when it has no problems")

    @classmethod
    def of(cls, problems: Iterable[Problem]) -> Verification:
        found = tuple(problems)
        return cls(ok=not found, problems=found)

    def raise_for_problems(self, *, what: str) -> None:
        """Raise ``SignatureInvalid`` naming every problem, e.g. ``"model.pkl changed (digest differs)"``."""
        if self.ok:
            return
        raise SignatureInvalid(
            f"{what} does not match its signature: {'; '.join(p.detail for p in self.problems)}.",
            details={"problems": [{"kind": p.kind, "path": p.path, "detail": p.detail} for p in self.problems]},
        )


@dataclass(frozen=True)
class _Signed:
    digests: dict[str, str]
    ignore: frozenset[str]  # upstream's defaults plus the statement's ignore_paths


def signed_digests(signature: bytes, public_key_pem: PublicKeyInput) -> dict[str, str]:
    """Check the bundle's signature and return the manifest it signs (relative path -> SHA-256 hex).

    Raises ``SignatureInvalid`` when the bundle is malformed, signed by another
    key, or its statement was edited.
    """
    return _verify_bundle(signature, public_key_pem).digests


def verify_folder(folder: Path, signature: bytes | Path, public_key_pem: PublicKeyInput) -> Verification:
    """Compare a model folder (e.g. a downloaded copy) with its signature, reporting every difference."""
    if isinstance(signature, Path):
        try:
            bundle = signature.read_bytes()
        except OSError as exc:
            return Verification.of([_bad_signature(f"{signature} cannot be read: {exc.strerror}")])
    else:
        bundle = signature
    try:
        signed = _verify_bundle(bundle, public_key_pem)
    except SignatureInvalid as exc:
        return Verification.of([_bad_signature(str(exc.details["reason"]))])
    return Verification.of(_compare(signed.digests, _folder_digests(folder, signed.ignore)))


def verify_digests(digests: Mapping[str, str], signature: bytes, public_key_pem: PublicKeyInput) -> Verification:
    """Compare a model known by its files' SHA-256 digests (e.g. the stored, encrypted copy) with its signature.

    Paths the signature ignores (``model.sig``, git paths, the statement's
    ``ignore_paths``) are left out of the comparison, as for a folder.
    """
    actual = _check_digests(digests)
    try:
        signed = _verify_bundle(signature, public_key_pem)
    except SignatureInvalid as exc:
        return Verification.of([_bad_signature(str(exc.details["reason"]))])
    kept = {path: digest for path, digest in actual.items() if not _ignored(path, signed.ignore)}
    return Verification.of(_compare(signed.digests, kept))


def _bad_signature(reason: str) -> Problem:
    return Problem("bad_signature", SIGNATURE_FILE, f"the signature does not verify ({reason})")


def _verify_bundle(signature: bytes, public_key_pem: PublicKeyInput) -> _Signed:
    key = _load_public_key(public_key_pem)
    pem = _pem_bytes(key)
    # The library reads the bundle and the key from files only; both are public.
    with tempfile.TemporaryDirectory(prefix="charter-verify-") as scratch:
        bundle_path = Path(scratch) / SIGNATURE_FILE
        key_path = Path(scratch) / "public.pem"
        bundle_path.write_bytes(signature)
        key_path.write_bytes(pem)
        try:
            verifier = sign_ec_key.Verifier(key_path)
            signed = verifier.verify(sign_sigstore_pb.Signature.read(bundle_path))
        except _BAD_BUNDLE_ERRORS as exc:
            raise _invalid(_reason(exc)) from exc
    return _signed_entries(signed)


def _pem_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _signed_entries(signed: manifest.Manifest) -> _Signed:
    parameters: dict[str, Any] = signed.serialization_type
    if parameters.get("method") != "files" or parameters.get("hash_type") != _HASH:
        raise _invalid(
            f"the manifest is a {parameters.get('method')!r}/{parameters.get('hash_type')!r} serialization; "
            "Charter checks per-file SHA-256 manifests only"
        )
    digests: dict[str, str] = {}
    for descriptor in signed.resource_descriptors():
        if descriptor.digest.algorithm != _HASH:
            raise _invalid(f"{descriptor.identifier} is signed with {descriptor.digest.algorithm}, not SHA-256")
        digests[descriptor.identifier] = descriptor.digest.digest_hex
    ignore = set(IGNORED_PATHS)
    for entry in parameters.get("ignore_paths", ()):
        pure = PurePosixPath(str(entry))
        # Upstream drops ignore paths outside the model; an empty one would ignore every file.
        if pure.parts and not pure.is_absolute() and ".." not in pure.parts:
            ignore.add(pure.as_posix())
    return _Signed(digests=digests, ignore=frozenset(ignore))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, InvalidSignature):
        return "signed by another key, or the statement was changed"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _invalid(reason: str) -> SignatureInvalid:
    return SignatureInvalid(f"The signature does not verify: {reason}.", details={"reason": reason})


def _compare(signed: Mapping[str, str], actual: Mapping[str, str]) -> list[Problem]:
    """Every difference between the signed manifest and the actual files, renames paired by digest."""
    problems: list[Problem] = []
    removed = sorted(set(signed) - set(actual))
    added = sorted(set(actual) - set(signed))
    for path in sorted(set(signed) & set(actual)):
        if signed[path] != actual[path]:
            problems.append(Problem("changed", path, f"{path} changed (digest differs)"))

    missing_by_digest: dict[str, list[str]] = {}
    for path in removed:
        missing_by_digest.setdefault(signed[path], []).append(path)
    for path in added:
        candidates = missing_by_digest.get(actual[path])
        if candidates:
            old = candidates.pop(0)
            problems.append(Problem("renamed", old, f"{old} renamed to {path}"))
        else:
            problems.append(Problem("added", path, f"{path} added (not in the signed manifest)"))
    for paths in missing_by_digest.values():
        problems.extend(Problem("removed", path, f"{path} removed") for path in paths)
    return sorted(problems, key=lambda p: (p.path, p.kind))
