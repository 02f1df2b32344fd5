"""The master key ring: key files, the active key, wrapping, rotation without re-encryption, retirement."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path

import pytest

from charter.compute.crypto.envelope import decrypt_bytes, encrypt_bytes, new_data_key
from charter.errors import ConfigurationError, DecryptionFailed, KeyUnavailable
from charter.security.masterkeys import MasterKeyRing, WrappedKey, master_key_id


def key_files(keys_dir: Path) -> list[str]:
    return sorted(p.name for p in (keys_dir / "master").glob("*.key"))


def env_value(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_create_makes_one_private_key_and_marks_it_active(tmp_path: Path) -> None:
    ring = MasterKeyRing.create(tmp_path)
    assert key_files(tmp_path) == [f"{ring.active_key_id}.key"]
    path = tmp_path / "master" / f"{ring.active_key_id}.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "master").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "master" / "ACTIVE").read_text().strip() == ring.active_key_id
    key = base64.b64decode(path.read_bytes())
    assert len(key) == 32
    assert ring.active_key_id == master_key_id(key) == hashlib.sha256(b"charter-master-key-id" + key).hexdigest()[:16]
    assert ring.key_ids == (ring.active_key_id,)
    assert ring.retired == ()


def test_create_is_idempotent(tmp_path: Path) -> None:
    first = MasterKeyRing.create(tmp_path)
    second = MasterKeyRing.create(tmp_path)
    assert second.active_key_id == first.active_key_id
    assert len(key_files(tmp_path)) == 1


def test_create_finishes_a_first_run_interrupted_before_active(tmp_path: Path) -> None:
    ring = MasterKeyRing.create(tmp_path)
    (tmp_path / "master" / "ACTIVE").unlink()
    with pytest.raises(ConfigurationError, match="ACTIVE is missing"):
        MasterKeyRing.load(tmp_path)
    assert MasterKeyRing.create(tmp_path).active_key_id == ring.active_key_id


def test_load_without_any_key_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"No master key: run `charter init`.*CHARTER_MASTER_KEY"):
        MasterKeyRing.load(tmp_path)


def test_wrap_and_unwrap(tmp_path: Path) -> None:
    ring = MasterKeyRing.create(tmp_path)
    data_key = new_data_key()
    wrapped = ring.wrap(data_key)
    assert wrapped.key_id == ring.active_key_id
    assert len(wrapped.wrapped) == 12 + 32 + 16
    assert data_key not in wrapped.wrapped
    assert ring.wrap(data_key).wrapped != wrapped.wrapped  # a fresh nonce each time
    assert MasterKeyRing.load(tmp_path).unwrap(wrapped) == data_key


def test_wrap_refuses_a_data_key_of_the_wrong_size(tmp_path: Path) -> None:
    ring = MasterKeyRing.create(tmp_path)
    with pytest.raises(ValueError, match="32 bytes, got 16"):
        ring.wrap(b"k" * 16)


def test_a_modified_wrapped_key_fails(tmp_path: Path) -> None:
    ring = MasterKeyRing.create(tmp_path)
    wrapped = ring.wrap(new_data_key())
    damaged = bytearray(wrapped.wrapped)
    damaged[20] ^= 1
    with pytest.raises(DecryptionFailed, match=f"does not verify under master key {ring.active_key_id}"):
        ring.unwrap(WrappedKey(wrapped.key_id, bytes(damaged)))
    with pytest.raises(DecryptionFailed, match="60"):
        ring.unwrap(WrappedKey(wrapped.key_id, wrapped.wrapped[:-1]))


def test_a_wrapped_key_relabelled_with_another_key_id_does_not_unwrap(tmp_path: Path) -> None:
    ring = MasterKeyRing.create(tmp_path)
    old = ring.active_key_id
    wrapped = ring.wrap(new_data_key())
    ring.rotate()
    with pytest.raises(DecryptionFailed):
        ring.unwrap(WrappedKey(ring.active_key_id, wrapped.wrapped))
    assert wrapped.key_id == old


def test_rotation_keeps_old_keys_readable_and_rewrap_needs_no_reencryption(tmp_path: Path) -> None:
    ring = MasterKeyRing.create(tmp_path)
    first = ring.active_key_id
    data_key = new_data_key()
    blob = encrypt_bytes(b"model weights", data_key, aad=b"sha")
    row = ring.wrap(data_key)

    second = ring.rotate()
    assert second != first
    assert ring.active_key_id == second
    assert (tmp_path / "master" / "ACTIVE").read_text().strip() == second
    assert (tmp_path / "master" / f"{second}.key").stat().st_mode & 0o777 == 0o600
    assert set(ring.key_ids) == {first, second}
    assert ring.unwrap(row) == data_key  # the old key still reads

    moved = ring.rewrap(row)
    assert moved.key_id == second
    assert ring.rewrap(moved) is moved  # already under the active key: nothing to do
    ring.retire(first)
    reloaded = MasterKeyRing.load(tmp_path)
    assert reloaded.active_key_id == second
    assert decrypt_bytes(blob, reloaded.unwrap(moved), aad=b"sha") == b"model weights"  # same blob, untouched


def test_retire_moves_the_file_and_refuses_to_unwrap_with_it(tmp_path: Path) -> None:
    ring = MasterKeyRing.create(tmp_path)
    first = ring.active_key_id
    row = ring.wrap(new_data_key())
    ring.rotate()
    ring.retire(first)
    assert ring.retired == (first,)
    assert first not in ring.key_ids
    assert (tmp_path / "master" / "retired" / f"{first}.key").is_file()
    assert f"{first}.key" not in key_files(tmp_path)
    for current in (ring, MasterKeyRing.load(tmp_path)):
        with pytest.raises(KeyUnavailable, match=f"Master key {first} is retired.*Move the file back") as caught:
            current.unwrap(row)
        assert caught.value.details == {"key_id": first, "reason": "retired"}
    # Recoverable: moving the file back makes it readable again.
    (tmp_path / "master" / "retired" / f"{first}.key").rename(tmp_path / "master" / f"{first}.key")
    assert len(MasterKeyRing.load(tmp_path).unwrap(row)) == 32


def test_retire_refuses_the_active_key_and_unknown_keys(tmp_path: Path) -> None:
    ring = MasterKeyRing.create(tmp_path)
    with pytest.raises(ConfigurationError, match="is the active key and cannot be retired"):
        ring.retire(ring.active_key_id)
    with pytest.raises(KeyUnavailable, match="no master key '0123456789abcdef'"):
        ring.retire("0123456789abcdef")
    with pytest.raises(KeyUnavailable):
        ring.retire("../../secret")
    assert key_files(tmp_path) == [f"{ring.active_key_id}.key"]


def test_an_unknown_key_id_names_the_key_and_the_remedy(tmp_path: Path) -> None:
    ring = MasterKeyRing.create(tmp_path)
    with pytest.raises(KeyUnavailable, match=r"Master key 0123456789abcdef is not known here.*Restore") as caught:
        ring.unwrap(WrappedKey("0123456789abcdef", b"\x00" * 60))
    assert caught.value.code == "key_unavailable"
    assert isinstance(caught.value, ConfigurationError)


def test_the_environment_key_is_active_and_files_stay_readable(tmp_path: Path) -> None:
    files = MasterKeyRing.create(tmp_path)
    from_file = files.wrap(data_key := new_data_key())
    env_key = secrets.token_bytes(32)
    ring = MasterKeyRing.load(tmp_path, env_key=env_value(env_key))
    assert ring.active_key_id == master_key_id(env_key) == ring.env_key_id
    assert set(ring.key_ids) == {files.active_key_id, ring.active_key_id}
    assert ring.unwrap(from_file) == data_key
    moved = ring.rewrap(from_file)
    assert moved.key_id == ring.active_key_id
    # The wrapped key needs the environment key; the files alone cannot read it.
    with pytest.raises(KeyUnavailable, match="not known"):
        MasterKeyRing.load(tmp_path).unwrap(moved)
    assert MasterKeyRing.load(tmp_path, env_key=env_value(env_key)).unwrap(moved) == data_key


def test_the_environment_key_alone_needs_no_files(tmp_path: Path) -> None:
    env_key = secrets.token_bytes(32)
    urlsafe_unpadded = base64.urlsafe_b64encode(env_key).decode().rstrip("=")
    ring = MasterKeyRing.create(tmp_path, env_key=urlsafe_unpadded)
    assert ring.active_key_id == master_key_id(env_key)
    assert not (tmp_path / "master").exists()
    data_key = new_data_key()
    assert ring.unwrap(ring.wrap(data_key)) == data_key


def test_rotation_and_retirement_refuse_the_environment_key(tmp_path: Path) -> None:
    ring = MasterKeyRing.load(tmp_path, env_key=env_value(secrets.token_bytes(32)))
    with pytest.raises(ConfigurationError, match="comes from CHARTER_MASTER_KEY, so it cannot be rotated here"):
        ring.rotate()
    with pytest.raises(ConfigurationError):
        ring.retire(ring.active_key_id)


@pytest.mark.parametrize(
    "value",
    ["", "not base64 !!", base64.b64encode(b"k" * 16).decode(), base64.b64encode(b"k" * 33).decode(), "x" * 32],
    ids=["empty", "not base64", "16 bytes", "33 bytes", "32-character passphrase"],
)
def test_an_invalid_environment_key_is_refused_without_echoing_it(tmp_path: Path, value: str) -> None:
    MasterKeyRing.create(tmp_path)
    if not value:
        # An empty variable means "not set": the files decide.
        assert MasterKeyRing.load(tmp_path, env_key=value).env_key_id is None
        return
    with pytest.raises(ConfigurationError, match="CHARTER_MASTER_KEY must be the base64 of 32 random bytes") as caught:
        MasterKeyRing.load(tmp_path, env_key=value)
    assert value not in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"too short", base64.b64encode(b"k" * 31), base64.b64encode(b"k" * 48), b"p" * 32, b"\xff" * 31],
    ids=["empty", "text", "31 bytes", "48 bytes", "32-character passphrase", "31 raw bytes"],
)
def test_a_bad_key_file_names_the_file(tmp_path: Path, content: bytes) -> None:
    MasterKeyRing.create(tmp_path)
    path = tmp_path / "master" / "0123456789abcdef.key"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match="does not hold a 256-bit key") as caught:
        MasterKeyRing.load(tmp_path)
    assert str(path) in caught.value.message


def test_an_unreadable_key_file_names_the_file(tmp_path: Path) -> None:
    MasterKeyRing.create(tmp_path)
    path = tmp_path / "master" / "0123456789abcdef.key"
    path.mkdir()  # reading it fails (even as root, which chmod 000 would not stop)
    with pytest.raises(ConfigurationError, match=f"Cannot read the master key file {path}"):
        MasterKeyRing.load(tmp_path)


def test_a_key_file_named_after_another_key_is_refused(tmp_path: Path) -> None:
    MasterKeyRing.create(tmp_path)
    key = secrets.token_bytes(32)
    (tmp_path / "master" / "0123456789abcdef.key").write_bytes(base64.b64encode(key))
    with pytest.raises(ConfigurationError, match=f"holds key {master_key_id(key)}, not the key its name says"):
        MasterKeyRing.load(tmp_path)


def test_raw_and_urlsafe_key_files_are_accepted(tmp_path: Path) -> None:
    ring = MasterKeyRing.create(tmp_path)
    raw = b"\x00\xff" + secrets.token_bytes(30)
    (tmp_path / "master" / f"{master_key_id(raw)}.key").write_bytes(raw)
    urlsafe = secrets.token_bytes(32)
    (tmp_path / "master" / f"{master_key_id(urlsafe)}.key").write_bytes(base64.urlsafe_b64encode(urlsafe) + b"\n")
    loaded = MasterKeyRing.load(tmp_path)
    assert set(loaded.key_ids) == {ring.active_key_id, master_key_id(raw), master_key_id(urlsafe)}


def test_active_naming_a_missing_key_is_refused(tmp_path: Path) -> None:
    MasterKeyRing.create(tmp_path)
    (tmp_path / "master" / "ACTIVE").write_text("0123456789abcdef\n")
    with pytest.raises(ConfigurationError, match="ACTIVE names master key '0123456789abcdef', which is not in"):
        MasterKeyRing.load(tmp_path)


def test_no_key_material_in_repr_or_messages(tmp_path: Path) -> None:
    ring = MasterKeyRing.create(tmp_path)
    key_text = (tmp_path / "master" / f"{ring.active_key_id}.key").read_bytes().strip().decode()
    key = base64.b64decode(key_text)
    wrapped = ring.wrap(new_data_key())
    shown = repr(ring) + repr(wrapped) + str(vars(ring))
    assert key_text not in shown
    assert key.hex() not in shown
    assert wrapped.wrapped.hex() not in repr(wrapped)
    assert ring.active_key_id in repr(ring)
