"""The report as a PDF (fpdf2): the HTML's content in a plainer layout.

Fonts: fpdf2's built-in fonts only, so no font file has to ship with Charter (the only Unicode
TTF in a typical install belongs to matplotlib, which is not a dependency of ours). Text is
written in Windows-1252 (Latin-1 plus typographic quotes, dashes, the euro sign); a character
it lacks is replaced by its unaccented form when Unicode decomposition gives one, else by '?'.
The HTML and JSON formats keep every character; the PDF footer names the document's SHA-256, so
the exact text is one lookup away.

Organisation reports (hundreds of models, tens of thousands of open gaps) are laid out for
reading and for speed: the framework x model table, then per model its open gaps as text, grouped
by framework and requirement (the requirement on its status colour, each gap under it), written by
:mod:`charter.reports.render.pdf_flow` instead of fpdf2's tables (500 models, 32,000 gaps: 2.5 s
instead of about 110 s). Model reports keep fpdf2's tables.

Deterministic: the creation date is the document's ``generated_at`` and fpdf2 derives the file
identifier from the content, so one document always gives the same bytes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from fpdf import FPDF, FontFace
from fpdf.enums import TableCellFillMode, WrapMode, XPos, YPos

from charter.compliance.schemas import Finding, Gap
from charter.reports.render import digest, text
from charter.reports.render.pdf_flow import Column, Flow
from charter.reports.schemas import EvidenceSummary, ModelSection, ReportDocument

ENCODING = "windows-1252"
FONT = "Helvetica"
MONO = "Courier"
HEADING_FILL = "#e8e8e8"
FAULT_FILL = "#f8c9c4"
OK_FILL = "#dff2e1"
NB_PAGES = "{nbp}"
# Letters Unicode does not decompose into a base letter and an accent.
_LETTERS = str.maketrans(
    {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "\u0131": "i", "ŧ": "t", "Ŧ": "T"}
)


@lru_cache(maxsize=4096)
def _char(c: str) -> str:
    try:
        c.encode(ENCODING)
        return c
    except UnicodeEncodeError:
        pass
    if c in "\u2028\u2029":
        return "\n"
    base = "".join(d for d in unicodedata.normalize("NFKD", c.translate(_LETTERS)) if not unicodedata.combining(d))
    try:
        return base.encode(ENCODING).decode(ENCODING) if base else "?"
    except UnicodeEncodeError:
        return "?"


def safe(value: object) -> str:
    """Text the built-in fonts can show: characters outside Windows-1252 transliterated or replaced.

    Control characters other than newline and tab are dropped; nothing here can raise on user text.
    """
    words = str(value)
    if words.isascii() and words.isprintable():
        return words  # printable ASCII is all in Windows-1252: the common case, without a look at each character
    out = []
    for c in words:
        if c in "\n\t":
            out.append(c)
        elif unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        else:
            out.append(_char(c))
    return "".join(out)


class _Pdf(FPDF):
    def __init__(self, sha256: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.sha256 = sha256
        self.core_fonts_encoding = ENCODING
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        # The page count is written where its alias was measured: "{nb}" leaves room for 3 digits in the
        # footer's font, "{nbp}" for 4 (an organisation report of 500 models runs to ~1,000 pages).
        self.alias_nb_pages(NB_PAGES)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(MONO, size=6.5)
        self.set_text_color(80, 80, 80)
        self.cell(0, 4, f"SHA-256 {self.sha256}", align="L")
        self.set_x(self.l_margin)
        self.set_font(FONT, size=8)
        self.cell(0, 4, f"Page {self.page_no()} of {NB_PAGES}", align="R")
        self.set_text_color(0, 0, 0)


def _heading(pdf: _Pdf, title: str, level: int = 1) -> None:
    size = {0: 17, 1: 14, 2: 11.5, 3: 10}[level]
    if level <= 1 and pdf.get_y() > pdf.h - 50:
        pdf.add_page()
    pdf.ln(3 if level else 0)
    pdf.set_font(FONT, style="B", size=size)
    pdf.multi_cell(0, size * 0.5, safe(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if level == 1:
        pdf.set_draw_color(60, 60, 60)
        pdf.line(pdf.l_margin, pdf.get_y() + 0.5, pdf.w - pdf.r_margin, pdf.get_y() + 0.5)
        pdf.ln(2)
    pdf.set_font(FONT, size=9)


def _para(pdf: _Pdf, words: str, *, style: str = "", size: float = 9, fill: str | None = None) -> None:
    pdf.set_font(FONT, style=style, size=size)
    if fill:
        pdf.set_fill_color(fill)
    pdf.multi_cell(
        0,
        size * 0.48,
        safe(words),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
        fill=fill is not None,
        padding=1 if fill else 0,
    )
    pdf.set_font(FONT, size=9)


def _table(
    pdf: _Pdf,
    headings: Sequence[str],
    rows: Sequence[Sequence[object]],
    widths: Sequence[float],
    *,
    fills: Sequence[Sequence[str | None]] | None = None,
    size: float = 8,
    headings_row: bool = True,
) -> None:
    """A table with the headings repeated on each page; ``fills`` gives a background per cell (or None)."""
    pdf.set_font(FONT, size=size)
    with pdf.table(
        col_widths=tuple(widths),
        width=pdf.epw,
        text_align="LEFT",
        line_height=size * 0.45,
        padding=0.8,
        wrapmode=WrapMode.WORD,
        first_row_as_headings=headings_row,
        headings_style=FontFace(emphasis="BOLD", fill_color=HEADING_FILL),
        cell_fill_mode=TableCellFillMode.NONE,
        v_align="TOP",
    ) as table:
        if headings_row:
            heading = table.row()
            for h in headings:
                heading.cell(safe(h))
        for i, values in enumerate(rows):
            row = table.row()
            for j, value in enumerate(values):
                fill = fills[i][j] if fills is not None else None
                row.cell(safe(value), style=FontFace(fill_color=fill) if fill else None)
    pdf.ln(2)


def _key_values(pdf: _Pdf, pairs: Sequence[tuple[str, object]]) -> None:
    _table(pdf, ("", ""), [(k, v) for k, v in pairs], (1, 3), headings_row=False, size=8.5)


def _header(pdf: _Pdf, doc: ReportDocument, sha256: str) -> None:
    _heading(pdf, doc.title, 0)
    kind = "Model report" if doc.kind == "model" else "Organisation report"
    _key_values(
        pdf,
        [
            ("Organisation", doc.organisation),
            ("Report", f"{kind} ({doc.schema_})"),
            ("Period", f"{text.when(doc.period.start)} to {text.when(doc.period.end)}"),
            ("Frameworks", ", ".join(doc.frameworks) or "none"),
            ("Generated", f"{text.when(doc.generated_at)} by {doc.generated_by}"),
            ("Charter version", doc.charter_version),
            ("Document SHA-256", sha256),
        ],
    )


def _integrity(pdf: _Pdf, doc: ReportDocument) -> None:
    a = doc.audit
    _heading(pdf, "Audit-trail integrity")
    counts = f"{a.events} events, {a.checkpoints_checked} checkpoints checked, {a.events_in_period} in the period"
    if a.ok:
        _para(pdf, "Verified: the audit chain is intact.", style="B", fill=OK_FILL)
        _para(pdf, f"{counts}; verified {text.when(a.verified_at)}. Head hash {a.head_hash}")
    else:
        _para(pdf, "AUDIT CHAIN BROKEN: the audit trail failed verification.", style="B", size=12, fill=FAULT_FILL)
        _para(pdf, a.fault or "no detail was recorded", style="B", fill=FAULT_FILL)
        _para(pdf, f"{counts}; verified {text.when(a.verified_at)}. Head hash {a.head_hash}")


def _summary(pdf: _Pdf, doc: ReportDocument) -> None:
    t = doc.totals
    _heading(pdf, "Summary")
    ratings = ", ".join(f"{r} {n}" for r, n in text.ordered_ratings(t.by_rating)) or "none assessed"
    gaps = f"{t.gaps}" + (f" (of which {t.waived_gaps} waived)" if t.waived_gaps else "")
    _key_values(
        pdf,
        [
            ("Models", t.models),
            ("Open gaps", gaps),
            ("Open incidents", t.open_incidents),
            ("Firing alerts", t.firing_alerts),
            ("Risk ratings", ratings),
        ],
    )
    if t.by_status:
        statuses = text.STATUS_ORDER
        rows = [[fw, *(counts.get(s, 0) for s in statuses)] for fw, counts in sorted(t.by_status.items())]
        _table(pdf, ["Framework", *(text.status_label(s) for s in statuses)], rows, (3, 1, 1, 1, 1, 1))


def _gap_rows(section: ModelSection) -> list[list[str]]:
    rows = []
    for g in section.gaps:
        if g.kind == "waived":
            kind = f"WAIVED ({text.waiver_note(g.waiver, g.waiver_expires_at)}): still open"
        else:
            kind = text.GAP_KIND_LABELS.get(g.kind, g.kind)
        rows.append([g.framework, f"{g.requirement} {g.title}", text.status_label(g.status), kind, g.ref, g.detail])
    return rows


def _gaps(pdf: _Pdf, section: ModelSection) -> None:
    rows = _gap_rows(section)
    headings = ["Framework", "Requirement", "Status", "Gap", "Because of", "Detail"]
    fills = [[None, None, text.status_colour(g.status), None, None, None] for g in section.gaps]
    _table(pdf, headings, rows, (2.2, 3, 1.8, 2.6, 2.6, 4), fills=fills)


def _organisation(pdf: _Pdf, doc: ReportDocument) -> None:
    _heading(pdf, "Compliance by model and framework")
    _para(
        pdf, "Each framework cell: requirements met (satisfied or attested) of those that apply; n/a: does not apply."
    )
    columns = [
        Column("Model", 4),
        Column("Version", 1.6),
        Column("Stage", 2),
        Column("Risk", 1.5),
        Column("Gaps", 1),
        *(Column(safe(fw), 2) for fw in doc.frameworks),
    ]
    rows: list[list[str]] = []
    fills: list[list[str | None]] = []
    for m in doc.models:
        results = [text.framework_of(m, fw) for fw in doc.frameworks]
        rating = m.risk.rating if m.risk else None
        cells = [m.model, m.version, m.stage, rating or "-", str(len(m.gaps)), *map(text.framework_cell, results)]
        rows.append([safe(c) for c in cells])
        verdicts = [text.status_colour(text.framework_verdict(r)) for r in results]
        fills.append([None, None, None, text.rating_colour(rating), None, *verdicts])
    flow = Flow(pdf, FONT)
    flow.table(columns, rows, fills=fills, size=7, heading_fill=HEADING_FILL)
    flow.done()
    _heading(pdf, "Open gaps by model")
    with_gaps = [m for m in doc.models if m.gaps]
    if not with_gaps:
        _para(pdf, "No open gaps.")
        return
    _para(
        pdf,
        "For each model, each framework's open gaps by requirement (on the colour of its status), and under "
        "each requirement what is failing (a policy rule, missing evidence, a check) and why. WAIVED marks a "
        "failing rule excused by a waiver: still an open gap. Expired: what satisfied it has expired.",
    )
    flow = Flow(pdf, FONT)
    for m in with_gaps:
        _model_gaps(flow, m)
    flow.done()


def _gap_line(g: Gap) -> str:
    if g.kind == "waived":
        kind = f"WAIVED ({text.waiver_note(g.waiver, g.waiver_expires_at)}): still open. "
    elif g.kind == "not_satisfied":
        kind = ""
    else:
        kind = f"{text.GAP_KIND_LABELS.get(g.kind, g.kind)}: "
    return f"{kind}{g.ref}: {g.detail}" if g.detail else f"{kind}{g.ref}"


def _model_gaps(flow: Flow, m: ModelSection) -> None:
    """One model's open gaps as text: framework, then requirement (coloured by status), then each gap."""
    by_framework: dict[str, dict[tuple[str, str], list[Gap]]] = {}
    for g in m.gaps:
        by_framework.setdefault(g.framework, {}).setdefault((g.requirement, g.title), []).append(g)
    flow.y += 2
    flow.room(18)  # the heading, a framework, a requirement and its first gap together
    title = f"{m.model} {m.version}" + (f" (owner {m.owner})" if m.owner else "")
    flow.lines(safe(title), style="B", size=10, gap=0.6)
    for framework, requirements in by_framework.items():
        count = sum(len(gaps) for gaps in requirements.values())
        flow.room(11)
        flow.lines(safe(f"{framework}: {count} open gap{'s' if count != 1 else ''}"), style="B", size=8.5, gap=0.3)
        for (requirement, title), gaps in requirements.items():
            statuses = list(dict.fromkeys(g.status for g in gaps))
            label = ", ".join(text.status_label(s) for s in statuses)
            flow.room(7)
            flow.lines(
                safe(f"{requirement} {title}: {label}"),
                style="B",
                size=7.5,
                indent=2,
                fill=text.status_colour(statuses[0]),
            )
            for g in gaps:
                flow.lines(safe(_gap_line(g)), style="B" if g.kind == "waived" else "", size=7.5, indent=5)
            flow.y += 0.4
        flow.y += 1


def _findings(why: Sequence[Finding]) -> str:
    lines = []
    for w in why:
        line = f"{w.kind.replace('_', ' ')} {w.ref}: {w.outcome.replace('_', ' ')} ({w.detail})"
        if w.evidence is not None:
            line += f"; evidence {w.evidence}"
        if w.waiver is not None:
            line += f"; WAIVED: {text.waiver_note(w.waiver, w.waiver_expires_at)}"
        if w.attestation is not None:
            line += f"; attestation {w.attestation}"
            if w.valid_until:
                line += f" valid until {text.day(w.valid_until)}"
        lines.append(line)
    return "\n".join(lines) or "nothing recorded"


def _evidence(pdf: _Pdf, title: str, items: Sequence[EvidenceSummary]) -> None:
    _heading(pdf, title, 2)
    if not items:
        _para(pdf, "None in the period.")
        return
    rows = [
        [
            e.id,
            f"{e.kind}\n{e.title}",
            text.passed(e.passed),
            f"{text.when(e.created_at)}\nby {e.created_by}",
            "\n".join(f"{k} = {text.number(v)}" for k, v in e.highlights.items()) or "none",
            e.sha256,
        ]
        for e in items
    ]
    _table(pdf, ["Id", "Evidence", "Result", "Recorded", "Highlights", "SHA-256"], rows, (0.7, 3, 1.2, 2.4, 3, 3.4))


def _model(pdf: _Pdf, m: ModelSection) -> None:
    rows: list[list[object]]
    pdf.add_page()
    _heading(pdf, f"{m.model} {m.version}")
    _key_values(
        pdf,
        [
            ("Stage", m.stage),
            ("Team", m.team or "-"),
            ("Owner", m.owner or "-"),
            ("Risk tier", m.risk_tier or "-"),
            ("Firing alerts", m.firing_alerts),
        ],
    )
    _heading(pdf, "Compliance by framework", 2)
    for f in m.frameworks:
        _heading(pdf, f"{f.title} ({f.framework}, {f.version})", 3)
        if not f.applies:
            _para(pdf, "Does not apply to this model.")
            continue
        counts = ", ".join(f"{text.status_label(s)} {n}" for s, n in text.ordered_counts(f.counts))
        _para(pdf, f"{counts}. Framework SHA-256 {f.sha256}", size=8)
        if f.requirements:
            rows = [
                [
                    f"{r.id} {r.title}" + (f"\n{'; '.join(r.references)}" if r.references else ""),
                    text.status_label(r.status) + ("\nwaived" if r.waived else ""),
                    _findings(r.why),
                ]
                for r in f.requirements
            ]
            fills = [[None, text.status_colour(r.status), None] for r in f.requirements]
            _table(pdf, ["Requirement", "Status", "Decided by"], rows, (3, 1.3, 7), fills=fills)
    _heading(pdf, "Open gaps", 2)
    if m.gaps:
        _gaps(pdf, m)
    else:
        _para(pdf, "No open gaps.")
    _heading(pdf, "Risk", 2)
    if m.risk:
        k = m.risk
        line = (
            f"Rating {k.rating}, score {text.number(k.score)} (assessment {k.assessment}, rules version "
            f"{k.rules_version}, {text.when(k.assessed_at)})"
        )
        if k.eu_ai_act_class:
            line += f"; EU AI Act class {k.eu_ai_act_class}"
        _para(pdf, line + ".")
        rows = [
            [f"{f.title} ({f.factor})", text.number(f.score), text.number(f.weight), "\n".join(f.reasons) or "-"]
            for f in k.factors
        ]
        _table(pdf, ["Factor", "Score", "Weight", "Reasons"], rows, (3, 1, 1, 6))
    else:
        _para(pdf, "No risk assessment.")
    _heading(pdf, "Risk register", 2)
    if m.register:
        rows = [
            [
                e.id,
                e.title,
                e.category,
                e.inherent_rating,
                e.residual_rating,
                e.treatment or "-",
                e.status,
                e.owner,
                (e.review_date or "-") + (" OVERDUE" if e.review_overdue else ""),
            ]
            for e in m.register
        ]
        headings = ["Id", "Risk", "Category", "Inherent", "Residual", "Treatment", "Status", "Owner", "Review"]
        _table(pdf, headings, rows, (0.6, 3, 1.5, 1.3, 1.3, 1.5, 1.2, 2, 1.8))
    else:
        _para(pdf, "No register entries.")
    _evidence(pdf, "Fairness evidence", m.fairness)
    _evidence(pdf, "Monitoring evidence", m.monitoring)
    _heading(pdf, "Incidents", 2)
    if m.incidents:
        rows = [
            [i.id, i.title, i.type, i.severity, i.status, text.when(i.detected_at), text.when(i.resolved_at)]
            for i in m.incidents
        ]
        headings = ["Id", "Incident", "Type", "Severity", "Status", "Detected", "Resolved"]
        _table(pdf, headings, rows, (0.6, 4, 1.5, 1.3, 1.6, 2.2, 2.2))
    else:
        _para(pdf, "None in the period.")
    _heading(pdf, "Lifecycle and approvals", 2)
    if m.transitions:
        rows = [
            [text.when(s.at), s.version, s.from_stage or "-", s.to_stage, s.by, s.reason or "-"] for s in m.transitions
        ]
        _table(pdf, ["When", "Version", "From", "To", "By", "Reason"], rows, (2.2, 1.2, 1.4, 1.4, 2.4, 4))
    else:
        _para(pdf, "No transitions in the period.")
    _heading(pdf, "Waivers", 2)
    if m.waivers:
        rows = [
            [
                w.id,
                f"{w.policy}/{w.rule}",
                w.justification,
                w.approved_by,
                text.day(w.granted_at),
                text.day(w.expires_at),
                w.status,
            ]
            for w in m.waivers
        ]
        headings = ["Id", "Rule", "Justification", "Approved by", "Granted", "Expires", "Status"]
        _table(pdf, headings, rows, (0.6, 2.6, 4.5, 2, 1.5, 1.5, 1.2))
    else:
        _para(pdf, "No waivers.")


def render_pdf(document: ReportDocument) -> bytes:
    """The report as PDF bytes: the same document always gives the same bytes."""
    sha256 = digest(document)
    pdf = _Pdf(sha256)
    pdf.set_title(document.title)
    pdf.set_subject(f"Charter {document.kind} report for {document.organisation}, {text.period(document)}")
    pdf.set_author(document.generated_by)
    pdf.set_creator(f"Charter {document.charter_version}")
    pdf.set_keywords(f"charter report sha256:{sha256}")
    pdf.set_lang("en")
    pdf.set_creation_date(text.utc(document.generated_at))
    pdf.add_page()
    _header(pdf, document, sha256)
    _integrity(pdf, document)
    _summary(pdf, document)
    if document.kind == "organisation":
        _organisation(pdf, document)
    else:
        for section in document.models:
            _model(pdf, section)
    _heading(pdf, "Checking this report", 2)
    _para(
        pdf,
        f"Report SHA-256 {sha256}: the SHA-256 of the report's canonical JSON (sorted keys, no whitespace, "
        "UTF-8). Fetch the JSON format of this report and hash it to check this file says what was stored. "
        f"Characters outside Windows-1252 are shown unaccented or as '?'; the JSON and HTML keep them.",
    )
    return bytes(pdf.output())
