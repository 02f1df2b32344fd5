"""Report renderers: one :class:`~charter.reports.schemas.ReportDocument`, four formats.

Pure functions over the document (no database, no web), so every format of one report says the
same thing. The JSON format is the document itself in canonical form; its SHA-256
(:func:`digest`) is printed in the HTML and PDF and seeds the OSCAL UUIDs, so a reader can tie
any rendering back to the stored JSON.
"""

from __future__ import annotations

import hashlib

import orjson

from charter.errors import InvalidInput
from charter.gcpause import paused
from charter.reports.schemas import FORMATS, ReportDocument, ReportFormat

__all__ = ["EXTENSIONS", "MEDIA_TYPES", "canonical_json", "digest", "render"]

MEDIA_TYPES: dict[ReportFormat, str] = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "oscal": "application/oscal+json",
}
EXTENSIONS: dict[ReportFormat, str] = {
    "json": ".json",
    "html": ".html",
    "pdf": ".pdf",
    "oscal": ".oscal.json",
}


def canonical_json(document: ReportDocument) -> bytes:
    """The document as JSON with sorted keys and no insignificant whitespace, UTF-8.

    Deterministic: the same document always gives the same bytes (datetimes in ISO 8601 as
    pydantic writes them), so its digest identifies it.
    """
    return orjson.dumps(document.model_dump(mode="json", by_alias=True), option=orjson.OPT_SORT_KEYS)


def digest(document: ReportDocument) -> str:
    """SHA-256 (hex) of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


def render(document: ReportDocument, fmt: ReportFormat) -> bytes:
    """The document rendered in ``fmt``; an unknown format is :class:`~charter.errors.InvalidInput`.

    The garbage collector is paused meanwhile (:mod:`charter.gcpause`): a large report's rendering
    allocates millions of short-lived, acyclic containers, and each collection would walk the
    caller's whole heap (a server's, or the builder's ORM objects) again.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    with paused():
        return _render(document, fmt)


def _render(document: ReportDocument, fmt: ReportFormat) -> bytes:
    if fmt == "json":
        return canonical_json(document)
    if fmt == "html":
        from charter.reports.render.html import render_html

        return render_html(document)
    if fmt == "pdf":
        from charter.reports.render.pdf import render_pdf

        return render_pdf(document)
    if fmt == "oscal":
        from charter.reports.render.oscal import render_oscal

        return render_oscal(document)
    raise InvalidInput(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
