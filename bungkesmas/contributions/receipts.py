"""Receipts (kuitansi): what a money row's receipt says, as a page and as a PDF.

A receipt names the partner that received the money, its number, the date, the member,
the amount in figures and in Indonesian words, the method and reference, the officer
who recorded it, and the cover it buys: the term(s) this payment funded, with their
dates, or — if it did not complete a term — the savings balance after it and what is
still missing for the next term."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from fpdf import FPDF
from sqlalchemy import select

from bungkesmas.auth.models import User
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.coverage import Period
from bungkesmas.contributions.models import EntryKind, LedgerEntry
from bungkesmas.contributions.terbilang import format_rupiah, rupiah_words
from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment, Member
from bungkesmas.partners.models import Partner
from bungkesmas.timeutil import local_date


@dataclass(frozen=True)
class Receipt:
    entry: LedgerEntry
    partner: Partner               # who received (or paid out) the money
    member: Member
    enrollment: Enrollment
    officer: str                   # who recorded it
    figures: str                   # Rp150.000
    words: str                     # Seratus lima puluh ribu rupiah
    periods: tuple[Period, ...]    # the terms this row funded
    balance_after: int             # savings after this row
    missing_after: int             # still needed for the next term after this row
    reverses: LedgerEntry | None   # for a reversal: the row it cancels
    reversed_by: LedgerEntry | None  # for a row reversed since: its reversal

    @property
    def recorded_on(self) -> date:
        return local_date(self.entry.recorded_at)


def receipt_of(entry: LedgerEntry) -> Receipt:
    """Everything a receipt shows, read in the current scope."""
    enrollment = db.session.scalar(select(Enrollment).where(
        Enrollment.tenant_id == entry.tenant_id, Enrollment.id == entry.enrollment_id))
    member = db.session.scalar(select(Member).where(
        Member.tenant_id == entry.tenant_id, Member.id == entry.member_id))
    partner = db.session.get(Partner, entry.collected_by_partner_id)
    officer = db.session.get(User, entry.recorded_by_id) if entry.recorded_by_id else None
    entries = ledger.entries_of(enrollment)
    # The rows up to and including this one, in the engine's order: what this row added.
    key = (entry.received_on, str(entry.id))
    upto = [e for e in entries if (e.received_on, str(e.id)) <= key]
    before = ledger.coverage_of(enrollment, [e for e in upto if e.id != entry.id])
    after = ledger.coverage_of(enrollment, upto)
    bought = after.periods[len(before.periods):] if entry.kind == EntryKind.PAYMENT else ()
    reverses = next((e for e in entries if e.id == entry.reverses_id), None)
    reversed_by = next((e for e in entries if e.reverses_id == entry.id), None)
    amount = abs(entry.amount)
    return Receipt(entry=entry, partner=partner, member=member, enrollment=enrollment,
                   officer=officer.name if officer else "—", figures=format_rupiah(amount),
                   words=rupiah_words(amount), periods=tuple(bought),
                   balance_after=after.balance, missing_after=after.amount_due,
                   reverses=reverses, reversed_by=reversed_by)


def _dmy(d: date) -> str:
    return d.strftime("%d-%m-%Y")


def pdf(receipt: Receipt, labels: dict[str, str]) -> bytes:
    """The printable receipt (A5). `labels` holds the translated captions, so the PDF is
    in the user's language like the page."""
    doc = FPDF(format=(148, 210))  # A5, in millimetres
    doc.set_title(receipt.entry.receipt_number or "")
    doc.set_creator("Bungkesmas")
    doc.add_page()
    doc.set_auto_page_break(True, 12)

    def text(value: str) -> str:
        # The core fonts are Latin-1: anything else prints as '?' rather than failing.
        return str(value).encode("latin-1", "replace").decode("latin-1")

    doc.set_font("Helvetica", "B", 14)
    doc.cell(0, 8, text(receipt.partner.name), new_x="LMARGIN", new_y="NEXT")
    doc.set_font("Helvetica", "", 10)
    doc.cell(0, 6, text(labels["title"]), new_x="LMARGIN", new_y="NEXT")
    doc.ln(2)
    rows = [
        (labels["number"], receipt.entry.receipt_number or ""),
        (labels["date"], _dmy(receipt.entry.received_on)),
        (labels["member"], f"{receipt.member.full_name} ({receipt.member.member_number})"),
        (labels["product"], receipt.enrollment.product_version.product.name),
        (labels["kind"], labels["kind_value"]),
        (labels["method"], labels["method_value"]),
    ]
    if receipt.entry.external_reference:
        rows.append((labels["reference"], receipt.entry.external_reference))
    if receipt.entry.reason:
        rows.append((labels["reason"], receipt.entry.reason))
    rows.append((labels["officer"], receipt.officer))
    for caption, value in rows:
        doc.set_font("Helvetica", "B", 10)
        doc.cell(38, 6, text(caption))
        doc.set_font("Helvetica", "", 10)
        doc.multi_cell(0, 6, text(value), new_x="LMARGIN", new_y="NEXT")
    doc.ln(2)
    doc.set_font("Helvetica", "B", 16)
    doc.cell(0, 9, text(("-" if receipt.entry.amount < 0 else "") + receipt.figures),
             new_x="LMARGIN", new_y="NEXT")
    doc.set_font("Helvetica", "I", 10)
    doc.multi_cell(0, 6, text(receipt.words), new_x="LMARGIN", new_y="NEXT")
    doc.ln(2)
    doc.set_font("Helvetica", "", 10)
    for line in labels["cover_lines"]:
        doc.multi_cell(0, 6, text(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def cover_end(period: Period) -> date:
    """The last day of a period (its end is exclusive)."""
    return period.end - timedelta(days=1)
