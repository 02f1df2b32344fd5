"""Model signatures: Charter's checks, and agreement with the upstream ``model_signing`` library and CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from model_signing import hashing as ms_hashing
from model_signing import verifying as ms_verifying

from charter.compute.crypto import signing
from charter.compute.crypto.signing import SIGNATURE_FILE, Problem, Verification
from charter.errors import ConfigurationError, InvalidInput, SignatureInvalid

CLI = Path(sys.executable).parent / "model_signing"
FILES = {
    "model.pkl": b"pickled weights " * 1000,
    "config.json": b'{"layers": 3}',
    "weights/layer0.bin": bytes(range(256)) * 5000,  # > 1 MiB: more than one read block
    "weights/deep/layer1.bin": b"\x00\x01\x02",
}


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "model-signing.pem"
    signing.create_signing_key(path)
    return path


@pytest.fixture
def public_pem(key_path: Path) -> str:
    return signing.public_key_pem(signing.load_signing_key(key_path))


@pytest.fixture
def public_path(tmp_path: Path, public_pem: str) -> Path:
    path = tmp_path / "keys" / "public.pem"
    path.write_text(public_pem)
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    folder = tmp_path / "fraud-model"
    for name, data in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def expected_digests() -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}


def upstream_verify(folder: Path, signature: Path, public_key: Path) -> subprocess.CompletedProcess[str]:
    """The upstream CLI, as a user with a downloaded model would run it (offline: key mode needs no network)."""
    return subprocess.run(
        [str(CLI), "verify", "key", str(folder), "--signature", str(signature), "--public_key", str(public_key)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def upstream_library_verify(folder: Path, signature: Path, public_key: Path) -> None:
    ms_verifying.Config().use_elliptic_key_verifier(public_key=public_key).verify(folder, signature)


# --- keys -----------------------------------------------------------------------------------------


def test_create_signing_key_writes_a_private_p256_key_once(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    assert signing.create_signing_key(path) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in path.read_bytes()  # PKCS#8
    key = signing.load_signing_key(path)
    assert isinstance(key.curve, ec.SECP256R1)

    before = path.read_bytes()
    assert signing.create_signing_key(path) is False
    assert path.read_bytes() == before


def test_load_signing_key_refuses_a_missing_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        signing.load_signing_key(tmp_path / "absent.pem")


@pytest.mark.parametrize(
    "make_pem",
    [
        lambda: Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        lambda: ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        lambda: b"not a key",
    ],
    ids=["ed25519", "p384", "garbage"],
)
def test_load_signing_key_refuses_other_keys(tmp_path: Path, make_pem: Callable[[], bytes]) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(make_pem())
    with pytest.raises(ConfigurationError):
        signing.load_signing_key(path)


def test_key_fingerprint_is_the_der_spki_sha256_prefix(key_path: Path, public_pem: str, public_path: Path) -> None:
    der = (
        signing.load_signing_key(key_path)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    expected = hashlib.sha256(der).hexdigest()[:16]
    assert signing.key_fingerprint(public_pem) == expected
    assert signing.key_fingerprint(public_pem.encode()) == expected
    assert signing.key_fingerprint(public_path) == expected

    other = tmp_path_key_pem(public_path.parent / "other.pem")
    assert signing.key_fingerprint(other) != expected


def tmp_path_key_pem(path: Path) -> str:
    signing.create_signing_key(path)
    return signing.public_key_pem(signing.load_signing_key(path))


# --- signing and verifying an untouched model -----------------------------------------------------


def test_signed_folder_verifies_in_charter_and_upstream(model: Path, key_path: Path, public_path: Path) -> None:
    signature = signing.write_folder_signature(model, key_path)
    assert signature == model / SIGNATURE_FILE

    assert signing.verify_folder(model, signature, public_path) == Verification(ok=True, problems=())
    assert signing.verify_digests(expected_digests(), signature.read_bytes(), public_path.read_text()).ok
    assert signing.signed_digests(signature.read_bytes(), public_path.read_bytes()) == expected_digests()

    upstream_library_verify(model, signature, public_path)
    result = upstream_verify(model, signature, public_path)
    assert result.returncode == 0, result.stderr
    assert "Verification succeeded" in result.stdout


def test_statement_is_upstreams_files_serialization(model: Path, key_path: Path) -> None:
    bundle = json.loads(signing.sign_folder(model, key_path))
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][0]["name"] == "fraud-model"
    assert statement["predicate"]["serialization"] == {
        "method": "files",
        "hash_type": "sha256",
        "allow_symlinks": False,
        "ignore_paths": list(signing.IGNORED_PATHS),
    }
    resources = {r["name"]: (r["algorithm"], r["digest"]) for r in statement["predicate"]["resources"]}
    assert resources == {name: ("sha256", digest) for name, digest in expected_digests().items()}


def test_an_existing_signature_file_is_not_signed(model: Path, key_path: Path, public_pem: str) -> None:
    (model / SIGNATURE_FILE).write_bytes(b"an old signature")
    bundle = signing.sign_folder(model, key_path)
    assert SIGNATURE_FILE not in signing.signed_digests(bundle, public_pem)
    (model / SIGNATURE_FILE).write_bytes(bundle)
    assert signing.verify_folder(model, bundle, public_pem).ok
    # The stored copy may list the signature among its files: it is not an added file.
    stored = {**expected_digests(), SIGNATURE_FILE: hashlib.sha256(bundle).hexdigest()}
    assert signing.verify_digests(stored, bundle, public_pem).ok


# --- tampering, reported by name ------------------------------------------------------------------


def change_byte(folder: Path) -> None:
    data = bytearray((folder / "model.pkl").read_bytes())
    data[100] ^= 0x01
    (folder / "model.pkl").write_bytes(bytes(data))


def add_file(folder: Path) -> None:
    (folder / "weights" / "extra.bin").write_bytes(b"smuggled")


def remove_file(folder: Path) -> None:
    (folder / "config.json").unlink()


def rename_file(folder: Path) -> None:
    (folder / "weights" / "deep" / "layer1.bin").rename(folder / "weights" / "layer1.bin")


TAMPERING = {
    "changed": (change_byte, [Problem("changed", "model.pkl", "model.pkl changed (digest differs)")]),
    "added": (
        add_file,
        [Problem("added", "weights/extra.bin", "weights/extra.bin added (not in the signed manifest)")],
    ),
    "removed": (remove_file, [Problem("removed", "config.json", "config.json removed")]),
    "renamed": (
        rename_file,
        [Problem("renamed", "weights/deep/layer1.bin", "weights/deep/layer1.bin renamed to weights/layer1.bin")],
    ),
}


@pytest.mark.parametrize("source", ["folder", "digests"])
@pytest.mark.parametrize("tamper", sorted(TAMPERING))
def test_tampering_is_reported_by_name(model: Path, key_path: Path, public_pem: str, tamper: str, source: str) -> None:
    bundle = signing.sign_folder(model, key_path)
    edit, expected = TAMPERING[tamper]
    edit(model)

    if source == "folder":
        result = signing.verify_folder(model, bundle, public_pem)
    else:
        digests = {p.relative_to(model).as_posix(): signing.file_sha256(p) for p in model.rglob("*") if p.is_file()}
        result = signing.verify_digests(digests, bundle, public_pem)

    assert result == Verification(ok=False, problems=tuple(expected))
    with pytest.raises(SignatureInvalid) as raised:
        result.raise_for_problems(what="Model fraud-model v1")
    assert expected[0].detail in raised.value.message
    assert raised.value.message.startswith("Model fraud-model v1 does not match its signature")


def test_every_problem_is_reported_not_only_the_first(model: Path, key_path: Path, public_pem: str) -> None:
    bundle = signing.sign_folder(model, key_path)
    for edit, _ in TAMPERING.values():
        edit(model)
    result = signing.verify_folder(model, bundle, public_pem)
    assert sorted(p.kind for p in result.problems) == ["added", "changed", "removed", "renamed"]

    with pytest.raises(SignatureInvalid) as raised:
        result.raise_for_problems(what="the download")
    error = raised.value
    assert (error.code, error.status) == ("signature_invalid", 409)
    for detail in (
        "model.pkl changed (digest differs)",
        "weights/extra.bin added (not in the signed manifest)",
        "config.json removed",
        "weights/deep/layer1.bin renamed to weights/layer1.bin",
    ):
        assert detail in error.message
    assert len(error.details["problems"]) == 4


def test_upstream_cli_also_rejects_a_changed_byte(model: Path, key_path: Path, public_path: Path) -> None:
    signature = signing.write_folder_signature(model, key_path)
    change_byte(model)
    result = upstream_verify(model, signature, public_path)
    assert result.returncode != 0
    assert "model.pkl" in result.stderr


def test_a_file_with_another_files_content_is_a_change_not_a_rename(
    model: Path, key_path: Path, public_pem: str
) -> None:
    bundle = signing.sign_folder(model, key_path)
    (model / "config.json").write_bytes(FILES["model.pkl"])
    result = signing.verify_folder(model, bundle, public_pem)
    assert result.problems == (Problem("changed", "config.json", "config.json changed (digest differs)"),)


# --- bad signatures -------------------------------------------------------------------------------


def test_a_signature_by_another_key_is_a_bad_signature(model: Path, key_path: Path, tmp_path: Path) -> None:
    bundle = signing.sign_folder(model, key_path)
    other_pem = tmp_path_key_pem(tmp_path / "other.pem")

    for result in (
        signing.verify_folder(model, bundle, other_pem),
        signing.verify_digests(expected_digests(), bundle, other_pem),
    ):
        assert not result.ok
        assert [p.kind for p in result.problems] == ["bad_signature"]
        assert result.problems[0].path == SIGNATURE_FILE
    with pytest.raises(SignatureInvalid):
        signing.signed_digests(bundle, other_pem)


def _edit_bundle(bundle: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    data = json.loads(bundle)
    edit(data)
    return json.dumps(data).encode()


def _edit_statement(bundle: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    def in_envelope(data: dict[str, Any]) -> None:
        statement = json.loads(base64.b64decode(data["dsseEnvelope"]["payload"]))
        edit(statement)
        data["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()

    return _edit_bundle(bundle, in_envelope)


def _forge_digest(statement: dict[str, Any]) -> None:
    statement["predicate"]["resources"][0]["digest"] = hashlib.sha256(b"forged").hexdigest()


def _drop_resource(statement: dict[str, Any]) -> None:
    del statement["predicate"]["resources"][0]


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "not json": lambda b: b"this is not a bundle",
    "empty": lambda b: b"",
    "truncated": lambda b: b[: len(b) // 2],
    "json list": lambda b: b"[]",
    "not utf-8": lambda b: b"\xff\xfe\x00",
    "no envelope": lambda b: _edit_bundle(b, lambda d: d.pop("dsseEnvelope")),
    "no signatures": lambda b: _edit_bundle(b, lambda d: d["dsseEnvelope"].__setitem__("signatures", [])),
    "other signature": lambda b: _edit_bundle(
        b, lambda d: d["dsseEnvelope"]["signatures"][0].__setitem__("sig", base64.b64encode(b"x" * 70).decode())
    ),
    "statement digest edited": lambda b: _edit_statement(b, _forge_digest),
    "statement resource dropped": lambda b: _edit_statement(b, _drop_resource),
}


@pytest.mark.parametrize("corrupt", sorted(CORRUPTIONS))
def test_a_corrupted_bundle_is_a_bad_signature(model: Path, key_path: Path, public_pem: str, corrupt: str) -> None:
    bundle = CORRUPTIONS[corrupt](signing.sign_folder(model, key_path))
    for result in (
        signing.verify_folder(model, bundle, public_pem),
        signing.verify_digests(expected_digests(), bundle, public_pem),
    ):
        assert result.ok is False
        assert [p.kind for p in result.problems] == ["bad_signature"]
    with pytest.raises(SignatureInvalid, match="does not verify"):
        signing.signed_digests(bundle, public_pem)


def test_a_missing_signature_file_is_a_bad_signature(model: Path, public_pem: str) -> None:
    result = signing.verify_folder(model, model / SIGNATURE_FILE, public_pem)
    assert [p.kind for p in result.problems] == ["bad_signature"]


def test_a_public_key_that_is_not_ec_is_invalid_input(model: Path, key_path: Path) -> None:
    bundle = signing.sign_folder(model, key_path)
    ed_pem = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(InvalidInput, match="elliptic-curve"):
        signing.verify_folder(model, bundle, ed_pem)
    with pytest.raises(InvalidInput, match="not a PEM public key"):
        signing.verify_digests(expected_digests(), bundle, "nonsense")


# --- signing from digests -------------------------------------------------------------------------


def test_a_bundle_signed_from_digests_verifies_upstream_on_the_real_folder(
    model: Path, key_path: Path, public_path: Path, tmp_path: Path
) -> None:
    bundle = signing.sign_digests(expected_digests(), key_path, model_name="fraud-model")
    signature = tmp_path / "from-digests.sig"
    signature.write_bytes(bundle)

    upstream_library_verify(model, signature, public_path)
    result = upstream_verify(model, signature, public_path)
    assert result.returncode == 0, result.stderr
    assert signing.verify_folder(model, signature, public_path).ok

    change_byte(model)
    with pytest.raises(ValueError, match=r"model\.pkl"):
        upstream_library_verify(model, signature, public_path)


def test_digests_manifest_equals_upstreams_folder_manifest(model: Path, key_path: Path, public_pem: str) -> None:
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (model / ".gitignore").write_text("*.tmp\n")
    (model / ".hidden").write_text("dotfiles are signed")
    (model / "weights" / ".git").write_text("only the top-level git paths are ignored")
    (model / "weights" / SIGNATURE_FILE).write_text("only the top-level signature is ignored")
    (model / SIGNATURE_FILE).write_text("ignored")

    upstream = ms_hashing.Config().set_ignored_paths(paths=[SIGNATURE_FILE]).hash(model)
    upstream_digests = {rd.identifier: rd.digest.digest_hex for rd in upstream.resource_descriptors()}
    ours = signing.folder_digests(model)
    assert ours == upstream_digests
    assert {".hidden", "weights/.git", f"weights/{SIGNATURE_FILE}"} <= set(ours)
    assert not {".git/HEAD", ".gitignore", SIGNATURE_FILE} & set(ours)


def test_ignore_paths_recorded_by_upstream_are_honoured(
    model: Path, key_path: Path, public_path: Path, tmp_path: Path
) -> None:
    (model / "README.md").write_text("model card")
    signature = tmp_path / "upstream.sig"
    subprocess.run(
        [
            str(CLI), "sign", "key", str(model), "--signature", str(signature),
            "--private_key", str(key_path), "--ignore-paths", str(model / "README.md"),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )  # fmt: skip
    (model / "README.md").write_text("edited: not covered by the signature")
    assert signing.verify_folder(model, signature, public_path).ok
    digests = {**expected_digests(), "README.md": "0" * 64}
    assert signing.verify_digests(digests, signature.read_bytes(), public_path).ok
    change_byte(model)
    assert [p.path for p in signing.verify_folder(model, signature, public_path).problems] == ["model.pkl"]


@pytest.mark.parametrize(
    "path", ["../escape.bin", "/etc/passwd", "a//b.bin", "./a.bin", "a/", "", SIGNATURE_FILE, ".git/config"]
)
def test_sign_digests_refuses_paths_upstream_could_not_match(key_path: Path, path: str) -> None:
    with pytest.raises(InvalidInput):
        signing.sign_digests({path: "0" * 64, "ok.bin": "1" * 64}, key_path, model_name="m")


@pytest.mark.parametrize("digest", ["abc", "g" * 64, "0" * 63, "0" * 65])
def test_sign_digests_refuses_malformed_digests(key_path: Path, digest: str) -> None:
    with pytest.raises(InvalidInput, match="SHA-256"):
        signing.sign_digests({"a.bin": digest}, key_path, model_name="m")


def test_sign_digests_accepts_uppercase_hex(key_path: Path, public_pem: str) -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    bundle = signing.sign_digests({"a.bin": digest.upper()}, key_path, model_name="m")
    assert signing.signed_digests(bundle, public_pem) == {"a.bin": digest}


def test_sign_digests_with_a_missing_key_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        signing.sign_digests({"a.bin": "0" * 64}, tmp_path / "absent.pem", model_name="m")


# --- edge cases -----------------------------------------------------------------------------------


def test_an_empty_model_is_refused(tmp_path: Path, key_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    with pytest.raises(InvalidInput, match="no files"):
        signing.sign_folder(empty, key_path)
    (empty / SIGNATURE_FILE).write_text("a signature is not a model")
    (empty / ".gitignore").write_text("*")
    with pytest.raises(InvalidInput, match="no files"):
        signing.sign_folder(empty, key_path)
    with pytest.raises(InvalidInput, match="no files"):
        signing.sign_digests({}, key_path, model_name="empty")


def test_a_symlink_is_refused_as_upstream_does(model: Path, key_path: Path) -> None:
    (model / "alias.pkl").symlink_to(model / "model.pkl")
    with pytest.raises(InvalidInput, match="symbolic link"):
        signing.sign_folder(model, key_path)


def test_a_symlink_inside_an_ignored_folder_is_refused_too(model: Path, key_path: Path, public_path: Path) -> None:
    (model / ".git").mkdir()
    (model / ".git" / "hooks").symlink_to(model / "weights")
    with pytest.raises(InvalidInput, match="symbolic link"):
        signing.sign_folder(model, key_path)
    # Upstream would not verify such a folder either, whatever signed it.
    signature = model.parent / "upstream.sig"
    signature.write_bytes(signing.sign_digests(expected_digests(), key_path, model_name="fraud-model"))
    result = upstream_verify(model, signature, public_path)
    assert result.returncode != 0
    assert "symlink" in result.stderr


def test_a_fifo_is_refused(model: Path, key_path: Path) -> None:
    os.mkfifo(model / "weights" / "pipe")
    with pytest.raises(InvalidInput, match="not a regular file"):
        signing.sign_folder(model, key_path)


def test_a_file_is_not_a_model_folder(model: Path, key_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a folder"):
        signing.sign_folder(model / "model.pkl", key_path)


def test_verification_ok_matches_its_problems() -> None:
    Verification.of([]).raise_for_problems(what="anything")
    with pytest.raises(ValueError):
        Verification(ok=True, problems=(Problem("removed", "a", "a removed"),))
    with pytest.raises(ValueError):
        Verification(ok=False, problems=())
