"""Waste bank price lists and deposits in the API. The token fixes the partner, which
must be a waste bank (403 otherwise); a deposit credits the member's contribution."""

from __future__ import annotations

from flask import abort, g
from flask_babel import gettext as _

from bungkesmas.api.idempotency import DOC, idempotent
from bungkesmas.api.views import blp, require
from bungkesmas.auth.permissions import Permission
from bungkesmas.errors import DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.members import numbers
from bungkesmas.partners.models import Partner
from bungkesmas.timeutil import local_today
from bungkesmas.waste import services as waste
from bungkesmas.waste.models import WasteDeposit
from bungkesmas.waste.schemas import (
    CategoryCreateSchema,
    CategorySchema,
    DepositCreateSchema,
    DepositPageSchema,
    DepositQuerySchema,
    DepositSchema,
    PriceCreateSchema,
    PriceListSchema,
    PriceQuerySchema,
    PriceSchema,
)


def _waste_bank(permission: Permission) -> Partner:
    partner = g.api.partner
    if partner is None:
        abort(403)  # provider tokens: no waste bank of their own
    require(permission)
    if not waste.is_waste_bank(partner):
        raise NotAllowed(_("Only a waste bank keeps a waste price list and takes deposits."))
    return partner


def _price(price) -> dict | None:
    if price is None:
        return None
    return {"id": price.id, "price_per_kg": price.price_per_kg,
            "effective_from": price.effective_from, "recorded_at": price.recorded_at}


@blp.route("/waste/prices")
@blp.arguments(PriceQuerySchema, location="query")
@blp.response(200, PriceListSchema)
def list_waste_prices(args):
    """The waste bank's categories with the price in force on a date, the next
    scheduled change and the full price history."""
    partner = _waste_bank(Permission.WASTE_VIEW)
    on = args["on"] or local_today(partner)
    in_force, upcoming = waste.prices_in_force(partner, on), waste.next_prices(partner, on)
    items = []
    for category in waste.categories(partner):
        history = [{**_price(row.price), "state": row.state}
                   for row in waste.price_history(partner, category, on)]
        items.append({"id": category.id, "name": category.name, "material": category.material,
                      "active": category.active, "price": _price(in_force.get(category.id)),
                      "next_price": _price(upcoming.get(category.id)), "history": history})
    return {"on": on, "items": items}


@blp.route("/waste/prices", methods=["POST"])
@blp.arguments(PriceCreateSchema)
@blp.response(201, PriceSchema)
def create_waste_price(args):
    """Add a price for a category from a date on (earlier prices are never changed)."""
    partner = _waste_bank(Permission.WASTE_PRICES_MANAGE)
    category = waste.category_by_id(partner, args["category_id"])
    if category is None:
        raise DomainError(_("Choose a category from the price list."), "category_id")
    price = waste.add_price(g.api.user, partner, category, args["price_per_kg"],
                            args["effective_from"])
    db.session.commit()
    return _price(price)


@blp.route("/waste/categories", methods=["POST"])
@blp.arguments(CategoryCreateSchema)
@blp.response(201, CategorySchema)
def create_waste_category(args):
    """Add a waste category (give it a price before deposits can use it)."""
    partner = _waste_bank(Permission.WASTE_PRICES_MANAGE)
    category = waste.create_category(g.api.user, partner, args["name"], args["material"])
    db.session.commit()
    return category


@blp.route("/waste/deposits")
@blp.arguments(DepositQuerySchema, location="query")
@blp.response(200, DepositPageSchema)
def list_waste_deposits(args):
    """The waste bank's deposits, newest first; by member number and date range."""
    partner = _waste_bank(Permission.WASTE_VIEW)
    stmt = waste.deposits(partner).where(WasteDeposit.tenant_id == partner.id)
    if args["member_number"] is not None:
        stmt = stmt.where(WasteDeposit.member_number == numbers.normalise(args["member_number"]))
    if args["date_from"] is not None:
        stmt = stmt.where(WasteDeposit.deposited_on >= args["date_from"])
    if args["date_to"] is not None:
        stmt = stmt.where(WasteDeposit.deposited_on <= args["date_to"])
    page = db.paginate(stmt, page=args["page"], per_page=args["per_page"], error_out=False)
    return {"items": page.items, "page": page.page, "per_page": page.per_page,
            "total": page.total}


@blp.route("/waste/deposits", methods=["POST"])
@blp.doc(**DOC)
@idempotent
@blp.arguments(DepositCreateSchema)
@blp.response(201, DepositSchema)
def create_waste_deposit(args, idempotency_key=None):
    """Record a member's deposit of sorted waste: each line is valued with the price in
    force on the deposit date, and the total is credited to the member's contribution
    (a ledger row with method `waste` and a receipt number). Send an `Idempotency-Key`
    header to make the request safe to repeat."""
    partner = _waste_bank(Permission.WASTE_DEPOSITS_RECORD)
    lines = [waste.LineInput(line["category_id"], line["weight_kg"]) for line in args["lines"]]
    # No commit here: the idempotency decorator commits with the stored response.
    return waste.record_deposit(g.api.user, partner, args["member_number"], lines,
                                args["deposited_on"], enrollment_id=args["enrollment_id"],
                                key=idempotency_key)
