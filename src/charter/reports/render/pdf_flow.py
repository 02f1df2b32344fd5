"""Fast text and tables for long PDF reports: lines wrapped here, written with ``FPDF.text``.

fpdf2's ``multi_cell`` and ``table`` break lines one character at a time through its text-shaping
machinery, measuring each cell twice (once to size the row, once to draw it): about 0.8 ms a cell.
An organisation report over 500 models has 32,000 open gaps, which took minutes that way. Here the
built-in fonts' character widths are summed per word (each distinct word measured once), a
paragraph is wrapped greedily at spaces (each distinct (text, font, width) wrapped once: gap details
repeat from model to model), and each line is placed with ``FPDF.text``, which writes it as is.

Only fpdf2's built-in fonts are used (see :mod:`charter.reports.render.pdf`): widths come from the
font's own width table, so the lines fit exactly as ``multi_cell`` would fit them. Text must have
been made safe for Windows-1252 first (:func:`charter.reports.render.pdf.safe`); wrapping keeps
the text's characters, so copying it out of the PDF gives what was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fpdf import FPDF
from fpdf.fonts import CoreFont

ENCODING = "windows-1252"
_PT = 25.4 / 72  # mm per point

__all__ = ["Column", "Flow"]


@dataclass(frozen=True)
class Column:
    """A table column: its heading and its share of the width."""

    heading: str
    weight: float


class Flow:
    """Writes wrapped lines down the page from the current y, breaking pages like fpdf2 would.

    ``family`` is a built-in font (Helvetica); a new page gets the document's header and footer
    (``add_page``), and the running y is handed back to fpdf2 with :meth:`done`.
    """

    def __init__(self, pdf: FPDF, family: str) -> None:
        self.pdf = pdf
        self.family = family
        self.y = pdf.get_y()
        self._widths: dict[str, dict[str, float]] = {}  # style -> char -> width of 1 pt, in mm
        self._words: dict[tuple[str, str], float] = {}  # (style, word) -> width of 1 pt, in mm
        self._wrapped: dict[tuple[str, str, float, float], tuple[str, ...]] = {}

    # -- measuring and wrapping ---------------------------------------------------------------------

    def _char_widths(self, style: str) -> dict[str, float]:
        table = self._widths.get(style)
        if table is None:
            self.pdf.set_font(self.family, style=style, size=10)
            font = self.pdf.current_font
            if not isinstance(font, CoreFont):
                raise TypeError(f"Flow measures fpdf2's built-in fonts only, not {self.family!r}")
            raw = font.cw  # 256 widths, by the character of each byte read as Latin-1
            table = {}
            for code in range(256):
                try:
                    char = bytes([code]).decode(ENCODING)
                except UnicodeDecodeError:
                    continue
                table[char] = raw[chr(code)] / 1000 * _PT
            self._widths[style] = table
        return table

    def width(self, words: str, style: str, size: float) -> float:
        """Width in mm of one line of ``words`` (Windows-1252 text) at ``size`` points."""
        key = (style, words)
        unit = self._words.get(key)
        if unit is None:
            table = self._char_widths(style)
            unit = self._words[key] = sum(table.get(c, 0.0) for c in words)
        return unit * size

    def wrap(self, words: str, style: str, size: float, width: float) -> tuple[str, ...]:
        """``words`` broken into lines no wider than ``width`` mm: at spaces, inside a word only when it is too long.

        Newlines in the text start a new line; an empty text is one empty line.
        """
        key = (words, style, size, width)
        found = self._wrapped.get(key)
        if found is not None:
            return found
        space = self.width(" ", style, size)
        lines: list[str] = []
        for paragraph in words.split("\n"):
            line: list[str] = []
            used = 0.0
            for word in paragraph.split(" "):
                w = self.width(word, style, size)
                if line and used + space + w <= width:
                    line.append(word)
                    used += space + w
                    continue
                if line:
                    lines.append(" ".join(line))
                if w <= width:
                    line, used = [word], w
                    continue
                # A word wider than the line (a digest, a long id): cut it where it no longer fits.
                line, used = [], 0.0
                piece = ""
                for c in word:
                    cw = self.width(c, style, size)
                    if piece and used + cw > width:
                        lines.append(piece)
                        piece, used = "", 0.0
                    piece += c
                    used += cw
                line = [piece]
            lines.append(" ".join(line))
        found = self._wrapped[key] = tuple(lines)
        return found

    # -- writing ------------------------------------------------------------------------------------

    def _use(self, style: str, size: float) -> None:
        pdf = self.pdf
        if pdf.font_size_pt != size or pdf.font_style != style or pdf.font_family != self.family.lower():
            pdf.set_font(self.family, style=style, size=size)

    def room(self, height: float) -> None:
        """Start a new page unless ``height`` mm still fit above the bottom margin."""
        if self.y + height > self.pdf.page_break_trigger:
            self.pdf.add_page()
            self.y = self.pdf.get_y()

    def lines(
        self,
        words: str,
        *,
        style: str = "",
        size: float = 8,
        indent: float = 0,
        fill: str | None = None,
        gap: float = 0,
    ) -> None:
        """A paragraph: wrapped to the text width less ``indent``, on a ``fill`` background if given."""
        pdf = self.pdf
        x = pdf.l_margin + indent
        width = pdf.w - pdf.r_margin - x
        pad = 0.6 if fill else 0.0
        height = size * 0.45
        wrapped = self.wrap(words, style, size, width - 2 * pad)
        self._use(style, size)
        for line in wrapped:
            self.room(height)
            if fill:
                pdf.set_fill_color(fill)
                pdf.rect(x, self.y, width, height, style="F")
            if line:
                pdf.text(x + pad, self.y + height * 0.5 + size * _PT * 0.3, line)
            self.y += height
        self.y += gap

    def table(
        self,
        columns: Sequence[Column],
        rows: Sequence[Sequence[str]],
        *,
        fills: Sequence[Sequence[str | None]] | None = None,
        size: float = 7,
        heading_fill: str = "#e8e8e8",
    ) -> None:
        """A bordered table across the text width, the headings repeated at the top of each page.

        Cells are wrapped at their column's width; a row is as tall as its tallest cell and never
        split across pages. ``fills`` gives each cell's background (or None).
        """
        pdf = self.pdf
        total = sum(c.weight for c in columns)
        widths = [pdf.epw * c.weight / total for c in columns]
        pad = 0.8
        line = size * 0.45

        def row(cells: Sequence[str], style: str, colours: Sequence[str | None]) -> None:
            wrapped = [self.wrap(c, style, size, w - 2 * pad) for c, w in zip(cells, widths, strict=True)]
            height = max(len(w) for w in wrapped) * line + 2 * pad
            if self.y + height > pdf.page_break_trigger and style != "B":
                self.room(height)
                row(headings, "B", [heading_fill] * len(columns))
            self._use(style, size)
            x = pdf.l_margin
            for lines, w, colour in zip(wrapped, widths, colours, strict=True):
                if colour:
                    pdf.set_fill_color(colour)
                pdf.rect(x, self.y, w, height, style="DF" if colour else "D")
                for i, text in enumerate(lines):
                    if text:
                        pdf.text(x + pad, self.y + pad + line * (i + 0.5) + size * _PT * 0.3, text)
                x += w
            self.y += height

        headings = [c.heading for c in columns]
        self.room(2 * (line + 2 * pad))
        row(headings, "B", [heading_fill] * len(columns))
        for i, cells in enumerate(rows):
            row(cells, "", fills[i] if fills is not None else [None] * len(columns))
        self.y += 2

    def done(self) -> None:
        """Hand the running position back to fpdf2 (its own cells continue below what was written)."""
        self.pdf.set_y(self.y)
