"""Member cards as PDF: one card the size of a credit card (ID-1, 85.6 x 54 mm), or a
group's cards ten to an A4 sheet with cut marks. Each card has the member's name, member
number and partner, and a QR code (segno) with the absolute /cek/<token> address; the QR
is drawn as vector rectangles, so it stays sharp on any printer."""

from __future__ import annotations

from dataclasses import dataclass

import segno
from fpdf import FPDF

CARD_W, CARD_H = 85.6, 54.0  # ISO/IEC 7810 ID-1, millimetres
A4_W, A4_H = 210.0, 297.0
COLUMNS, ROWS = 2, 5         # ten cards per A4 sheet
QR_SIZE = 30.0               # the QR code's side including its quiet zone


@dataclass(frozen=True)
class Card:
    name: str
    member_number: str
    partner: str
    url: str


def _text(value: str, most: int = 200) -> str:
    # The core fonts are Latin-1: anything else prints as '?' rather than failing. Long
    # values are shortened so that they stay on the card (two lines of name, three of
    # partner).
    value = str(value)
    value = value if len(value) <= most else value[:most - 1].rstrip() + "..."
    return value.encode("latin-1", "replace").decode("latin-1")


def _new(page_format) -> FPDF:
    doc = FPDF(unit="mm", format=page_format)
    doc.set_creator("Bungkesmas")
    doc.set_auto_page_break(False)
    doc.set_margins(0, 0, 0)
    return doc


def card_pdf(card: Card, labels: dict[str, str]) -> bytes:
    """One card on a page of its own size (for a card printer, or to print and cut)."""
    doc = _new((CARD_W, CARD_H))
    doc.set_title(f"{labels['title']} {card.member_number}")
    doc.add_page()
    _draw(doc, 0, 0, card, labels)
    return bytes(doc.output())


def sheet_pdf(cards: list[Card], labels: dict[str, str], title: str = "") -> bytes:
    """Cards ten to an A4 page (two columns of five), with cut lines around each."""
    doc = _new("A4")
    doc.set_title(_text(title or labels["title"]))
    left = (A4_W - COLUMNS * CARD_W) / 2
    top = (A4_H - ROWS * CARD_H) / 2
    per_page = COLUMNS * ROWS
    for i, card in enumerate(cards):
        if i % per_page == 0:
            doc.add_page()
        slot = i % per_page
        x = left + (slot % COLUMNS) * CARD_W
        y = top + (slot // COLUMNS) * CARD_H
        doc.set_draw_color(190, 190, 190)
        doc.set_line_width(0.1)
        doc.rect(x, y, CARD_W, CARD_H)
        _draw(doc, x, y, card, labels)
    if not cards:
        doc.add_page()
    return bytes(doc.output())


def _draw(doc: FPDF, x: float, y: float, card: Card, labels: dict[str, str]) -> None:
    # A coloured band with the programme's name.
    doc.set_fill_color(14, 116, 144)
    doc.rect(x, y, CARD_W, 9, style="F")
    doc.set_text_color(255, 255, 255)
    doc.set_font("Helvetica", "B", 9)
    doc.set_xy(x + 4, y + 1.5)
    doc.cell(CARD_W - 8, 6, _text(labels["title"]))
    doc.set_text_color(0, 0, 0)

    text_w = CARD_W - QR_SIZE - 7
    doc.set_xy(x + 4, y + 12)
    doc.set_font("Helvetica", "B", 10)
    doc.multi_cell(text_w, 4.5, _text(card.name, 50), new_x="LEFT", new_y="NEXT")
    rows = ((labels["member_number"], card.member_number),
            (labels["partner"], _text(card.partner, 80)))
    for caption, value in rows:
        doc.set_x(x + 4)
        doc.set_font("Helvetica", "", 6.5)
        doc.cell(text_w, 3.5, _text(caption), new_x="LEFT", new_y="NEXT")
        doc.set_font("Helvetica", "B", 8.5 if caption == labels["member_number"] else 7.5)
        doc.multi_cell(text_w, 3.8, _text(value), new_x="LEFT", new_y="NEXT")

    qr_x, qr_y = x + CARD_W - QR_SIZE - 3, y + 11
    _qr(doc, qr_x, qr_y, QR_SIZE, card.url)
    doc.set_font("Helvetica", "", 6)
    doc.set_xy(qr_x - 4, qr_y + QR_SIZE + 0.5)
    doc.cell(QR_SIZE + 8, 3, _text(labels["scan"]), align="C")


def _qr(doc: FPDF, x: float, y: float, size: float, url: str) -> None:
    """The QR code of `url` as black rectangles, one per horizontal run of dark modules,
    with the standard quiet zone of four modules."""
    qr = segno.make(url, error="m", micro=False)
    border = 4
    rows = [list(row) for row in qr.matrix]
    modules = len(rows) + 2 * border
    unit = size / modules
    doc.set_fill_color(255, 255, 255)
    doc.rect(x, y, size, size, style="F")
    doc.set_fill_color(0, 0, 0)
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                doc.rect(x + (border + start) * unit, y + (border + r) * unit,
                         (c - start) * unit, unit, style="F")
            else:
                c += 1
