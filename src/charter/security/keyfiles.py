"""Every key file a Charter home needs, created when missing (by `charter init`, the demo and tests)."""

from __future__ import annotations

from charter.compute.crypto.signing import create_signing_key
from charter.config import Settings, ensure_secret_key_file
from charter.security.keys import create_audit_key
from charter.security.masterkeys import MasterKeyRing


def ensure_key_files(config: Settings) -> list[str]:
    """Create the missing key files; returns what was created, for the operator to read."""
    created = []
    config.home.mkdir(parents=True, exist_ok=True)
    if config.secret_key is None and ensure_secret_key_file(config):
        created.append(f"server secret {config.secret_key_file}")
    if create_audit_key(config.audit_key_file):
        created.append(f"audit signing key {config.audit_key_file}")
    if create_signing_key(config.signing_key_file):
        created.append(f"model signing key {config.signing_key_file}")
    master = config.keys_dir / "master"
    if config.master_key is None and not any(master.glob("*.key")):
        MasterKeyRing.create(config.keys_dir)
        created.append(f"master key in {master}")
    return created
