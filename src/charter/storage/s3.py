"""Artifacts in an S3-compatible bucket: ``s3://bucket/prefix`` → ``prefix/ab/cd/abcd...``.

Small blobs (under one part) go up in one ``PutObject``; bigger ones as a
multipart upload, one part at a time, so memory stays at one part whatever
the blob size. S3 makes an object visible only when the upload completes, so
readers never see half a blob; on any failure the upload is aborted.

Credentials come from the standard AWS chain (environment, profile, instance
role), never from the URI, and never appear in an error message.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, NoReturn, cast, get_args
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import boto3.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from charter.errors import CharterError, ConfigurationError, InvalidInput, NotFound, StorageError
from charter.storage.base import READ_CHUNK, SizeCheck, blob_name, key_from_name, read_chunks, validate_key

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

__all__ = ["LIST_PAGE_SIZE", "PART_SIZE", "S3Location", "S3Store"]

logger = logging.getLogger(__name__)

#: Multipart part size. S3 needs >= 5 MiB for every part but the last and allows 10,000 parts.
PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 10_000
#: Keys per list request (S3's maximum).
LIST_PAGE_SIZE = 1000
_MIB = 1024 * 1024

AddressingStyle = Literal["auto", "path", "virtual"]
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REGION = re.compile(r"[A-Za-z0-9_-]{1,64}")
_OPTIONS = ("endpoint_url", "region", "addressing_style", "connect_timeout", "read_timeout", "max_attempts")
_CREDENTIALS_HELP = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or use an instance/task role) "
    "in the environment of the Charter process"
)
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "AllAccessDisabled",
        "AccountProblem",
    }
)


@dataclass(frozen=True, kw_only=True)
class S3Location:
    """Where and how to reach a bucket; parsed from, and printed as, an ``s3://`` URI.

    ``s3://bucket/optional/prefix?endpoint_url=http://127.0.0.1:9000&region=us-east-1``

    Options: ``endpoint_url`` (S3-compatible service; default AWS),
    ``region``, ``addressing_style`` (``path`` / ``virtual`` / ``auto``;
    default ``path`` with an ``endpoint_url``, as MinIO and Ceph expect, else
    ``auto``), ``connect_timeout`` and ``read_timeout`` (seconds, default 5
    and 60), ``max_attempts`` (per request, retries included; default 5).
    """

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: AddressingStyle | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_attempts: int = 5

    @classmethod
    def from_uri(cls, uri: str) -> S3Location:
        # Look for credentials before anything echoes the URI back. Not just in the authority:
        # AWS secret keys contain "/", so "s3://id:se/cret@bucket" splits inside the secret.
        rest = uri.split("://", 1)[1] if "://" in uri else uri
        if "@" in re.split(r"[?#]", rest, maxsplit=1)[0]:
            raise ConfigurationError(
                "The artifact store URI must not contain credentials (nor an '@' in the bucket or prefix): "
                f"remove them from the URI and {_CREDENTIALS_HELP}"
            )
        try:
            parts = urlsplit(uri)
            query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        except ValueError as exc:
            raise ConfigurationError(f"Artifact store URI {uri!r} is malformed: {exc}") from None
        if parts.scheme.lower() != "s3":
            raise ConfigurationError(f"Artifact store URI {uri!r} is not an s3:// URI")
        if parts.fragment:
            raise ConfigurationError(f"Artifact store URI {uri!r}: remove the #fragment")
        bucket = parts.netloc
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            hint = " (the endpoint goes in ?endpoint_url=)" if ":" in bucket else ""
            raise ConfigurationError(
                f"Invalid S3 bucket name {bucket!r} in the artifact store URI{hint}: use 3-63 lowercase "
                "letters, digits, dots and hyphens, e.g. s3://charter-artifacts/prefix"
            )
        options: dict[str, str] = {}
        for name, value in query:
            if name not in _OPTIONS:
                raise ConfigurationError(
                    f"Unknown option {name!r} in the artifact store URI; supported: {', '.join(_OPTIONS)}"
                    + (f". Credentials never go in the URI: {_CREDENTIALS_HELP}" if "secret" in name.lower() else "")
                )
            if name in options:
                raise ConfigurationError(f"Option {name!r} is given twice in the artifact store URI")
            options[name] = value
        return cls(bucket=bucket, prefix=_prefix(parts.path), **_parse_options(options))

    def to_uri(self) -> str:
        uri = f"s3://{self.bucket}" + (f"/{quote(self.prefix)}" if self.prefix else "")
        options: dict[str, str] = {}
        if self.endpoint_url is not None:
            options["endpoint_url"] = self.endpoint_url
        if self.region is not None:
            options["region"] = self.region
        if self.addressing_style is not None:
            options["addressing_style"] = self.addressing_style
        defaults = S3Location(bucket=self.bucket)
        for name in ("connect_timeout", "read_timeout", "max_attempts"):
            if getattr(self, name) != getattr(defaults, name):
                options[name] = f"{getattr(self, name):g}"
        return uri + ("?" + urlencode(options, safe=":/") if options else "")

    @property
    def endpoint(self) -> str:
        """How error messages name the service."""
        if self.endpoint_url is not None:
            return self.endpoint_url
        return f"AWS S3 ({self.region})" if self.region else "AWS S3"


def _prefix(path: str) -> str:
    prefix = unquote(path).strip("/")
    if not prefix:
        return ""
    segments = prefix.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise ConfigurationError(f"Invalid prefix {prefix!r} in the artifact store URI: no empty, '.' or '..' segments")
    return prefix


def _parse_options(options: dict[str, str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    if "endpoint_url" in options:
        endpoint = options["endpoint_url"]
        try:
            parts = urlsplit(endpoint)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:
            valid = False
        if "@" in endpoint:
            raise ConfigurationError(f"endpoint_url must not contain credentials: {_CREDENTIALS_HELP}")
        if not valid or parts.query or parts.fragment:
            raise ConfigurationError(
                f"Invalid endpoint_url {endpoint!r} in the artifact store URI: expected http(s)://host[:port], "
                "e.g. endpoint_url=http://127.0.0.1:9000"
            )
        parsed["endpoint_url"] = endpoint.rstrip("/")
    if "region" in options:
        if not _REGION.fullmatch(options["region"]):
            raise ConfigurationError(f"Invalid region {options['region']!r} in the artifact store URI")
        parsed["region"] = options["region"]
    if "addressing_style" in options:
        styles = get_args(AddressingStyle)
        if options["addressing_style"] not in styles:
            raise ConfigurationError(f"addressing_style in the artifact store URI must be one of {', '.join(styles)}")
        parsed["addressing_style"] = options["addressing_style"]
    for name in ("connect_timeout", "read_timeout"):
        if name in options:
            parsed[name] = _number(name, options[name], float, 0.01, 3600.0)
    if "max_attempts" in options:
        parsed["max_attempts"] = _number("max_attempts", options["max_attempts"], int, 1, 20)
    return parsed


def _number(name: str, text: str, kind: type[float] | type[int], low: float, high: float) -> float:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or not low <= value <= high:
        raise ConfigurationError(f"{name} in the artifact store URI must be a number from {low:g} to {high:g}")
    return value


class S3Store:
    """An :class:`~charter.storage.ArtifactStore` in an S3-compatible bucket.

    The boto3 client is made on first use, so constructing a store never
    touches the network (not even the instance-metadata credential lookup).
    """

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self.uri = location.to_uri()
        self._base = f"{location.prefix}/" if location.prefix else ""
        self._client: S3Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r})"

    @property
    def client(self) -> S3Client:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> S3Client:
        location = self.location
        style = location.addressing_style or ("path" if location.endpoint_url else "auto")
        config = Config(
            connect_timeout=location.connect_timeout,
            read_timeout=location.read_timeout,
            retries={"mode": "standard", "max_attempts": location.max_attempts},
            s3={"addressing_style": style},
            # Checksums only where S3 requires them: many S3-compatible services reject the
            # flexible checksums botocore sends by default since 1.36. Blobs are authenticated
            # by the caller's encryption, so integrity does not rest on these.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            user_agent_extra="charter",
        )
        with self._errors("connect"):
            # A session per store: the module-level default session is shared global state.
            return boto3.session.Session().client(
                "s3", endpoint_url=location.endpoint_url, region_name=location.region, config=config
            )

    def _name(self, key: str) -> str:
        return self._base + blob_name(validate_key(key))

    # -- writing ------------------------------------------------------------------------------------

    def put(self, key: str, src: BinaryIO, *, size: int | None = None) -> int:
        name = self._name(key)
        counter = SizeCheck(key, size)
        part_size = PART_SIZE
        if size is not None and size > PART_SIZE * MAX_PARTS:
            part_size = math.ceil(size / MAX_PARTS / _MIB) * _MIB
        chunks = read_chunks(src, part_size)
        first = next(chunks, b"")
        counter.add(len(first))
        if len(first) < part_size:
            counter.finish()
            with _body(first) as body, self._errors(f"store artifact {key}", key=key):
                self.client.put_object(Bucket=self.location.bucket, Key=name, Body=body)
            return counter.total

        client = self.client
        with self._errors(f"store artifact {key}", key=key):
            upload_id = client.create_multipart_upload(Bucket=self.location.bucket, Key=name)["UploadId"]
        try:
            parts = [self._upload_part(key, name, upload_id, 1, first)]
            del first
            # Not enumerate(): its cached (index, item) tuple would keep the previous part alive
            # while the next one is read.
            number = 1
            for chunk in chunks:
                number += 1
                counter.add(len(chunk))
                if number > MAX_PARTS:
                    raise InvalidInput(
                        f"Artifact {key} is larger than {MAX_PARTS} parts of {part_size} bytes: pass size= to put() "
                        "so the parts are sized for it",
                        details={"field": "size"},
                    )
                parts.append(self._upload_part(key, name, upload_id, number, chunk))
                del chunk  # before the generator reads the next part
            counter.finish()
            with self._errors(f"store artifact {key}", key=key):
                client.complete_multipart_upload(
                    Bucket=self.location.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            self._abort(name, upload_id)
            raise
        return counter.total

    def _upload_part(self, key: str, name: str, upload_id: str, number: int, body: bytes) -> CompletedPartTypeDef:
        with _body(body) as stream, self._errors(f"store artifact {key}", key=key):
            response = self.client.upload_part(
                Bucket=self.location.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=stream
            )
        return {"ETag": response["ETag"], "PartNumber": number}

    def _abort(self, name: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.location.bucket, Key=name, UploadId=upload_id)
        except (BotoCoreError, ClientError) as exc:
            # Never hide the original failure; the parts cost storage until a lifecycle rule
            # (AbortIncompleteMultipartUpload) removes them.
            logger.warning(
                "Could not abort the multipart upload of %s in %s (%s); add an AbortIncompleteMultipartUpload "
                "lifecycle rule to the bucket to reclaim its parts",
                name,
                self.location.bucket,
                type(exc).__name__,
            )

    def delete(self, key: str) -> None:
        name = self._name(key)
        with self._errors(f"delete artifact {key}", key=key):
            self.client.delete_object(Bucket=self.location.bucket, Key=name)

    # -- reading ------------------------------------------------------------------------------------

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        name = self._name(key)
        with self._errors(f"read artifact {key}", key=key):
            body = self.client.get_object(Bucket=self.location.bucket, Key=name)["Body"]
        return io.BufferedReader(_BodyReader(body, self, key), buffer_size=READ_CHUNK)

    def exists(self, key: str) -> bool:
        # HEAD answers a bare 404 for a missing bucket too, so this is False then; check() tells them apart.
        try:
            self.size(key)
        except NotFound:
            return False
        return True

    def size(self, key: str) -> int:
        name = self._name(key)
        with self._errors(f"read artifact {key}", key=key):
            return self.client.head_object(Bucket=self.location.bucket, Key=name)["ContentLength"]

    def keys(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors("list artifacts"):
            pages = paginator.paginate(
                Bucket=self.location.bucket, Prefix=self._base, PaginationConfig={"PageSize": LIST_PAGE_SIZE}
            )
            for page in pages:
                for item in page.get("Contents", []):
                    # Skips objects outside our layout (a stray file someone uploaded next to ours).
                    found = key_from_name(item["Key"][len(self._base) :])
                    if found is not None:
                        yield found

    # -- health -------------------------------------------------------------------------------------

    def check(self) -> None:
        with self._errors("reach the bucket"):
            self.client.head_bucket(Bucket=self.location.bucket)

    # -- errors -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, action: str, *, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            self._raise_client_error(exc, action, key)
        except BotoCoreError as exc:
            raise self._botocore_error(exc, action) from exc

    def _raise_client_error(self, exc: ClientError, action: str, key: str | None) -> NoReturn:
        # Only the error code is echoed: the server's message is not ours to vouch for.
        code = str(exc.response.get("Error", {}).get("Code", "unknown"))
        bucket, endpoint = self.location.bucket, self.location.endpoint
        error: CharterError
        if code in _MISSING and key is not None:
            raise NotFound(f"Artifact {key} not found in {self.uri}", details={"key": key}) from None
        if code == "NoSuchBucket" or code in _MISSING:
            error = StorageError(
                f"S3 bucket {bucket!r} does not exist at {endpoint}: create it (e.g. `aws s3 mb s3://{bucket}`) "
                "or fix the bucket name in the artifact store URI"
            )
        elif code in _DENIED:
            error = StorageError(
                f"Access to S3 bucket {bucket!r} at {endpoint} was denied ({code}) trying to {action}: check the "
                f"credentials ({_CREDENTIALS_HELP}) and that the bucket policy allows Charter to use the bucket"
            )
        else:
            error = StorageError(f"S3 at {endpoint} failed to {action} in bucket {bucket!r} ({code})")
        raise error from exc

    def _botocore_error(self, exc: BotoCoreError, action: str) -> StorageError:
        endpoint = self.location.endpoint
        if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
            return StorageError(f"No usable AWS credentials to {action} at {endpoint}: {_CREDENTIALS_HELP}")
        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
            return StorageError(
                f"Cannot reach the S3 endpoint {endpoint} to {action}: check endpoint_url in the artifact store "
                "URI, the network, and that the service is running"
            )
        if isinstance(exc, ReadTimeoutError):
            return StorageError(
                f"The S3 endpoint {endpoint} did not answer in time to {action}; raise read_timeout in the "
                "artifact store URI if it is just slow"
            )
        if isinstance(exc, NoRegionError):
            return StorageError(f"No AWS region for {endpoint}: add ?region= to the artifact store URI")
        return StorageError(f"S3 request to {action} at {endpoint} failed ({type(exc).__name__})")


def _body(data: bytes) -> io.BytesIO:
    """A request body that holds no second copy of ``data``, and lets go of it when closed.

    Not bytes: botocore copies a bytes body into the request head before sending it (two parts
    in memory) and sends it without waiting for 100-continue. ``BytesIO`` shares the bytes'
    buffer; closing it releases the part whatever botocore still references after the request.
    """
    return io.BytesIO(data)


class _BodyReader(io.RawIOBase):
    """A get_object body as a raw stream, so ``io.BufferedReader`` gives it ``read``/``readinto``/``readline``."""

    def __init__(self, body: Any, store: S3Store, key: str) -> None:
        self._body = body
        self._store = store
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        with self._store._errors(f"read artifact {self._key}", key=self._key):
            data = cast(bytes, self._body.read(len(view)))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
