"""Compliance reports over ``/api/v1/reports``: generate, list, read, download, verify a file."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from charter.client.base import ClientBase, Moment, iso, paginate, query, segment
from charter.errors import SignatureInvalid
from charter.pagination import Page
from charter.reports.schemas import ReportFormat, ReportKind, ReportRead, ReportVerification

_BASE = "/api/v1/reports"


class ReportsAPI(ClientBase):
    def create_report(
        self,
        *,
        kind: ReportKind = "model",
        model: str | int | None = None,
        version: str | None = None,
        team: str | None = None,
        start: Moment | None = None,
        end: Moment | None = None,
        frameworks: Sequence[str] | None = None,
        formats: Sequence[ReportFormat] | None = None,
    ) -> ReportRead:
        """Build, render (JSON, HTML, PDF, OSCAL), store and audit a model or organisation report."""
        body = {
            "kind": kind,
            "model": None if model is None else str(model),
            "version": version,
            "team": team,
            "start": iso(start),
            "end": iso(end),
            "frameworks": list(frameworks) if frameworks is not None else None,
            "formats": list(formats) if formats is not None else None,
        }
        return self._post(ReportRead, _BASE, query(**body))

    def generate_report(
        self,
        model_id: str | int | None,
        time_range: tuple[Moment, Moment] | None = None,
        *,
        frameworks: Sequence[str] | None = None,
        formats: Sequence[ReportFormat] | None = None,
    ) -> ReportRead:
        """The framework's ``generate_report``: a model's report for ``time_range`` (start, end), or the
        organisation's when ``model_id`` is None (default period: the last 90 days)."""
        start, end = time_range if time_range is not None else (None, None)
        return self.create_report(
            kind="model" if model_id is not None else "organisation",
            model=model_id,
            start=start,
            end=end,
            frameworks=frameworks,
            formats=formats,
        )

    def reports_page(
        self,
        *,
        model: str | None = None,
        kind: ReportKind | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[ReportRead]:
        return self._get(Page[ReportRead], _BASE, query(model=model, kind=kind, cursor=cursor, limit=limit))

    def reports(self, *, model: str | None = None, kind: ReportKind | None = None) -> Iterator[ReportRead]:
        """Every report you may read, newest first (pages fetched as you iterate)."""
        return paginate(lambda cursor: self.reports_page(model=model, kind=kind, cursor=cursor))

    def get_report(self, report: int) -> ReportRead:
        return self._get(ReportRead, f"{_BASE}/{segment(report)}")

    def download_report(self, report: int, fmt: ReportFormat = "pdf") -> bytes:
        """A stored file's bytes; the server checked them against the recorded SHA-256, and so does this."""
        response = self._transport.send("GET", f"{_BASE}/{segment(report)}/files/{segment(fmt)}")
        content: bytes = response.content
        expected = response.headers.get("X-Charter-SHA256")
        if not expected or hashlib.sha256(content).hexdigest() != expected:
            raise SignatureInvalid(f"The {fmt} file of report {report} does not match its SHA-256.")
        return content

    def verify_report_file(self, file: str | os.PathLike[str] | bytes) -> ReportVerification:
        """Which stored report a file is (unaltered), and whether the audit trail still vouches for it."""
        if isinstance(file, bytes):
            name, content = "report", file
        else:
            path = Path(file)
            name, content = path.name, path.read_bytes()
        data = self._transport.json("POST", f"{_BASE}/verify", files={"file": (name, content)})
        return ReportVerification.model_validate(data)
