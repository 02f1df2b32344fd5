"""Third-party browser code shipped inside its Python package, served by Charter (never from a CDN).

Plotly injects a ``<style>`` element with its base rules unless the page already holds an element
``#plotly.js-style-global.no-inline-styles``; injected styles break the dashboard's
Content-Security-Policy (``style-src 'self'``), so the same rules are served as a stylesheet,
``/static/vendor/plotly.css``, extracted from the very bundle that is served (they always match).
The bundled MapLibre does the same with its own stylesheet unless an element with a known id is
present: the page carries empty elements with those ids (``plotly_style_guards``).
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

PLOTLY = ("plotly", "package_data/plotly.min.js")
# In the bundle: {"X .main-svg":"position:absolute;...", ...} with X the plot's selector, Y the notifier's.
_RULES_START = re.compile(r'\{"X,X div":')
_PAIR = re.compile(r'\s*,?\s*"((?:[^"\\]|\\.)*)":(?:\'((?:[^\'\\]|\\.)*)\'|"((?:[^"\\]|\\.)*)")')
_PLOT, _NOTIFIER = ".js-plotly-plot .plotly", ".plotly-notifier"
# Bundled libraries (MapLibre) that add their stylesheet unless an element with this id exists.
_GUARDED_STYLE = re.compile(r'getElementById\("([0-9a-f]{64})"\)\)\{var \w=document\.createElement\("style"\)')


def _path(package: str, relative: str) -> Path:
    return Path(str(resources.files(package) / relative))


@functools.cache
def _plotly_styles() -> tuple[str, tuple[str, ...]]:
    """Read the bundle once: its base rules as CSS, and the ids that guard its other style injections."""
    text = _path(*PLOTLY).read_text(encoding="utf-8")
    rules = []
    start = _RULES_START.search(text)
    if start is not None:  # a future bundle that stops holding them gets an empty sheet
        at = start.start() + 1
        while (match := _PAIR.match(text, at)) is not None:
            selector = match.group(1).replace("X", _PLOT).replace("Y", _NOTIFIER)
            body = match.group(2) if match.group(2) is not None else match.group(3)
            rules.append(f"{selector} {{{body}}}")
            at = match.end()
    css = "\n".join(rules) + "\n" if rules else ""
    return css, tuple(_GUARDED_STYLE.findall(text))


def plotly_css() -> str:
    """Plotly's base style rules as CSS."""
    return _plotly_styles()[0]


def plotly_style_guards() -> tuple[str, ...]:
    """Ids whose presence in the page stops the bundle injecting ``<style>`` for map styles Charter never uses."""
    return _plotly_styles()[1]


class VendorFiles:
    """A tiny ASGI app for ``/static/vendor/<name>``: the listed files and nothing else, cached for a day."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"].rsplit("/", 1)[-1]
        response: Response
        headers = {"Cache-Control": "max-age=86400"}
        if scope["method"] not in ("GET", "HEAD"):
            response = Response("Not found", status_code=404, media_type="text/plain")
        elif name == "plotly.min.js":
            response = FileResponse(_path(*PLOTLY), media_type="text/javascript", headers=headers)
        elif name == "plotly.css":
            response = Response(plotly_css(), media_type="text/css", headers=headers)
        else:
            response = Response("Not found", status_code=404, media_type="text/plain")
        await response(scope, receive, send)
