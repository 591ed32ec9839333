"""Products: defined and versioned by the provider, enabled per partner."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from bungkesmas.audit.services import record
from bungkesmas.auth.permissions import Permission
from bungkesmas.errors import Conflict, DomainError
from bungkesmas.extensions import db
from bungkesmas.partners.models import Partner
from bungkesmas.products.models import PartnerProduct, Product, ProductVersion

RULE_FIELDS = (
    "annual_contribution", "term_months", "waiting_days", "grace_days", "min_age", "max_age",
    "hospital_cash_per_night", "hospital_nights_per_year", "surgery_benefit", "death_benefit",
    "accidental_death_benefit",
)
# Sane upper bounds; whole rupiah and whole days or months.
LIMITS = {
    "annual_contribution": 100_000_000, "term_months": 60, "waiting_days": 365,
    "grace_days": 365, "min_age": 120, "max_age": 120, "hospital_cash_per_night": 100_000_000,
    "hospital_nights_per_year": 366, "surgery_benefit": 1_000_000_000,
    "death_benefit": 1_000_000_000, "accidental_death_benefit": 1_000_000_000,
}

# The Bungkesmas product as published (DOMAIN.md). Surgery, waiting and grace periods
# and age limits are not published: these are placeholders for the provider to set.
BUNGKESMAS_DEFAULTS = {
    "annual_contribution": 150_000, "term_months": 12, "waiting_days": 30, "grace_days": 30,
    "min_age": 0, "max_age": 65, "hospital_cash_per_night": 100_000,
    "hospital_nights_per_year": 90, "surgery_benefit": 1_000_000, "death_benefit": 2_500_000,
    "accidental_death_benefit": 20_000_000,
}


def _require(actor) -> None:
    from bungkesmas.partners.services import require

    require(actor, Permission.PRODUCTS_MANAGE)


def _check_rules(rules: dict) -> dict:
    out = {}
    for field in RULE_FIELDS:
        value = rules.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LIMITS[field]:
            raise DomainError(_("Enter a whole number from 0 to %(max)d.", max=LIMITS[field]), field)
        out[field] = value
    if out["annual_contribution"] <= 0:
        raise DomainError(_("The contribution must be more than zero."), "annual_contribution")
    if out["term_months"] <= 0:
        raise DomainError(_("The term must be at least one month."), "term_months")
    if out["max_age"] < out["min_age"]:
        raise DomainError(_("The maximum age must not be below the minimum age."), "max_age")
    return out


def create(actor, code: str, name: str, rules: dict) -> Product:
    _require(actor)
    code, name = (code or "").strip().upper(), (name or "").strip()
    if not code or len(code) > 20:
        raise DomainError(_("Give a code of at most 20 characters."), "code")
    if not name or len(name) > 200:
        raise DomainError(_("Give a name of at most 200 characters."), "name")
    if db.session.scalar(select(Product.id).where(Product.code == code)):
        raise Conflict(_("A product with this code exists."), "code")
    product = Product(code=code, name=name)
    db.session.add(product)
    db.session.flush()
    version = ProductVersion(product_id=product.id, version=1, created_by_id=getattr(actor, "id", None),
                             **_check_rules(rules))
    db.session.add(version)
    db.session.flush()
    record(actor, "product.create", product, partner_id=None, after={"code": code, **rules})
    return product


def new_version(actor, product: Product, rules: dict) -> ProductVersion:
    """An edit of a product's rules: a new version; enrollments keep theirs."""
    _require(actor)
    checked = _check_rules(rules)
    current = product.current
    if all(getattr(current, k) == v for k, v in checked.items()):
        return current
    version = ProductVersion(product_id=product.id, version=current.version + 1,
                             created_by_id=getattr(actor, "id", None), **checked)
    db.session.add(version)
    db.session.flush()
    db.session.refresh(product)
    record(actor, "product.new_version", product, partner_id=None,
           before={k: getattr(current, k) for k in checked}, after=checked)
    return version


def set_enabled(actor, partner: Partner, product: Product, enabled: bool) -> None:
    _require(actor)
    row = db.session.get(PartnerProduct, (partner.id, product.id))
    if enabled and row is None:
        db.session.add(PartnerProduct(partner_id=partner.id, product_id=product.id))
    elif not enabled and row is not None:
        db.session.delete(row)
    else:
        return
    db.session.flush()
    record(actor, "product.enable" if enabled else "product.disable", product,
           partner_id=partner.id)


def all_products() -> list[Product]:
    return list(db.session.scalars(select(Product).order_by(Product.code)))


def products_named(ids) -> list[Product]:
    """The products with these ids, by name (an MOU's covered products)."""
    if not ids:
        return []
    return list(db.session.scalars(select(Product).where(Product.id.in_(list(ids)))
                                   .order_by(Product.name)))
