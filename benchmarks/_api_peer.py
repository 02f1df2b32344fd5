"""The floors for ``bench_api.py``: uvicorn serving the same bytes as Charter, two ways.

``app`` is a bare ASGI app; ``fastapi_app`` goes through FastAPI with the
shape of Charter's routes (a sync generator dependency, then a sync route,
each in the thread pool). Both check the bearer token by comparing strings
(no JWT decoding, no database) and answer with the body Charter gave for the
same request, so the differences are the web framework's and Charter's own.
Started by ``bench_api.py`` as ``uvicorn _api_peer:app`` (or ``:fastapi_app``);
reads the token and the body from ``BENCH_PEER_TOKEN`` and ``BENCH_PEER_BODY``
(a file).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response

Message = MutableMapping[str, Any]

TOKEN = ("Bearer " + os.environ["BENCH_PEER_TOKEN"]).encode()
BODY = Path(os.environ["BENCH_PEER_BODY"]).read_bytes()
OK_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
DENIED = b'{"error":{"code":"not_authenticated"}}'


async def app(
    scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] != "http":
        return
    authorized = dict(scope["headers"]).get(b"authorization") == TOKEN
    status, body = (200, BODY) if authorized else (401, DENIED)
    headers = OK_HEADERS if authorized else [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _fastapi_app() -> Any:
    """The same answer through FastAPI with Charter's request shape: a sync generator dependency
    (Charter's ``Requires`` opens the session there) and a sync route, each run in the thread pool."""
    api = FastAPI()

    def caller(request: Request) -> Iterator[str]:
        if request.headers.get("authorization", "").encode() != TOKEN:
            raise HTTPException(401)
        yield "bench-user"

    @api.get("/{path:path}")
    def answer(path: str, who: str = Depends(caller)) -> Response:
        return Response(BODY, media_type="application/json")

    return api


fastapi_app = _fastapi_app()
