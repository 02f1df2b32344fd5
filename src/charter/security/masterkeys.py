"""The master key ring: the keys that wrap each artifact's data key (envelope encryption).

Master keys never enter the database. They live in key files, one per key, or in the
``CHARTER_MASTER_KEY`` environment variable::

    $CHARTER_HOME/keys/master/
        ACTIVE                  the id of the key that wraps new data keys (one line)
        <key id>.key            a 256-bit key, base64 (or the 32 raw bytes), mode 0600
        retired/<key id>.key    keys taken out of use by retire(): kept, so that a retirement
                                can be undone by moving the file back, but never used

A key's id is the first 16 hex characters of ``SHA-256(b"charter-master-key-id" ‖ key)``:
stable, and it reveals nothing about the key. A wrapped data key is recorded with that id
(``WrappedKey``), in the database row of its blob; its bytes are ``nonce (12) ‖
AES-256-GCM(master key, data key, associated data b"charter/data-key/" ‖ key id)``, so a
wrapped key cannot be moved to another key id either.

Rotation (:meth:`MasterKeyRing.rotate`) makes a new key and makes it active; older keys stay
readable, and :meth:`MasterKeyRing.rewrap` moves a data key to the active key without
touching the artifact it protects. Once no database row names an old key,
:meth:`MasterKeyRing.retire` takes it out of use (checking the rows is the caller's job).
When ``CHARTER_MASTER_KEY`` is set, its key is the active one (the files remain readable):
convenient where files do not persist, but rotation is then done by changing the variable
(see :meth:`MasterKeyRing.rotate`). Neither error messages nor ``repr`` ever show a key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from charter.config import write_private_file
from charter.errors import ConfigurationError, DecryptionFailed, KeyUnavailable

__all__ = ["MASTER_KEY_BYTES", "MasterKeyRing", "WrappedKey", "master_key_id"]

MASTER_KEY_BYTES = 32
DATA_KEY_BYTES = 32
NONCE_BYTES = 12
WRAPPED_BYTES = NONCE_BYTES + DATA_KEY_BYTES + 16
ENV_VARIABLE = "CHARTER_MASTER_KEY"
_KEY_ID = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class WrappedKey:
    """A data key wrapped by master key ``key_id``: what the database stores for a blob."""

    key_id: str
    wrapped: bytes

    def __repr__(self) -> str:
        return f"WrappedKey(key_id={self.key_id!r}, wrapped=<{len(self.wrapped)} bytes>)"


def master_key_id(key: bytes) -> str:
    """The public name of a master key: 16 hex characters of a domain-separated SHA-256."""
    return hashlib.sha256(b"charter-master-key-id" + key).hexdigest()[:16]


class MasterKeyRing:
    """The master keys usable here, which one is active, and which are retired."""

    def __init__(
        self,
        keys_dir: Path,
        keys: dict[str, AESGCM],
        active_key_id: str,
        retired: tuple[str, ...],
        env_key_id: str | None,
    ) -> None:
        self._dir = keys_dir / "master"
        self._keys = keys
        self.active_key_id = active_key_id
        self.retired = retired
        self.env_key_id = env_key_id

    def __repr__(self) -> str:
        return f"MasterKeyRing(active={self.active_key_id!r}, keys={self.key_ids!r}, retired={self.retired!r})"

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key that can unwrap (the active one included), sorted."""
        return tuple(sorted(self._keys))

    # -- loading ------------------------------------------------------------------------------------

    @classmethod
    def load(cls, keys_dir: Path, *, env_key: str | None = None) -> MasterKeyRing:
        """The ring under ``keys_dir/master``, plus the key in ``env_key`` (the value of CHARTER_MASTER_KEY).

        Raises :class:`~charter.errors.ConfigurationError` naming the file (never its content)
        when a key file is unreadable, of the wrong size, or named after another key, and when
        there is no key at all or no usable active key.
        """
        folder = keys_dir / "master"
        keys: dict[str, AESGCM] = {}
        for path in sorted(folder.glob("*.key")):  # nothing when the folder does not exist
            key_id, key = _read_key_file(path)
            keys[key_id] = AESGCM(key)
        retired = tuple(sorted(p.stem for p in (folder / "retired").glob("*.key") if _KEY_ID.fullmatch(p.stem)))
        env_key_id = None
        if env_key:
            key = _parse_env_key(env_key)
            env_key_id = master_key_id(key)
            keys[env_key_id] = AESGCM(key)
        if not keys:
            raise ConfigurationError(
                f"No master key: run `charter init` to create one in {folder}, or set {ENV_VARIABLE} "
                "(base64 of 32 random bytes)."
            )
        active = env_key_id or _read_active(folder, keys)
        return cls(keys_dir, keys, active, retired, env_key_id)

    @classmethod
    def create(cls, keys_dir: Path, *, env_key: str | None = None) -> MasterKeyRing:
        """Make the first master key unless there is one already (``charter init``); idempotent.

        With ``env_key`` no file is made: that key is the active one.
        """
        folder = keys_dir / "master"
        if not env_key:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            existing = sorted(p.stem for p in folder.glob("*.key"))
            if not existing:
                key_id, _ = _write_new_key(folder)
                write_private_file(folder / "ACTIVE", (key_id + "\n").encode())
            elif not (folder / "ACTIVE").exists() and len(existing) == 1:
                # A first run interrupted between the key file and ACTIVE: finish it.
                write_private_file(folder / "ACTIVE", (existing[0] + "\n").encode())
        return cls.load(keys_dir, env_key=env_key)

    # -- wrapping -----------------------------------------------------------------------------------

    def wrap(self, data_key: bytes) -> WrappedKey:
        """Wrap a data key under the active master key."""
        if len(data_key) != DATA_KEY_BYTES:
            raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes, got {len(data_key)}")
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._keys[self.active_key_id].encrypt(nonce, bytes(data_key), _wrap_aad(self.active_key_id))
        return WrappedKey(self.active_key_id, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        """The data key inside ``wrapped``, with any known key that is not retired.

        Raises :class:`~charter.errors.KeyUnavailable` for a retired or unknown key id (saying
        what to do) and :class:`~charter.errors.DecryptionFailed` when the wrapped bytes do not
        verify (the row was modified, or a key file replaced).
        """
        aead = self._keys.get(wrapped.key_id)
        if aead is None:
            raise self._unavailable(wrapped.key_id)
        data = wrapped.wrapped
        if len(data) != WRAPPED_BYTES:
            raise DecryptionFailed(
                f"The wrapped data key for master key {wrapped.key_id} is {len(data)} bytes, not {WRAPPED_BYTES}: "
                "the database row is damaged.",
                details={"reason": "bad_wrapped_key", "key_id": wrapped.key_id},
            )
        try:
            return aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _wrap_aad(wrapped.key_id))
        except InvalidTag:
            raise DecryptionFailed(
                f"The wrapped data key does not verify under master key {wrapped.key_id}: the database row "
                "was modified, or the key file was replaced.",
                details={"reason": "authentication", "key_id": wrapped.key_id},
            ) from None

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        """``wrapped`` moved to the active key (the data key, hence the artifact, is unchanged);
        returned as is when it is under the active key already."""
        if wrapped.key_id == self.active_key_id:
            return wrapped
        return self.wrap(self.unwrap(wrapped))

    # -- rotation -----------------------------------------------------------------------------------

    def rotate(self) -> str:
        """Make a new master key file, make it the active key, and return its id.

        Older keys stay readable until retired. When the active key comes from
        CHARTER_MASTER_KEY this refuses: there the variable decides, so save the current key
        as a file, then set the variable to a new key.
        """
        if self.env_key_id is not None:
            raise ConfigurationError(
                f"The active master key comes from {ENV_VARIABLE}, so it cannot be rotated here. To rotate: "
                f"save the current value, base64, as {self._dir}/{self.env_key_id}.key (mode 0600), then set "
                f"{ENV_VARIABLE} to a new key (base64 of 32 random bytes) and re-wrap the data keys."
            )
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_id, key = _write_new_key(self._dir)
        write_private_file(self._dir / "ACTIVE", (key_id + "\n").encode())
        self._keys[key_id] = AESGCM(key)
        self.active_key_id = key_id
        return key_id

    def retire(self, key_id: str) -> None:
        """Take a key out of use: its file moves to ``master/retired/`` and it unwraps nothing more.

        The file is kept (moving it back undoes the retirement); delete it yourself once
        backups no longer need it. Refuses the active key and the key from CHARTER_MASTER_KEY.
        Checking that no data key is still wrapped under it is the caller's job.
        """
        if key_id == self.active_key_id:
            raise ConfigurationError(
                f"Master key {key_id} is the active key and cannot be retired: rotate first, then re-wrap "
                "the data keys."
            )
        if key_id == self.env_key_id:
            raise ConfigurationError(f"Master key {key_id} comes from {ENV_VARIABLE}; unset the variable instead.")
        path = self._dir / f"{key_id}.key"
        if not _KEY_ID.fullmatch(key_id) or not path.is_file():
            raise KeyUnavailable(f"There is no master key {key_id!r} in {self._dir} to retire.")
        retired_dir = self._dir / "retired"
        retired_dir.mkdir(exist_ok=True, mode=0o700)
        os.replace(path, retired_dir / path.name)
        self._keys.pop(key_id, None)
        self.retired = tuple(sorted({*self.retired, key_id}))

    def _unavailable(self, key_id: str) -> KeyUnavailable:
        if key_id in self.retired:
            return KeyUnavailable(
                f"Master key {key_id} is retired ({self._dir}/retired/{key_id}.key), so data keys wrapped "
                f"under it cannot be unwrapped. Move the file back to {self._dir}/ to read them, then re-wrap "
                "them under the active key before retiring it again.",
                details={"key_id": key_id, "reason": "retired"},
            )
        return KeyUnavailable(
            f"Master key {key_id} is not known here: there is no {self._dir}/{key_id}.key and it is not the key "
            f"in {ENV_VARIABLE}. Restore that key file from a backup (mode 0600).",
            details={"key_id": key_id, "reason": "unknown"},
        )


def _wrap_aad(key_id: str) -> bytes:
    return b"charter/data-key/" + key_id.encode()


def _write_new_key(folder: Path) -> tuple[str, bytes]:
    key = secrets.token_bytes(MASTER_KEY_BYTES)
    key_id = master_key_id(key)
    write_private_file(folder / f"{key_id}.key", base64.b64encode(key) + b"\n")
    return key_id, key


def _decode_base64_key(text: bytes) -> bytes | None:
    """The key in the base64 (standard or URL-safe alphabet, padding optional) of 32 bytes; None otherwise."""
    text = text.strip().replace(b"-", b"+").replace(b"_", b"/")
    try:
        key = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == MASTER_KEY_BYTES else None


def _decode_key_file(raw: bytes) -> bytes | None:
    """A key file holds the base64 of the key, or its 32 raw bytes. 32 printable characters are taken for
    a passphrase typed into the file, not a raw key (a random key is printable with probability 1e-14)."""
    if len(raw) == MASTER_KEY_BYTES and not all(32 <= byte < 127 for byte in raw):
        return raw
    return _decode_base64_key(raw)


def _read_key_file(path: Path) -> tuple[str, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"Cannot read the master key file {path}: {exc.strerror or exc}.") from None
    key = _decode_key_file(raw)
    if key is None:
        raise ConfigurationError(
            f"The master key file {path} does not hold a 256-bit key (expected base64 of 32 bytes, or 32 raw bytes)."
        )
    key_id = master_key_id(key)
    if key_id != path.stem:
        raise ConfigurationError(
            f"The master key file {path} holds key {key_id}, not the key its name says: "
            f"rename it to {key_id}.key (and check ACTIVE)."
        )
    return key_id, key


def _parse_env_key(value: str) -> bytes:
    key = _decode_base64_key(value.encode())
    if key is None:
        raise ConfigurationError(
            f"{ENV_VARIABLE} must be the base64 of 32 random bytes "
            "(`python -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())'`)."
        )
    return key


def _read_active(folder: Path, keys: dict[str, AESGCM]) -> str:
    path = folder / "ACTIVE"
    try:
        active = path.read_text().strip()
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path} is missing: write the id of the master key to use for new data ({', '.join(sorted(keys))}) "
            "into it, or run `charter init`."
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if active not in keys:
        raise ConfigurationError(
            f"{path} names master key {active[:40]!r}, which is not in {folder} "
            f"(known: {', '.join(sorted(keys))}); restore its key file or correct ACTIVE."
        )
    return active
