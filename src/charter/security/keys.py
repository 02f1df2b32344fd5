"""Key material kept outside the database: the audit signing key and purpose-bound subkeys."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from charter.config import write_private_file
from charter.errors import ConfigurationError


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A subkey for one purpose, so the server secret never signs two kinds of thing (HKDF-expand, one block)."""
    return hmac.new(secret, b"charter/" + purpose.encode() + b"\x01", hashlib.sha256).digest()


def create_audit_key(path: Path) -> bool:
    """Create the Ed25519 checkpoint-signing key if missing. Returns True when created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private_file(path, pem)
    return True


def load_audit_key(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        raise ConfigurationError(f"The audit signing key {path} does not exist; run `charter init` to create it.")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{path} does not hold an Ed25519 private key.")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (a private key file also works: its public half is used)."""
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        return load_audit_key(path).public_key()
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigurationError(f"{path} does not hold an Ed25519 public key.")
    return key


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the first 8 bytes of the SHA-256 of its raw form, in hex."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]
