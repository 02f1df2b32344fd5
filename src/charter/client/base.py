"""What every part of the SDK shares: the transport, typed GET/POST, paging, closing."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import orjson

from charter.client._http import HttpClient, Transport, parse
from charter.pagination import Page

T = TypeVar("T")


Moment = datetime | str
"""A time: an aware ``datetime`` (a naive one is taken as UTC, as the server does) or ISO 8601 text."""
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def plain(value: Any) -> Any:
    """``value`` as plain JSON types: NumPy values, datetimes and dates (ISO 8601; naive times are UTC)."""
    return orjson.loads(orjson.dumps(value, option=_JSON_OPTIONS))


def iso(moment: Moment | None) -> str | None:
    """A time as the API takes it (text is passed on as it is)."""
    if moment is None or isinstance(moment, str):
        return moment
    return str(plain(moment))


def segment(value: str | int) -> str:
    """One URL path segment: names may contain characters that mean something in a URL."""
    return quote(str(value), safe="")


def query(**params: Any) -> dict[str, Any]:
    """Query parameters without the ``None`` ones, so the server's defaults apply."""
    return {key: value for key, value in params.items() if value is not None}


def paginate(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a keyset-paged listing, one page request at a time, following ``next_cursor``."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor


class ClientBase:
    """Holds the connection; the API groups (identity, audit) build on it."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        http: HttpClient | None = None,
    ) -> None:
        self._transport = Transport(url, token=token, api_key=api_key, timeout=timeout, http=http)

    @property
    def url(self) -> str:
        return self._transport.url

    @property
    def token(self) -> str | None:
        """The bearer token this client sends, if it signed in with one."""
        return self._transport.token

    def _get(self, schema: type[T], path: str, params: Mapping[str, Any] | None = None) -> T:
        data = self._transport.json("GET", path, params=dict(params or {}))
        return parse(schema, data, where=f"GET {path}")

    def _post(self, schema: type[T], path: str, body: Mapping[str, Any] | None = None) -> T:
        data = self._transport.json("POST", path, json=dict(body) if body is not None else None)
        return parse(schema, data, where=f"POST {path}")

    def _post_form(self, schema: type[T], path: str, form: Mapping[str, str]) -> T:
        data = self._transport.json("POST", path, data=dict(form))
        return parse(schema, data, where=f"POST {path}")

    def close(self) -> None:
        """Release the connection pool (a client passed in as ``http=`` is left open for its owner)."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
