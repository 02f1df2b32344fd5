"""Formatting shared by the HTML and PDF renderers: dates, numbers, status labels and colours.

One place, so both formats of one report print the same words and the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from charter.reports.schemas import FrameworkResult, ModelSection, ReportDocument

# The order statuses are listed in: what needs attention first.
STATUS_ORDER = ("not_satisfied", "expired", "attested", "satisfied", "not_applicable")
STATUS_LABELS = {
    "satisfied": "Satisfied",
    "not_satisfied": "Not satisfied",
    "not_applicable": "Not applicable",
    "attested": "Attested",
    "expired": "Expired",
}
# Background colours, light enough for black text and for printing.
STATUS_COLOURS = {
    "satisfied": "#c8ecd0",
    "attested": "#d6e6fa",
    "not_satisfied": "#f8c9c4",
    "expired": "#fbe0b8",
    "not_applicable": "#e6e6e6",
}
GAP_KIND_LABELS = {"not_satisfied": "Not satisfied", "expired": "Expired", "waived": "Waived"}
RATING_ORDER = ("critical", "high", "medium", "low")
RATING_COLOURS = {"low": "#c8ecd0", "medium": "#fbe0b8", "high": "#f8c9c4", "critical": "#e8a0a0"}
NEUTRAL = "#e6e6e6"


def utc(value: datetime) -> datetime:
    """The instant in UTC (a naive datetime is taken to be UTC already, as the database stores it)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def when(value: datetime | None) -> str:
    """'2025-03-01 14:05 UTC'; an em dash for none."""
    return "\u2014" if value is None else utc(value).strftime("%Y-%m-%d %H:%M UTC")


def day(value: datetime | date | str | None) -> str:
    """The date alone: '2025-03-01'."""
    if value is None:
        return "\u2014"
    if isinstance(value, datetime):
        return utc(value).strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return value


def period(document: ReportDocument) -> str:
    return f"{day(document.period.start)} to {day(document.period.end)}"


def percent(value: float) -> str:
    """A share in [0, 1] as '42.5%'."""
    return f"{value * 100:.1f}%"


def number(value: Any) -> str:
    """A headline value as printed: floats to 4 significant digits, NaN and infinities named, others as text."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "\u2014"}[value]
    if isinstance(value, float):
        if math.isnan(value):
            return "undefined"
        if math.isinf(value):
            return "\u221e" if value > 0 else "-\u221e"
        return f"{value:.4g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return ", ".join(number(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {number(v)}" for k, v in value.items())
    return str(value)


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.replace("_", " "))


def status_colour(status: str) -> str:
    return STATUS_COLOURS.get(status, NEUTRAL)


def rating_colour(rating: str | None) -> str:
    return RATING_COLOURS.get(rating or "", NEUTRAL)


def passed(value: bool | None) -> str:
    return {True: "passed", False: "failed", None: "recorded"}[value]


def ordered_counts(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Counts in :data:`STATUS_ORDER`, unknown statuses after them by name, zeros left out."""
    known = [(s, counts[s]) for s in STATUS_ORDER if counts.get(s)]
    return known + sorted((s, n) for s, n in counts.items() if s not in STATUS_ORDER and n)


def ordered_ratings(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Counts per risk rating, worst first, unknown ratings after them by name, zeros left out."""
    known = [(r, counts[r]) for r in RATING_ORDER if counts.get(r)]
    return known + sorted((r, n) for r, n in counts.items() if r not in RATING_ORDER and n)


def framework_verdict(result: FrameworkResult | None) -> str:
    """One word for a framework on one model, used for the colour of its cell in the organisation table.

    ``not_applicable`` when the framework does not apply (or the model was not assessed against it);
    ``not_satisfied`` or ``expired`` when any requirement is; ``attested`` when any relies on an
    attestation; otherwise ``satisfied``.
    """
    if result is None or not result.applies:
        return "not_applicable"
    for status in ("not_satisfied", "expired", "attested"):
        if result.counts.get(status):
            return status
    return "satisfied" if result.counts.get("satisfied") else "not_applicable"


def framework_cell(result: FrameworkResult | None) -> str:
    """'5/7 met' for a framework on one model: satisfied or attested over those that apply."""
    if result is None:
        return "\u2014"
    if not result.applies:
        return "n/a"
    met = result.counts.get("satisfied", 0) + result.counts.get("attested", 0)
    total = sum(n for s, n in result.counts.items() if s != "not_applicable")
    return f"{met}/{total} met"


def framework_of(section: ModelSection, framework: str) -> FrameworkResult | None:
    return next((f for f in section.frameworks if f.framework == framework), None)


def waiver_note(waiver: int | None, expires_at: datetime | None) -> str:
    """'waiver 12, expires 2025-06-30', or '' for none."""
    if waiver is None:
        return ""
    return f"waiver {waiver}, expires {day(expires_at)}" if expires_at else f"waiver {waiver}"


def one_line(text: str, most: int = 200) -> str:
    """Whitespace (newlines included) collapsed, cut to ``most`` characters: titles must be one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= most else flat[: most - 1] + "\u2026"
