"""The report as one self-contained HTML file: inline CSS and SVG, no script, nothing fetched.

Everything from the document is escaped (autoescape is on for the whole template); colours and
chart geometry come from :mod:`charter.reports.render.text` and arithmetic here, never from
user text.
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from charter.reports.render import digest, text
from charter.reports.schemas import ReportDocument

_FILTERS = {
    "when": text.when,
    "day": text.day,
    "percent": text.percent,
    "number": text.number,
    "status_label": text.status_label,
    "status_colour": text.status_colour,
    "rating_colour": text.rating_colour,
    "passed": text.passed,
    "ordered_counts": text.ordered_counts,
    "ordered_ratings": text.ordered_ratings,
    "framework_verdict": text.framework_verdict,
    "framework_cell": text.framework_cell,
}


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("charter.reports.render", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(_FILTERS)
    env.globals.update(
        framework_of=text.framework_of,
        waiver_note=text.waiver_note,
        period=text.period,
        gap_kind_labels=text.GAP_KIND_LABELS,
        status_order=text.STATUS_ORDER,
    )
    return env


def stacked_bar(counts: list[tuple[str, int]], *, colour: dict[str, str], width: int = 240) -> list[dict[str, object]]:
    """The segments of a horizontal stacked bar: x, width and colour per (name, count), widths summing to ``width``."""
    total = sum(n for _, n in counts)
    segments: list[dict[str, object]] = []
    x = 0.0
    for name, n in counts:
        w = width * n / total if total else 0.0
        segments.append(
            {"name": name, "count": n, "x": round(x, 2), "w": round(w, 2), "fill": colour.get(name, "#ccc")}
        )
        x += w
    return segments


def render_html(document: ReportDocument) -> bytes:
    """The report as UTF-8 HTML: the same document always gives the same bytes."""
    template = _environment().get_template("report.html.j2")
    html = template.render(
        doc=document,
        sha256=digest(document),
        stacked_bar=stacked_bar,
        status_colours=text.STATUS_COLOURS,
        rating_colours=text.RATING_COLOURS,
    )
    return html.encode("utf-8")
