"""The waste bank pages of the partner workspace (/p/<slug>/bank-sampah/…): the price
list with its history, the categories, and deposits of sorted waste that pay members'
contributions.

Only a waste bank has these pages (`waste.is_waste_bank`); for any other partner they do
not exist (404). A parent partner looks at its child waste bank's pages read-only."""

from __future__ import annotations

import secrets
import uuid
from functools import wraps

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from bungkesmas.auth.models import User
from bungkesmas.auth.permissions import Permission
from bungkesmas.errors import Conflict, DomainError
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Member
from bungkesmas.platform.products_views import rupiah
from bungkesmas.tenants.views import bp, requires
from bungkesmas.timeutil import local_today
from bungkesmas.waste import services as waste
from bungkesmas.waste.forms import (
    MORE_LINES,
    PRICE_STATE_LABELS,
    ROUNDING_RULE,
    CategoryForm,
    DepositForm,
    PriceForm,
    material_label,
)
from bungkesmas.waste.valuation import MAX_LINES, kg_text
from bungkesmas.web import run, show_error

PER_PAGE = 50


def waste_bank_only(view):
    """The pages exist for a waste bank only."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not waste.is_waste_bank(g.tenant):
            abort(404)
        return view(*args, **kwargs)

    return wrapped


def _own() -> bool:
    """Changes are made in the waste bank's own workspace, never by a parent looking on
    (the parent's permissions there are read-only anyway)."""
    return Permission.WASTE_PRICES_MANAGE in g.permissions


def _category_or_404(category_id: uuid.UUID):
    category = waste.category_by_id(g.tenant, category_id)
    if category is None:
        abort(404)
    return category


def _helpers() -> dict:
    return {"material_label": material_label, "kg_text": kg_text,
            "price_state_labels": PRICE_STATE_LABELS, "rounding_rule": ROUNDING_RULE}


# --- the price list --------------------------------------------------------------------


@bp.route("/bank-sampah/harga")
@requires(Permission.WASTE_VIEW)
@waste_bank_only
def waste_prices():
    return _prices_page()


def _prices_page(price_form=None, category_form=None, status=200):
    today = local_today(g.tenant)
    categories = waste.categories(g.tenant)
    if price_form is None:
        price_form = PriceForm([c for c in categories if c.active], formdata=None,
                               effective_from=today)
    if category_form is None:
        category_form = CategoryForm(formdata=None)
    return render_template(
        "tenants/waste/prices.html", categories=categories, today=today,
        in_force=waste.prices_in_force(g.tenant, today),
        upcoming=waste.next_prices(g.tenant, today), price_form=price_form,
        category_form=category_form, can_manage=_own(), **_helpers()), status


@bp.route("/bank-sampah/harga", methods=["POST"])
@requires(Permission.WASTE_PRICES_MANAGE)
@waste_bank_only
def waste_price_add():
    categories = waste.categories(g.tenant, active_only=True)
    form = PriceForm(categories)
    if form.validate_on_submit():
        def add():
            category = waste.category_by_id(g.tenant, form.category_id.data)
            if category is None:
                raise DomainError(_("Choose a category from the list."), "category_id")
            return waste.add_price(current_user, g.tenant, category, form.price_per_kg.data,
                                   form.effective_from.data)

        if run(add, form):
            flash(_("Price saved."), "success")
            return redirect(url_for("tenants.waste_prices"))
    return _prices_page(price_form=form, status=422)


@bp.route("/bank-sampah/kategori", methods=["POST"])
@requires(Permission.WASTE_PRICES_MANAGE)
@waste_bank_only
def waste_category_create():
    form = CategoryForm()
    if form.validate_on_submit():
        category = run(lambda: waste.create_category(
            current_user, g.tenant, form.name.data, form.material.data), form)
        if category:
            flash(_("Category added. Give it a price to use it in deposits."), "success")
            return redirect(url_for("tenants.waste_prices"))
    return _prices_page(category_form=form, status=422)


@bp.route("/bank-sampah/kategori/<uuid:category_id>")
@requires(Permission.WASTE_VIEW)
@waste_bank_only
def waste_category(category_id: uuid.UUID):
    category = _category_or_404(category_id)
    return _category_page(category)


def _category_page(category, form=None, price_form=None, status=200):
    today = local_today(g.tenant)
    if form is None:
        form = CategoryForm(formdata=None, obj=category)
    if price_form is None:
        price_form = PriceForm([category], formdata=None, category_id=str(category.id),
                               effective_from=today)
    history = waste.price_history(g.tenant, category, today)
    recorders = dict(db.session.execute(select(User.id, User.name).where(
        User.id.in_({r.price.recorded_by_id for r in history if r.price.recorded_by_id}))).all())
    return render_template(
        "tenants/waste/category.html", category=category, history=history, form=form,
        price_form=price_form, recorders=recorders, can_manage=_own(), today=today,
        **_helpers()), status


@bp.route("/bank-sampah/kategori/<uuid:category_id>", methods=["POST"])
@requires(Permission.WASTE_PRICES_MANAGE)
@waste_bank_only
def waste_category_update(category_id: uuid.UUID):
    category = _category_or_404(category_id)
    form = CategoryForm()
    if form.validate_on_submit() and run(lambda: waste.update_category(
            current_user, g.tenant, category, form.name.data, form.material.data,
            form.active.data), form):
        flash(_("Saved."), "success")
        return redirect(url_for("tenants.waste_category", category_id=category_id))
    db.session.refresh(category)
    return _category_page(category, form=form, status=422)


# --- deposits --------------------------------------------------------------------------


@bp.route("/bank-sampah/setoran")
@requires(Permission.WASTE_VIEW)
@waste_bank_only
def waste_deposits():
    page = db.paginate(waste.deposits(g.tenant), per_page=PER_PAGE, error_out=False)
    names = _member_names({d.member_id for d in page.items})
    return render_template("tenants/waste/deposits.html", page=page, names=names,
                           can_record=Permission.WASTE_DEPOSITS_RECORD in g.permissions,
                           **_helpers())


def _member_names(member_ids) -> dict:
    """Names of the members still in the scope (a member transferred away since shows
    by number only)."""
    if not member_ids:
        return {}
    return dict(db.session.execute(select(Member.id, Member.full_name).where(
        Member.id.in_(member_ids))).all())


@bp.route("/bank-sampah/setoran/baru", methods=["GET", "POST"])
@requires(Permission.WASTE_DEPOSITS_RECORD)
@waste_bank_only
def waste_deposit_new():
    categories = waste.categories(g.tenant, active_only=True)
    more = request.method == "POST" and "more_lines" in request.form
    if request.method == "POST":
        form = DepositForm(categories, extra_lines=MORE_LINES if more else 0)
    else:
        form = DepositForm(categories, formdata=None, submission_key=secrets.token_urlsafe(18),
                           deposited_on=local_today(g.tenant),
                           member_number=(request.args.get("member") or "")[:30])
    if more:
        # "More lines": the same form again with empty lines added, nothing checked yet.
        return _deposit_form_page(form, categories)
    if form.validate_on_submit():
        lines = [waste.LineInput(line.category_id.data, line.weight_kg.data)
                 for _n, line in form.filled_lines()]
        key = form.submission_key.data or None
        deposit = _record(form, lines, key)
        if deposit is not None:
            flash(_("Deposit %(number)s recorded: %(value)s credited to the member.",
                    number=deposit.number, value=rupiah(deposit.total_value)), "success")
            return redirect(url_for("tenants.waste_deposit_detail", deposit_id=deposit.id))
    return _deposit_form_page(form, categories, status=422 if form.is_submitted() else 200)


def _record(form: DepositForm, lines, key):
    positions = [n for n, _line in form.filled_lines()]
    try:
        deposit = waste.record_deposit(
            current_user, g.tenant, form.member_number.data, lines, form.deposited_on.data,
            enrollment_id=request.form.get("enrollment_id") or None, key=key)
        db.session.commit()
        return deposit
    except Conflict as err:
        db.session.rollback()
        # The same form sent twice at once: the other request recorded it.
        earlier = waste.deposit_by_key(g.tenant, key)
        if earlier is not None:
            return earlier
        show_error(form, err)
    except DomainError as err:
        db.session.rollback()
        _show_line_error(form, err, positions)
    return None


def _show_line_error(form: DepositForm, err: DomainError, positions: list[int]) -> None:
    """Show a domain error next to its field; `lines.<i>.<name>` names the i-th filled
    line, which is line `positions[i]` of the form."""
    parts = (err.field or "").split(".")
    if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit() and int(
            parts[1]) < len(positions):
        line = form.lines.entries[positions[int(parts[1])]].form
        field = getattr(line, parts[2], None)
        if field is not None:
            field.errors = [*field.errors, str(err.message)]
            return
    if err.field == "lines":
        form.form_errors.append(str(err.message))
        return
    show_error(form, err)


def _deposit_form_page(form, categories, status=200):
    today = local_today(g.tenant)
    prices = waste.prices_in_force(g.tenant, today)
    return render_template("tenants/waste/deposit_form.html", form=form,
                           categories=categories, prices=prices, today=today,
                           max_lines=MAX_LINES,
                           enrollment_choices=_enrollment_choices(form.member_number.data),
                           chosen_enrollment=request.form.get("enrollment_id", ""),
                           **_helpers()), status


def _enrollment_choices(member_number) -> list[tuple[str, str]]:
    """A choice of enrollment, only for a member with more than one open enrollment."""
    member = members.by_number(member_number) if isinstance(member_number, str) else None
    if member is None or member.tenant_id != g.tenant.id:
        return []
    open_ = waste.open_enrollments(member)
    if len(open_) < 2:
        return []
    return [(str(e.id), f"{e.product_version.product.name} (v{e.product_version.version})")
            for e in open_]


@bp.route("/bank-sampah/setoran/<uuid:deposit_id>")
@requires(Permission.WASTE_VIEW)
@waste_bank_only
def waste_deposit_detail(deposit_id: uuid.UUID):
    deposit = waste.deposit_by_id(g.tenant, deposit_id)
    if deposit is None:
        abort(404)
    member = db.session.scalar(select(Member).where(Member.id == deposit.member_id))
    officer = db.session.get(User, deposit.officer_id) if deposit.officer_id else None
    credit = waste.credit_of(deposit)
    receipt_url = (url_for("tenants.receipt", receipt=deposit.receipt_number)
                   if credit.entry is not None and Permission.RECEIPTS_VIEW in g.permissions
                   else None)
    return render_template("tenants/waste/deposit.html", deposit=deposit, member=member,
                           officer=officer, credit=credit, receipt_url=receipt_url,
                           **_helpers())
