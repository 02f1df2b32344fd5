"""The wire: send one request, turn every failure into the server's own error class.

The SDK talks to any object shaped like ``httpx.Client`` (``HttpClient``), so
tests can hand it the Starlette ``TestClient`` and run against the real app
in process. Nothing above this module sees a status code or a transport
exception: callers get parsed JSON or a ``CharterError``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Collection, Hashable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar, cast

import httpx
from pydantic import TypeAdapter, ValidationError

from charter import __version__
from charter.errors import (
    BadRequest,
    CharterError,
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
    error_class_for,
)

T = TypeVar("T")
REQUEST_ID_HEADER = "x-request-id"

# Used only when an answer carries no Charter error body (a proxy's page, a crashed worker).
_BY_STATUS: dict[int, type[CharterError]] = {
    400: BadRequest,
    401: NotAuthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
    502: ServiceUnavailable,
    503: ServiceUnavailable,
    504: ServiceUnavailable,
}


class HttpResponse(Protocol):
    """The parts of an ``httpx.Response`` the SDK reads."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    @property
    def content(self) -> bytes: ...

    def json(self, **kwargs: Any) -> Any: ...

    def iter_lines(self) -> Iterator[str]: ...

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]: ...


class HttpClient(Protocol):
    """An ``httpx.Client`` look-alike: ``httpx.Client`` itself, or Starlette's ``TestClient``."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> HttpResponse: ...

    def stream(self, method: str, url: str, *args: Any, **kwargs: Any) -> AbstractContextManager[HttpResponse]: ...

    def close(self) -> None: ...


def is_transport_error(exc: BaseException) -> bool:
    """A connection, timeout or protocol failure, from ``httpx`` or an API-compatible fork (``httpx2``)."""
    if isinstance(exc, httpx.TransportError):
        return True
    return any(cls.__name__ == "TransportError" for cls in type(exc).__mro__)


def request_id_of(error: CharterError) -> str | None:
    """The server's id for the failed request (quote it when reporting a problem)."""
    value = error.details.get("request_id")
    return value if isinstance(value, str) else None


def error_from_response(response: HttpResponse) -> CharterError:
    """Rebuild the server's error: the class named by its ``code``, its message and details.

    The request id is added to ``details["request_id"]`` so that it travels
    with the exception into logs and bug reports.
    """
    request_id = response.headers.get(REQUEST_ID_HEADER)
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        cls = error_class_for(error["code"])
        message = str(error.get("message") or cls.__name__)
        details = dict(error["details"]) if isinstance(error.get("details"), dict) else {}
        request_id = error.get("request_id") or request_id
    else:
        cls = _BY_STATUS.get(response.status_code, CharterError)
        snippet = " ".join(response.text.split())[:200]
        message = f"The server answered {response.status_code} without a Charter error: {snippet or '(empty)'}"
        details = {}
    if request_id:
        details["request_id"] = request_id
    if issubclass(cls, RateLimited):
        retry_after = details.pop("retry_after", None) or response.headers.get("retry-after")
        seconds = int(str(retry_after)) if str(retry_after).isdigit() else 1
        return cls(message, retry_after=seconds, details=details)
    return cls(message, details=details)


def _is_success(response: HttpResponse) -> bool:
    return 200 <= response.status_code < 300


class Transport:
    """One base URL, one set of credentials, one HTTP client; every call goes through ``send``."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        api_key: str | None,
        timeout: float,
        http: HttpClient | None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"The Charter URL must start with http:// or https://, not {url!r}.")
        self.url = url.rstrip("/")
        self.token = token
        self.api_key = api_key
        # A client we were given belongs to the caller: closing it is their decision.
        self._owns_http = http is None
        self.http: HttpClient = http if http is not None else httpx.Client(timeout=timeout)
        self._closed = False

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": f"charter-sdk/{__version__}"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.api_key is not None:
            headers["X-API-Key"] = self.api_key
        return headers

    def _unreachable(self, method: str, path: str, exc: BaseException) -> ServiceUnavailable:
        reason = str(exc) or type(exc).__name__
        return ServiceUnavailable(
            f"Could not reach Charter at {self.url} ({method} {path}): {reason}",
            details={"url": self.url, "reason": reason},
        )

    def send(self, method: str, path: str, *, also_ok: Collection[int] = (), **kwargs: Any) -> HttpResponse:
        """Send and return a 2xx response (or one in ``also_ok``); raise the server's error for anything else."""
        if self._closed:
            raise ServiceUnavailable("This Charter client is closed; create a new one.")
        try:
            response = self.http.request(method, self.url + path, headers=self.headers(), **kwargs)
        except Exception as exc:
            if is_transport_error(exc):
                raise self._unreachable(method, path, exc) from exc
            raise
        if not _is_success(response) and response.status_code not in also_ok:
            raise error_from_response(response)
        return response

    @contextlib.contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[HttpResponse]:
        """Like ``send``, but the body is read as it arrives (exports can be large)."""
        if self._closed:
            raise ServiceUnavailable("This Charter client is closed; create a new one.")
        try:
            with self.http.stream(method, self.url + path, headers=self.headers(), **kwargs) as response:
                if not _is_success(response):
                    read = getattr(response, "read", None)
                    if callable(read):  # a streamed error body must be read before it can be parsed
                        read()
                    raise error_from_response(response)
                yield response
        except CharterError:
            raise
        except Exception as exc:
            if is_transport_error(exc):
                raise self._unreachable(method, path, exc) from exc
            raise

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise CharterError(f"The answer to {method} {path} is not JSON; is {self.url} a Charter server?") from exc

    def close(self) -> None:
        if self._owns_http and not self._closed:
            self.http.close()
        self._closed = True


@functools.cache
def _adapter(schema: Hashable) -> TypeAdapter[Any]:
    return TypeAdapter(cast(Any, schema))


def parse(schema: type[T], data: Any, *, where: str) -> T:
    """Validate an answer into the server's own schema; a mismatch means client and server versions differ."""
    try:
        value: T = _adapter(cast(Hashable, schema)).validate_python(data)
    except ValidationError as exc:
        raise CharterError(
            f"The answer to {where} does not match this SDK's schema (is the server a different version?): {exc}"
        ) from exc
    return value
