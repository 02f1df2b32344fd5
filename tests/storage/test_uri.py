"""Which store a URI names, and the URIs refused before anything is touched."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from charter.errors import ConfigurationError
from charter.storage import FilesystemStore, S3Location, S3Store, open_store


def filesystem_root(uri: str, *, home: Path | None = None) -> Path:
    store = open_store(uri, home=home)
    assert isinstance(store, FilesystemStore)
    return store.root


def s3_location(uri: str) -> S3Location:
    store = open_store(uri)
    assert isinstance(store, S3Store)
    return store.location


# -- filesystem -------------------------------------------------------------------------------------


def test_plain_absolute_path(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "artifacts"))
    assert isinstance(store, FilesystemStore)
    assert store.root == tmp_path / "artifacts"
    assert store.uri == (tmp_path / "artifacts").as_uri()


def test_file_uri(tmp_path: Path) -> None:
    assert filesystem_root(f"file://{tmp_path}/artifacts") == tmp_path / "artifacts"
    assert filesystem_root(f"file://localhost{tmp_path}/artifacts") == tmp_path / "artifacts"
    assert filesystem_root(f"FILE://{tmp_path}/with%20space") == tmp_path / "with space"


def test_relative_path_is_under_home_when_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert filesystem_root("artifacts", home=tmp_path) == tmp_path / "artifacts"
    assert filesystem_root("./a/b", home=tmp_path) == tmp_path / "a" / "b"
    # An absolute path ignores home.
    assert filesystem_root(str(tmp_path / "elsewhere"), home=tmp_path / "home") == tmp_path / "elsewhere"
    # Without home: the current directory.
    monkeypatch.chdir(tmp_path)
    assert filesystem_root("artifacts") == tmp_path / "artifacts"


def test_tilde_is_the_users_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert filesystem_root("~/artifacts", home=Path("/ignored")) == tmp_path / "artifacts"


@pytest.mark.parametrize("uri", ["file://relative/path", "file://host/abs/path", "file:///abs?x=1", "file:///abs#f"])
def test_malformed_file_uris_are_refused(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="file"):
        open_store(uri)


def test_empty_uri_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        open_store("  ")


# -- S3 ---------------------------------------------------------------------------------------------


def test_s3_bucket_only() -> None:
    location = s3_location("s3://charter-artifacts")
    assert location == S3Location(bucket="charter-artifacts")
    assert open_store("s3://charter-artifacts").uri == "s3://charter-artifacts"


def test_s3_with_prefix_and_options() -> None:
    uri = "s3://charter-artifacts/team/models/?endpoint_url=http://127.0.0.1:9000/&region=eu-west-1"
    location = s3_location(uri)
    assert location.bucket == "charter-artifacts"
    assert location.prefix == "team/models"
    assert location.endpoint_url == "http://127.0.0.1:9000"
    assert location.region == "eu-west-1"
    assert location.endpoint == "http://127.0.0.1:9000"
    # The canonical URI reads back as the same location.
    store = open_store(uri)
    assert store.uri == "s3://charter-artifacts/team/models?endpoint_url=http://127.0.0.1:9000&region=eu-west-1"
    assert s3_location(store.uri) == location


def test_s3_tuning_options() -> None:
    uri = "s3://bucket/p?addressing_style=virtual&connect_timeout=1.5&read_timeout=30&max_attempts=2"
    location = s3_location(uri)
    assert (location.addressing_style, location.connect_timeout, location.read_timeout, location.max_attempts) == (
        "virtual",
        1.5,
        30.0,
        2,
    )
    assert s3_location(open_store(uri).uri) == location


@pytest.mark.parametrize(
    "uri",
    [
        "s3://AKIAEXAMPLEKEY:wJalrXUtnFEMI-very-secret@charter-artifacts/prefix",
        "s3://AKIAEXAMPLEKEY@charter-artifacts",
        "s3://AKIAEXAMPLEKEY:wJalrXUtnFEMI/K7MDENG+bPxRfi@charter-artifacts/prefix",
        "s3://:wJalrXUtnFEMI-very-secret@charter-artifacts",
        "s3://charter-artifacts?endpoint_url=http://AKIAEXAMPLEKEY:wJalrXUtnFEMI-very-secret@127.0.0.1:9000",
    ],
)
def test_credentials_in_the_uri_are_refused_without_echoing_them(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="AWS_ACCESS_KEY_ID") as caught:
        open_store(uri)
    message = caught.value.message
    assert "credentials" in message
    assert "wJalrXUtnFEMI" not in message and "AKIAEXAMPLEKEY" not in message


def test_credential_options_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="Credentials never go in the URI") as caught:
        open_store("s3://charter-artifacts?aws_secret_access_key=wJalrXUtnFEMI")
    assert "wJalrXUtnFEMI" not in caught.value.message


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [
        ("s3://Charter-Artifacts", "Invalid S3 bucket name"),
        ("s3://ab", "Invalid S3 bucket name"),
        ("s3://", "Invalid S3 bucket name"),
        ("s3://localhost:9000/bucket", "endpoint_url"),
        ("s3://bucket/a/../b", "Invalid prefix"),
        ("s3://bucket/a//b", "Invalid prefix"),
        ("s3://bucket?endpoint=http://x", "Unknown option 'endpoint'"),
        ("s3://bucket?region=eu-west-1&region=us-east-1", "given twice"),
        ("s3://bucket?endpoint_url=127.0.0.1:9000", "Invalid endpoint_url"),
        ("s3://bucket?endpoint_url=ftp://host", "Invalid endpoint_url"),
        ("s3://bucket?addressing_style=sideways", "addressing_style"),
        ("s3://bucket?connect_timeout=0", "connect_timeout"),
        ("s3://bucket?read_timeout=soon", "read_timeout"),
        ("s3://bucket?max_attempts=1.5", "max_attempts"),
        ("s3://bucket?max_attempts=100", "max_attempts"),
        ("s3://bucket?region=eu west", "Invalid region"),
        ("s3://bucket#frag", "fragment"),
    ],
)
def test_bad_s3_uris_are_refused(uri: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        open_store(uri)


@pytest.mark.parametrize("uri", ["gs://bucket/prefix", "ftp://host/path", "azure://container", "http://host/x"])
def test_unknown_schemes_name_the_supported_ones(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="Unsupported artifact store scheme") as caught:
        open_store(uri)
    assert "file://" in caught.value.message and "s3://" in caught.value.message


def test_open_store_touches_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("open_store must not connect")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    for uri in ("s3://charter-artifacts/p", "s3://charter-artifacts?endpoint_url=http://127.0.0.1:9"):
        assert open_store(uri).uri.startswith("s3://charter-artifacts")
    assert attempts == []


def test_open_store_touches_no_disk(tmp_path: Path) -> None:
    open_store(str(tmp_path / "not-yet"))
    assert not (tmp_path / "not-yet").exists()
