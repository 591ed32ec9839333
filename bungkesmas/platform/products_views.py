"""Provider admin: products. An edit of the rules makes a new version (enrollments keep
theirs); which partners offer a product is a list of checkboxes."""

from __future__ import annotations

import re

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import IntegerField, SelectMultipleField, StringField
from wtforms.validators import StopValidation
from wtforms.widgets import CheckboxInput, ListWidget, TextInput

from bungkesmas.contributions.terbilang import format_rupiah
from bungkesmas.extensions import db
from bungkesmas.forms import Form, length, required, strip
from bungkesmas.members.models import Enrollment
from bungkesmas.partners import services as partners
from bungkesmas.platform.views import Permission, bp, requires
from bungkesmas.products import services as product_services
from bungkesmas.products.models import PartnerProduct, Product, ProductVersion
from bungkesmas.web import run

_DIGITS = re.compile(r"\d{1,15}")


class WholeNumberField(IntegerField):
    """A whole number from 0 to `most` (rupiah, days, months, years): digits only, so
    that a decimal, a negative number or a thousands separator is a field error rather
    than a silent guess."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, *, most: int, **kwargs):
        render_kw = {"inputmode": "numeric", "autocomplete": "off", **kwargs.pop("render_kw", {})}
        super().__init__(label, validators, render_kw=render_kw, **kwargs)
        self.most = most

    def process_formdata(self, valuelist):
        self.raw = (valuelist[0] if valuelist else "") or ""
        self.raw = self.raw.strip() if isinstance(self.raw, str) else ""
        self.data = int(self.raw) if _DIGITS.fullmatch(self.raw) else None

    def pre_validate(self, form):
        raw = getattr(self, "raw", None)
        if raw is None:  # nothing submitted: the default stands
            raw = "" if self.data is None else str(self.data)
        if not raw:
            raise StopValidation(_("This field is required."))
        if self.data is None or self.data > self.most:
            raise StopValidation(_("Enter a whole number from 0 to %(max)d, without dots, "
                                   "commas or decimals.", max=self.most))

    def _value(self):
        if getattr(self, "raw", None) is not None:
            return self.raw
        return "" if self.data is None else str(self.data)


def _rule(name: str, label):
    return WholeNumberField(label, most=product_services.LIMITS[name],
                            default=product_services.BUNGKESMAS_DEFAULTS[name])


class ProductRulesForm(Form):
    """The rules of a product version. Money in whole rupiah."""

    annual_contribution = _rule("annual_contribution", _l("Contribution per year (Rp)"))
    term_months = _rule("term_months", _l("Term of cover (months)"))
    waiting_days = _rule("waiting_days", _l("Waiting period (days)"))
    grace_days = _rule("grace_days", _l("Grace period (days)"))
    min_age = _rule("min_age", _l("Minimum age (years)"))
    max_age = _rule("max_age", _l("Maximum age (years)"))
    hospital_cash_per_night = _rule("hospital_cash_per_night",
                                    _l("Hospital cash per night (Rp)"))
    hospital_nights_per_year = _rule("hospital_nights_per_year",
                                     _l("Hospital nights per year"))
    surgery_benefit = _rule("surgery_benefit", _l("Surgery benefit (Rp)"))
    death_benefit = _rule("death_benefit", _l("Death benefit (Rp)"))
    accidental_death_benefit = _rule("accidental_death_benefit",
                                     _l("Accidental death benefit (Rp)"))

    def rules(self) -> dict:
        return {name: self[name].data for name in product_services.RULE_FIELDS}


class ProductForm(ProductRulesForm):
    code = StringField(_l("Code"), [required(), length(20)], filters=[strip])
    name = StringField(_l("Name"), [required(), length(200)], filters=[strip])


class ProductPartnersForm(Form):
    partner_ids = SelectMultipleField(_l("Partners that offer this product"), coerce=int,
                                      widget=ListWidget(prefix_label=False),
                                      option_widget=CheckboxInput())


GROUPS = (
    (_l("Contribution and periods"), ("annual_contribution", "term_months", "waiting_days",
                                      "grace_days", "min_age", "max_age")),
    (_l("Benefits"), ("hospital_cash_per_night", "hospital_nights_per_year", "surgery_benefit",
                      "death_benefit", "accidental_death_benefit")),
)


@bp.app_template_filter("rupiah")
def rupiah(value) -> str:
    """Rp150.000 — whole rupiah with Indonesian thousands separators."""
    return "" if value is None else format_rupiah(int(value))


def _product(product_id: int) -> Product:
    return db.get_or_404(Product, product_id)


def _enrollments_per_version(product: Product) -> dict[int, int]:
    return dict(db.session.execute(
        select(Enrollment.product_version_id, func.count())
        .join(ProductVersion, ProductVersion.id == Enrollment.product_version_id)
        .where(ProductVersion.product_id == product.id)
        .group_by(Enrollment.product_version_id)).all())


def _partners_form(product: Product) -> ProductPartnersForm:
    """The checkboxes: the submitted ones on a POST, the current state otherwise."""
    approved = partners.approved_partners()
    enabled = set(db.session.scalars(select(PartnerProduct.partner_id).where(
        PartnerProduct.product_id == product.id)))
    form = ProductPartnersForm(partner_ids=[p.id for p in approved if p.id in enabled])
    form.partner_ids.choices = [(p.id, p.name) for p in approved]
    return form


@bp.route("/products")
@requires(Permission.PRODUCTS_MANAGE)
def products():
    rows = product_services.all_products()
    offered = dict(db.session.execute(
        select(PartnerProduct.product_id, func.count()).group_by(PartnerProduct.product_id)).all())
    return render_template("platform/products/list.html", products=rows, offered=offered)


@bp.route("/products/baru", methods=["GET", "POST"])
@requires(Permission.PRODUCTS_MANAGE)
def new_product():
    form = ProductForm()
    if form.validate_on_submit():
        product = run(lambda: product_services.create(current_user, form.code.data,
                                                      form.name.data, form.rules()), form)
        if product:
            flash(_("Product %(code)s created.", code=product.code), "success")
            return redirect(url_for("platform.product", product_id=product.id))
    status = 422 if form.is_submitted() else 200
    return render_template("platform/products/form.html", form=form, product=None,
                           groups=GROUPS), status


@bp.route("/products/<int:product_id>")
@requires(Permission.PRODUCTS_MANAGE)
def product(product_id: int):
    return _detail(_product(product_id))


def _detail(product: Product, partners_form=None, status=200):
    return render_template(
        "platform/products/detail.html", product=product,
        versions=list(reversed(product.versions)), groups=GROUPS,
        enrollments=_enrollments_per_version(product),
        partners_form=partners_form or _partners_form(product)), status


@bp.route("/products/<int:product_id>/ubah", methods=["GET", "POST"])
@requires(Permission.PRODUCTS_MANAGE)
def edit_product(product_id: int):
    """Changing the rules makes a new version; enrollments keep the one they were sold under."""
    product = _product(product_id)
    form = ProductRulesForm(data={k: getattr(product.current, k)
                                  for k in product_services.RULE_FIELDS})
    if form.validate_on_submit():
        before = product.current.version
        version = run(lambda: product_services.new_version(current_user, product, form.rules()),
                      form)
        if version:
            if version.version == before:
                flash(_("Nothing changed."), "success")
            else:
                flash(_("Saved as version %(version)d. Enrollments keep the version they "
                        "were sold under.", version=version.version), "success")
            return redirect(url_for("platform.product", product_id=product.id))
    status = 422 if form.is_submitted() else 200
    return render_template("platform/products/form.html", form=form, product=product,
                           groups=GROUPS), status


@bp.route("/products/<int:product_id>/mitra", methods=["POST"])
@requires(Permission.PRODUCTS_MANAGE)
def product_partners(product_id: int):
    """Enable the product for the ticked partners, disable it for the others."""
    product = _product(product_id)
    form = _partners_form(product)
    if not form.validate_on_submit():
        return _detail(product, partners_form=form, status=422)
    approved = {p.id: p for p in partners.approved_partners()}
    chosen = set(form.partner_ids.data or ())  # validated against the approved partners

    def apply():
        for partner_id, partner in approved.items():
            product_services.set_enabled(current_user, partner, product, partner_id in chosen)

    if run(apply, form):
        flash(_("Saved."), "success")
        return redirect(url_for("platform.product", product_id=product.id))
    return _detail(product, partners_form=form, status=422)
