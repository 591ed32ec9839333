"""Contributions in the partner workspace: the member page's contributions panel
(status, cover, balance, ledger rows), recording a payment, reversing a row,
withdrawing savings, and receipts as a page and a PDF.

Registered on the workspace blueprint (`tenants.views.bp`), whose gate has resolved the
partner and scoped the session. A parent partner sees its children's ledgers and
receipts but records nothing for them (`_own` answers 403)."""

from __future__ import annotations

import uuid

from flask import Response, abort, flash, g, redirect, render_template, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from bungkesmas.auth.permissions import Permission
from bungkesmas.contributions import receipts
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.forms import (
    PaymentForm,
    ReversalForm,
    WithdrawalForm,
    kind_label,
    method_label,
    status_label,
)
from bungkesmas.contributions.models import EntryKind, LedgerEntry
from bungkesmas.contributions.terbilang import format_rupiah
from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment, EnrollmentStatus, Member
from bungkesmas.tenants.members_views import _member_or_404, _member_page, _own
from bungkesmas.tenants.views import bp, requires
from bungkesmas.timeutil import local_today
from bungkesmas.web import run


def _open_enrollments(member: Member) -> list[Enrollment]:
    return [e for e in member.enrollments if e.status != EnrollmentStatus.CANCELLED]


def panel(member: Member, own: bool, *, pay_form=None, withdraw_form=None, reverse_form=None,
          reverse_id=None) -> dict:
    """The template variables of the member page's contributions panel."""
    today = local_today(g.tenant)
    enrollments = list(member.enrollments)
    entries = list(db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.tenant_id == member.tenant_id, LedgerEntry.member_id == member.id)
        .order_by(LedgerEntry.received_on.desc(), LedgerEntry.id.desc())))
    reversed_ids = {e.reverses_id for e in entries if e.reverses_id is not None}
    accounts = []
    for enrollment in enrollments:
        rows = [e for e in entries if e.enrollment_id == enrollment.id]
        cover = ledger.coverage_of(enrollment, sorted(rows, key=lambda e: (e.received_on, e.id)))
        accounts.append({"enrollment": enrollment, "cover": cover, "rows": rows,
                         "status": ledger.status_of(enrollment, today)})
    can_record = own and Permission.CONTRIBUTIONS_RECORD in g.permissions
    can_reverse = own and Permission.CONTRIBUTIONS_REVERSE in g.permissions
    can_withdraw = own and Permission.SAVINGS_WITHDRAW in g.permissions
    payable = _open_enrollments(member)
    if pay_form is None and can_record and payable:
        first = next(a for a in accounts if a["enrollment"] is payable[0])
        pay_form = PaymentForm(payable, formdata=None, received_on=today,
                               amount=first["cover"].amount_due or None)
    if withdraw_form is None and can_withdraw and any(a["cover"].balance > 0 for a in accounts):
        withdraw_form = WithdrawalForm([a["enrollment"] for a in accounts
                                        if a["cover"].balance > 0], formdata=None,
                                       received_on=today)
    return {
        "accounts": accounts,
        "enrollment_status": {a["enrollment"].id: a["status"] for a in accounts},
        "reversed_ids": reversed_ids, "pay_form": pay_form,
        "withdraw_form": withdraw_form, "reverse_form": reverse_form, "reverse_id": reverse_id,
        "new_reverse_form": (lambda: ReversalForm(formdata=None)) if can_reverse else None,
        "can_record": can_record, "can_reverse": can_reverse, "can_withdraw": can_withdraw,
        "contribution_status_label": status_label, "kind_label": kind_label,
        "method_label": method_label, "today": today,
    }


@bp.app_template_filter("dmy")
def dmy(value) -> str:
    return value.strftime("%d-%m-%Y") if value else "—"


@bp.app_template_filter("signed_rupiah")
def signed_rupiah(value) -> str:
    """-Rp150.000 for money out, Rp150.000 for money in."""
    return format_rupiah(int(value)) if value is not None else ""


# --- recording ----------------------------------------------------------------------------


def _chosen(enrollments: list[Enrollment], value: str) -> Enrollment | None:
    return next((e for e in enrollments if str(e.id) == value), None)


@bp.route("/peserta/<member_number>/iuran", methods=["POST"])
@requires(Permission.CONTRIBUTIONS_RECORD)
def contribution_record(member_number: str):
    member = _member_or_404(member_number)
    _own(member)
    enrollments = _open_enrollments(member)
    form = PaymentForm(enrollments)
    if form.validate_on_submit():
        enrollment = _chosen(enrollments, form.enrollment_id.data)
        entry = run(lambda: ledger.record_payment(
            current_user, enrollment, form.method.data, form.amount.data, form.received_on.data,
            form.reference.data, key=form.submission_key.data), form)
        if entry:
            flash(_("Contribution of %(amount)s recorded: receipt %(number)s.",
                    amount=format_rupiah(entry.amount), number=entry.receipt_number), "success")
            return redirect(url_for("tenants.receipt", receipt=entry.receipt_number))
    return _member_page(member, pay_form=form, status=422)


@bp.route("/peserta/<member_number>/tarik-tabungan", methods=["POST"])
@requires(Permission.SAVINGS_WITHDRAW)
def savings_withdraw(member_number: str):
    member = _member_or_404(member_number)
    _own(member)
    enrollments = list(member.enrollments)
    form = WithdrawalForm(enrollments)
    if form.validate_on_submit():
        enrollment = _chosen(enrollments, form.enrollment_id.data)
        entry = run(lambda: ledger.withdraw_savings(
            current_user, enrollment, form.amount.data, form.received_on.data,
            key=form.submission_key.data, method=form.method.data), form)
        if entry:
            flash(_("Withdrawal of %(amount)s recorded: receipt %(number)s.",
                    amount=format_rupiah(-entry.amount), number=entry.receipt_number), "success")
            return redirect(url_for("tenants.receipt", receipt=entry.receipt_number))
    return _member_page(member, withdraw_form=form, status=422)


@bp.route("/iuran/<uuid:entry_id>/batal", methods=["POST"])
@requires(Permission.CONTRIBUTIONS_REVERSE)
def contribution_reverse(entry_id: uuid.UUID):
    entry = ledger.entry_by_id(entry_id)
    if entry is None:
        abort(404)
    _own(entry)
    member = db.session.scalar(select(Member).where(Member.tenant_id == entry.tenant_id,
                                                    Member.id == entry.member_id))
    form = ReversalForm()
    if form.validate_on_submit():
        reversal = run(lambda: ledger.reverse(current_user, entry, form.reason.data,
                                              key=form.submission_key.data), form)
        if reversal:
            flash(_("Reversed: receipt %(number)s.", number=reversal.receipt_number), "success")
            return redirect(url_for("tenants.member_detail", member_number=member.member_number))
    return _member_page(member, reverse_form=form, reverse_id=entry_id, status=422)


# --- receipts -----------------------------------------------------------------------------


def _receipt_or_404(number: str) -> receipts.Receipt:
    entry = ledger.entry_by_receipt(number)
    if entry is None:
        abort(404)
    return receipts.receipt_of(entry)


def _cover_lines(receipt: receipts.Receipt) -> list[str]:
    lines = []
    if receipt.entry.kind == EntryKind.PAYMENT and receipt.periods:
        for period in receipt.periods:
            lines.append(_("Pays for cover period %(number)d: %(start)s to %(end)s.",
                           number=period.number, start=format_date(period.start, "d MMM yyyy"),
                           end=format_date(receipts.cover_end(period), "d MMM yyyy")))
            if period.waiting_until > period.start:
                lines.append(_("Waiting period until %(date)s.", date=format_date(
                    period.waiting_until, "d MMM yyyy")))
    lines.append(_("Savings balance after this receipt: %(balance)s.",
                   balance=format_rupiah(receipt.balance_after)))
    if not receipt.periods and receipt.missing_after:
        lines.append(_("Still missing for the next period of cover: %(amount)s.",
                       amount=format_rupiah(receipt.missing_after)))
    if receipt.reversed_by is not None:
        lines.append(_("Reversed on %(date)s (receipt %(number)s): %(reason)s",
                       date=format_date(receipt.reversed_by.received_on, "d MMM yyyy"),
                       number=receipt.reversed_by.receipt_number,
                       reason=receipt.reversed_by.reason))
    if receipt.reverses is not None:
        lines.append(_("Reverses receipt %(number)s.", number=receipt.reverses.receipt_number))
    return lines


@bp.route("/kuitansi/<receipt>")
@requires(Permission.RECEIPTS_VIEW)
def receipt(receipt: str):
    found = _receipt_or_404(receipt)
    return render_template("tenants/contributions/receipt.html", receipt=found,
                           cover_lines=_cover_lines(found), kind_label=kind_label,
                           method_label=method_label)


@bp.route("/kuitansi/<receipt>/pdf")
@requires(Permission.RECEIPTS_VIEW)
def receipt_pdf(receipt: str):
    found = _receipt_or_404(receipt)
    entry = found.entry
    labels = {
        "title": _("Receipt (kuitansi) of a Bungkesmas contribution"),
        "number": _("Receipt number"), "date": _("Date"), "member": _("Member"),
        "product": _("Product"), "kind": _("Kind"), "kind_value": kind_label(entry.kind),
        "method": _("Method"), "method_value": method_label(entry.method),
        "reference": _("Reference"), "reason": _("Reason"), "officer": _("Recorded by"),
        "cover_lines": _cover_lines(found),
    }
    response = Response(receipts.pdf(found, labels), mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'inline; filename="{entry.receipt_number}.pdf"')
    return response
