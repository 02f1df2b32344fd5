"""The HTML report: one self-contained, escaped file with what a reader must not miss."""

from __future__ import annotations

import html
import re
import time
from html.parser import HTMLParser

from charter.reports.render import digest, render
from tests.reports.sample import INJECTION, OWNER, WAIVER_ID, model_report, organisation_report


class _Collector(HTMLParser):
    """Tags, attributes and text as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Collector:
    parser = _Collector()
    parser.feed(page)
    parser.close()
    return parser


def _words(page: str) -> str:
    return " ".join(" ".join(_parse(page).text).split())


def test_model_report_is_self_contained_and_escaped() -> None:
    document = model_report()
    page = render(document, "html").decode("utf-8")
    parsed = _parse(page)
    # No script at all, nothing fetched: no external URL in any attribute, no stylesheet link, no image.
    assert "script" not in parsed.tags
    assert not {"link", "img", "iframe", "object", "embed"} & set(parsed.tags)
    for name, value in parsed.attrs:
        assert not re.match(r"\s*(https?:|//)", value or ""), (name, value)
        assert not name.startswith("on"), name
    assert not re.search(r"url\(|@import", page)
    # The injection attempt arrives as text, escaped.
    assert html.escape(INJECTION) in page
    assert INJECTION in _words(page)
    assert page.count("<script") == 0


def test_model_report_shows_digest_waiver_and_people() -> None:
    document = model_report()
    page = render(document, "html").decode("utf-8")
    words = _words(page)
    assert digest(document) in words
    assert OWNER in words
    # The waived gap is listed among the open gaps, with the waiver and its expiry.
    gaps = page.split("<h3>Open gaps</h3>", 1)[1].split("<h3>Risk</h3>", 1)[0]
    assert 'class="gap-waived"' in gaps
    assert f"waiver {WAIVER_ID}, expires 2025-06-30" in _words(gaps)
    assert "still open" in _words(gaps)
    assert "Art. 14 Human oversight" in _words(gaps) and "Expired" in _words(gaps)
    # Incident, approval, risk bars, evidence digest.
    assert "Score skew for defendants under 25" in words
    assert "approved" in words and "risk accepted by the board" in words
    assert page.count('<svg width="104"') == 3
    assert "a" * 64 in words
    assert "Verified: the audit chain is intact." in words


def test_a_broken_audit_chain_is_loud() -> None:
    page = render(model_report(audit_ok=False), "html").decode("utf-8")
    words = _words(page)
    assert "AUDIT CHAIN BROKEN" in words
    assert "event 812: hash does not match its content" in words
    assert "the audit chain is intact" not in words


def test_same_document_same_bytes() -> None:
    assert render(model_report(), "html") == render(model_report(), "html")


def test_organisation_report_of_300_models() -> None:
    document = organisation_report(300)
    started = time.perf_counter()
    page = render(document, "html").decode("utf-8")
    elapsed = time.perf_counter() - started
    print(f"\norganisation report, 300 models: HTML {len(page) / 1024:.0f} KiB in {elapsed:.3f} s")
    words = _words(page)
    matrix = page.split('<table class="matrix">', 1)[1].split("</table>", 1)[0]
    assert matrix.count("<tr>") == 301  # heading and one row per model
    assert "model-001" in matrix and "model-300" in matrix
    # Models with gaps are listed with them; a waived one names its waiver.
    gap_section = page.split('<section id="gaps">', 1)[1]
    assert gap_section.count("<h3>") == sum(1 for m in document.models if m.gaps) == 42
    assert "waiver 1014" in _words(gap_section)
    assert digest(document) in words
