"""``BulkRoute``: a route that takes a large JSON batch (decisions, metric points).

Reading, parsing and validating a batch of 10,000 items allocates hundreds of thousands of small
objects; with the cyclic garbage collector running, its passes over them cost twice what the
parsing does (see ``charter.gcpause``). This route class holds collection for the whole request.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from charter.gcpause import paused


class BulkRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            with paused():
                return await handler(request)

        return handle
