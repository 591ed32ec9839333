"""Provider admin: remittance (/admin/setoran) — reconciliation across partners, and per
partner its terms, statements, closing periods and the money received."""

from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from bungkesmas.contributions.terbilang import format_rupiah
from bungkesmas.extensions import db
from bungkesmas.paging import Page
from bungkesmas.partners.models import Partner
from bungkesmas.platform.views import Permission, _permissions, bp, requires
from bungkesmas.remittance import services as remittance
from bungkesmas.remittance.forms import (
    ReceiptForm,
    ReceiptReversalForm,
    SettingsForm,
    chosen_year,
    template_helpers,
)
from bungkesmas.remittance.periods import Frequency, parse_period, period_of
from bungkesmas.timeutil import local_today
from bungkesmas.web import run

# Partners per page of the overview (its totals are those of all partners).
OVERVIEW_PER_PAGE = 100


def _partner(slug: str) -> Partner:
    """A partner that has (or had) a workspace; others have no remittance."""
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug)) if len(
        slug) <= 50 else None
    if partner is None:
        abort(404)
    return partner


def _can_manage() -> bool:
    return Permission.REMITTANCE_MANAGE in _permissions()


@bp.route("/setoran")
@requires(Permission.REMITTANCE_VIEW)
def remittance_overview():
    """Every partner's statement for one month (or the quarter holding it), reconciled;
    optionally only those with a difference."""
    today = local_today()
    chosen = parse_period(request.args.get("periode", ""))
    month = (period_of(chosen.start, Frequency.MONTHLY) if chosen
             else period_of(today, Frequency.MONTHLY).previous())
    only_differences = request.args.get("selisih") == "1"
    rows = remittance.across_partners(month, today, only_differences)
    number = request.args.get("page", 1, type=int) or 1
    number = min(max(1, number), max(1, -(-len(rows) // OVERVIEW_PER_PAGE)))
    start = (number - 1) * OVERVIEW_PER_PAGE
    page = Page(items=rows[start:start + OVERVIEW_PER_PAGE], page=number,
                per_page=OVERVIEW_PER_PAGE, total=len(rows))
    return render_template(
        "platform/remittance/overview.html", page=page, month=month,
        only_differences=only_differences,
        totals={"due": sum(r.statement.due_to_provider for r in rows),
                "received": sum(r.statement.received for r in rows)},
        **template_helpers())


def _partner_page(partner: Partner, settings_form=None, receipt_form=None, status=200):
    today = local_today(partner)
    year = chosen_year()
    terms = remittance.terms_on(partner.id, today)
    if settings_form is None:
        settings_form = SettingsForm(data={"fee_share_bp": terms.fee_share_bp,
                                           "frequency": terms.frequency.value,
                                           "due_day": terms.due_day})
    receipt_form = receipt_form or ReceiptForm(formdata=None, received_on=today)
    _statement_choices(partner, receipt_form)
    return render_template(
        "platform/remittance/partner.html", partner=partner, terms=terms, year=year,
        statements=remittance.periods(partner.id, today, year),
        receipts=remittance.receipts_of(partner.id), settings_form=settings_form,
        receipt_form=receipt_form, can_manage=_can_manage(),
        years=range(today.year, today.year - 6, -1), **template_helpers()), status


def _statement_choices(partner: Partner, form: ReceiptForm) -> None:
    form.statement.choices = [SelectChoice("", _("— choose —"))] + [
        SelectChoice(s.number, f"{s.number} · {format_rupiah(s.due_to_provider)}")
        for s in remittance.issued_statements(partner.id)]


@bp.route("/setoran/<slug>")
@requires(Permission.REMITTANCE_VIEW)
def remittance_partner(slug: str):
    return _partner_page(_partner(slug))


@bp.route("/setoran/<slug>/pengaturan", methods=["POST"])
@requires(Permission.REMITTANCE_MANAGE)
def remittance_settings(slug: str):
    partner = _partner(slug)
    form = SettingsForm()
    if form.validate_on_submit() and run(lambda: remittance.update_settings(
            current_user, partner, form.fee_share_bp.data, form.frequency.data,
            form.due_day.data), form):
        flash(_("Saved."), "success")
        return redirect(url_for("platform.remittance_partner", slug=partner.slug))
    return _partner_page(partner, settings_form=form, status=422)


@bp.route("/setoran/<slug>/terima", methods=["POST"])
@requires(Permission.REMITTANCE_MANAGE)
def remittance_receive(slug: str):
    partner = _partner(slug)
    form = ReceiptForm()
    _statement_choices(partner, form)
    if form.validate_on_submit() and run(lambda: remittance.record_receipt(
            current_user, partner, form.statement.data, form.amount.data,
            form.received_on.data, form.bank_reference.data, form.submission_key.data), form):
        flash(_("Recorded: %(amount)s received for %(number)s.",
                amount=format_rupiah(form.amount.data),
                number=form.statement.data), "success")
        return redirect(url_for("platform.remittance_partner", slug=partner.slug))
    return _partner_page(partner, receipt_form=form, status=422)


@bp.route("/setoran/<slug>/terima/<uuid:remittance_id>/batal", methods=["POST"])
@requires(Permission.REMITTANCE_MANAGE)
def remittance_reverse(slug: str, remittance_id: uuid.UUID):
    partner = _partner(slug)
    form = ReceiptReversalForm()
    if not form.validate_on_submit():
        for messages in form.errors.values():
            for message in messages:
                flash(message, "error")
        return _partner_page(partner, status=422)
    if run(lambda: remittance.reverse_receipt(current_user, partner, remittance_id,
                                              form.reason.data), form):
        flash(_("The receipt was reversed."), "success")
        return redirect(url_for("platform.remittance_partner", slug=partner.slug))
    for message in [*form.reason.errors, *form.form_errors]:
        flash(message, "error")
    return _partner_page(partner, status=422)


@bp.route("/setoran/<slug>/<statement>")
@requires(Permission.REMITTANCE_VIEW)
def remittance_statement(slug: str, statement: str):
    partner = _partner(slug)
    found = remittance.reconcile(remittance.find(partner.id, statement))
    can_close = (_can_manage() and found.state == remittance.PeriodState.OPEN
                 and remittance.closable(found))
    return render_template("platform/remittance/statement.html", partner=partner,
                           statement=found, can_close=can_close, **template_helpers())


@bp.route("/setoran/<slug>/<statement>/tutup", methods=["POST"])
@requires(Permission.REMITTANCE_MANAGE)
def remittance_close(slug: str, statement: str):
    partner = _partner(slug)
    found = remittance.find(partner.id, statement)
    if found.state == remittance.PeriodState.ISSUED:
        flash(_("This period is closed already."), "error")
    elif issued := run(lambda: remittance.issue(current_user, partner, found.period)):
        flash(_("Period %(period)s closed: statement %(number)s issued.", period=issued.key,
                number=issued.number), "success")
        return redirect(url_for("platform.remittance_statement", slug=partner.slug,
                                statement=issued.number))
    return redirect(url_for("platform.remittance_statement", slug=partner.slug,
                            statement=found.ref))
