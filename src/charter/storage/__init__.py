"""The artifact store: one interface, the backend chosen by the URI's scheme.

==========================================================  ==========================
URI                                                         backend
==========================================================  ==========================
``/var/lib/charter/artifacts``, ``artifacts`` (→ home)      :class:`FilesystemStore`
``file:///var/lib/charter/artifacts``                       :class:`FilesystemStore`
``s3://bucket/optional/prefix?endpoint_url=…&region=…``     :class:`S3Store`
==========================================================  ==========================

Credentials never go in a URI: S3 takes them from the standard AWS chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, an
instance role). See :class:`S3Location` for the S3 options.
"""

from __future__ import annotations

from pathlib import Path

from charter.errors import ConfigurationError
from charter.storage.base import ArtifactStore, validate_key
from charter.storage.filesystem import FilesystemStore, path_from_uri
from charter.storage.s3 import S3Location, S3Store

__all__ = ["SCHEMES", "ArtifactStore", "FilesystemStore", "S3Location", "S3Store", "open_store", "validate_key"]

#: URI schemes ``open_store`` understands (a plain path needs none).
SCHEMES = ("file", "s3")


def open_store(uri: str, *, home: Path | None = None) -> ArtifactStore:
    """The artifact store named by ``uri``; a relative path is taken relative to ``home``.

    Only parses: the network and the disk are first touched by the store's
    methods (call :meth:`ArtifactStore.check` at start-up to fail fast).
    """
    uri = uri.strip()
    if not uri:
        raise ConfigurationError("The artifact store URI is empty: give a folder or an s3://bucket/prefix URI")
    if "://" not in uri:
        return FilesystemStore(path_from_uri(uri, home=home))
    # Only the scheme is echoed: the rest may hold credentials someone should not have put there.
    scheme = uri.split("://", 1)[0].lower()
    if scheme == "file":
        return FilesystemStore(path_from_uri(uri))
    if scheme == "s3":
        return S3Store(S3Location.from_uri(uri))
    supported = ", ".join(f"{name}://" for name in SCHEMES)
    raise ConfigurationError(
        f"Unsupported artifact store scheme {scheme[:20]!r}: use a folder path, or one of {supported}"
    )
