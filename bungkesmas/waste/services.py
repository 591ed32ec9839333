"""Waste bank services: categories, effective-dated price lists, valued deposits.

Plain functions: they take the actor and the partner, validate, write, audit and flush;
the caller commits. Only waste bank partners keep price lists and take deposits
(`is_waste_bank`, the one place that decides it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.audit.services import record
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.members import numbers
from bungkesmas.members.models import Enrollment, EnrollmentStatus, Member
from bungkesmas.partners.models import Partner, PartnerStatus, PartnerType
from bungkesmas.timeutil import local_today
from bungkesmas.waste import valuation
from bungkesmas.waste.models import (
    WasteCategory,
    WasteDeposit,
    WasteDepositLine,
    WasteMaterial,
    WastePrice,
)

MAX_CATEGORY_NAME = 80
MAX_PRICE_LEAD_DAYS = 366   # a price may be announced up to a year ahead
DEPOSIT_COUNTER = "waste_deposit"


def is_waste_bank(partner: Partner | None) -> bool:
    """Whether `partner` keeps a waste price list and takes deposits: partners of type
    waste bank. (A provider switch for other partners would be decided here.)"""
    return partner is not None and partner.org_type == PartnerType.WASTE_BANK


def _require_waste_bank(partner: Partner) -> None:
    if not is_waste_bank(partner):
        raise NotAllowed(_("Only a waste bank keeps a waste price list and takes deposits."))
    if partner.status != PartnerStatus.APPROVED:
        raise NotAllowed(_("The partner is not active; its data is read-only."))


# --- categories ------------------------------------------------------------------------


def categories(partner: Partner, *, active_only: bool = False) -> list[WasteCategory]:
    stmt = select(WasteCategory).where(WasteCategory.tenant_id == partner.id)
    if active_only:
        stmt = stmt.where(WasteCategory.active)
    return list(db.session.scalars(stmt.order_by(WasteCategory.material, WasteCategory.name)))


def category_by_id(partner: Partner, category_id) -> WasteCategory | None:
    if not isinstance(category_id, uuid.UUID):
        try:
            category_id = uuid.UUID(str(category_id))
        except ValueError:
            return None
    return db.session.scalar(select(WasteCategory).where(
        WasteCategory.tenant_id == partner.id, WasteCategory.id == category_id))


def _clean_category(partner: Partner, name, material, category: WasteCategory | None = None):
    name = " ".join((name or "").split()) if isinstance(name, str) else ""
    if not 2 <= len(name) <= MAX_CATEGORY_NAME:
        raise DomainError(_("Use between %(min)d and %(max)d characters.", min=2,
                            max=MAX_CATEGORY_NAME), "name")
    try:
        material = WasteMaterial(material)
    except ValueError:
        raise DomainError(_("Choose the material."), "material") from None
    same = db.session.scalar(select(WasteCategory.id).where(
        WasteCategory.tenant_id == partner.id,
        func.lower(WasteCategory.name) == name.lower()))
    if same is not None and (category is None or same != category.id):
        raise Conflict(_("There is already a category with this name."), "name")
    return name, material


def create_category(actor, partner: Partner, name: str, material) -> WasteCategory:
    """Add a waste category to the partner's price list (priced separately)."""
    _require_waste_bank(partner)
    name, material = _clean_category(partner, name, material)
    category = WasteCategory(tenant_id=partner.id, name=name, material=material)
    db.session.add(category)
    db.session.flush()
    record(actor, "waste.category.create", category, partner_id=partner.id,
           after={"name": name, "material": str(material)})
    return category


def update_category(actor, partner: Partner, category: WasteCategory, name: str, material,
                    active: bool) -> WasteCategory:
    """Rename a category, change its material, retire it or bring it back. Deposits keep
    the name the category had when they were weighed."""
    _require_waste_bank(partner)
    if category.tenant_id != partner.id:
        raise LookupError(category.id)
    name, material = _clean_category(partner, name, material, category)
    before = {"name": category.name, "material": str(category.material),
              "active": category.active}
    after = {"name": name, "material": str(material), "active": bool(active)}
    if before == after:
        return category
    category.name, category.material, category.active = name, material, bool(active)
    db.session.flush()
    record(actor, "waste.category.update", category, partner_id=partner.id,
           before={k: v for k, v in before.items() if v != after[k]},
           after={k: v for k, v in after.items() if v != before[k]})
    return category


# --- prices ----------------------------------------------------------------------------


def _newest_first(stmt):
    return stmt.order_by(WastePrice.effective_from.desc(), WastePrice.recorded_at.desc(),
                         WastePrice.id.desc())


def price_in_force(partner: Partner, category_id: uuid.UUID, on: date) -> WastePrice | None:
    """The price of a category on a date: the latest row effective on or before it."""
    return db.session.scalar(_newest_first(select(WastePrice).where(
        WastePrice.tenant_id == partner.id, WastePrice.category_id == category_id,
        WastePrice.effective_from <= on)).limit(1))


def prices_in_force(partner: Partner, on: date) -> dict[uuid.UUID, WastePrice]:
    """The price of every category on a date, in one query."""
    found: dict[uuid.UUID, WastePrice] = {}
    for price in db.session.scalars(_newest_first(select(WastePrice).where(
            WastePrice.tenant_id == partner.id, WastePrice.effective_from <= on))):
        found.setdefault(price.category_id, price)
    return found


def next_prices(partner: Partner, on: date) -> dict[uuid.UUID, WastePrice]:
    """The next price change scheduled after `on`, per category."""
    found: dict[uuid.UUID, WastePrice] = {}
    for price in db.session.scalars(select(WastePrice).where(
            WastePrice.tenant_id == partner.id, WastePrice.effective_from > on).order_by(
            WastePrice.effective_from, WastePrice.recorded_at.desc(), WastePrice.id.desc())):
        found.setdefault(price.category_id, price)
    return found


@dataclass(frozen=True)
class PriceRow:
    price: WastePrice
    state: str   # "in_force", "scheduled", "past" or "superseded" (a same-day correction)


def price_history(partner: Partner, category: WasteCategory, on: date) -> list[PriceRow]:
    """Every price row of a category, newest first, each marked with its state on `on`."""
    rows = list(db.session.scalars(_newest_first(select(WastePrice).where(
        WastePrice.tenant_id == partner.id, WastePrice.category_id == category.id))))
    out, seen_dates, in_force_seen = [], set(), False
    for price in rows:
        if price.effective_from in seen_dates:
            state = "superseded"
        elif price.effective_from > on:
            state = "scheduled"
        elif not in_force_seen:
            state, in_force_seen = "in_force", True
        else:
            state = "past"
        seen_dates.add(price.effective_from)
        out.append(PriceRow(price, state))
    return out


def add_price(actor, partner: Partner, category: WasteCategory, price_per_kg,
              effective_from, *, today: date | None = None) -> WastePrice:
    """Record a new price for a category from a date on; earlier prices stay as they are.

    Rules: the price is whole rupiah, 1 to MAX_PRICE_PER_KG; the date is at most
    MAX_PRICE_LEAD_DAYS ahead; a category's first price may start on an earlier date
    (no deposit can have used the category yet), a change only today or later — deposits
    already valued would otherwise disagree with the list. A second price from the same
    date replaces the first from then on (a correction; both stay in the history, and
    every deposit line names the price row it used)."""
    _require_waste_bank(partner)
    if category.tenant_id != partner.id:
        raise LookupError(category.id)
    if not category.active:
        raise DomainError(_("This category is retired; bring it back first."), "category_id")
    today = today or local_today(partner)
    if isinstance(price_per_kg, bool) or not isinstance(price_per_kg, int):
        raise DomainError(_("Enter the price in whole rupiah."), "price_per_kg")
    if not 1 <= price_per_kg <= valuation.MAX_PRICE_PER_KG:
        raise DomainError(_("Enter a price from Rp1 to Rp%(max)s per kg.",
                            max=f"{valuation.MAX_PRICE_PER_KG:,}".replace(",", ".")),
                          "price_per_kg")
    if not isinstance(effective_from, date):
        raise DomainError(_("Enter the date the price applies from."), "effective_from")
    if effective_from > today + timedelta(days=MAX_PRICE_LEAD_DAYS):
        raise DomainError(_("A price can be set at most a year ahead."), "effective_from")
    has_price = db.session.scalar(select(WastePrice.id).where(
        WastePrice.tenant_id == partner.id, WastePrice.category_id == category.id).limit(1))
    if has_price is not None and effective_from < today:
        raise DomainError(_("A price change applies from today or a later date: deposits "
                            "already valued keep the old price."), "effective_from")
    price = WastePrice(tenant_id=partner.id, category_id=category.id, price_per_kg=price_per_kg,
                       effective_from=effective_from, recorded_by_id=getattr(actor, "id", None))
    db.session.add(price)
    db.session.flush()
    record(actor, "waste.price.add", price, partner_id=partner.id,
           after={"category": category.name, "price_per_kg": price_per_kg,
                  "effective_from": effective_from.isoformat()})
    return price


# --- valuing a deposit -----------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    """One line as typed: a category id and a weight in kg (text or number)."""

    category_id: object
    weight_kg: object


@dataclass(frozen=True)
class ValuedLine:
    category: WasteCategory
    price: WastePrice
    grams: int
    value: int


WEIGHT_MESSAGES = {
    "format": lambda: _("Enter the weight in kg, e.g. 2,5."),
    "decimals": lambda: _("Enter the weight with at most 2 decimals (0,01 kg)."),
    "zero": lambda: _("The weight must be more than 0 kg."),
    "negative": lambda: _("The weight must be more than 0 kg."),
    "too_heavy": lambda: _("At most %(max)d kg per line: weigh larger loads in several lines.",
                           max=valuation.MAX_LINE_KG),
}


def line_field(index: int, name: str) -> str:
    """The error key of a line's field: `lines.<index>.<name>` (as in the API)."""
    return f"lines.{index}.{name}"


def value_lines(partner: Partner, deposited_on: date, lines: list[LineInput]) -> list[ValuedLine]:
    """Check and value the lines of a deposit with the prices in force on its date.

    Raises a DomainError naming the line's field (`lines.<i>.category_id` or
    `lines.<i>.weight_kg`) or `lines` (none, too many)."""
    if not lines:
        raise DomainError(_("Enter at least one line: a category and its weight."), "lines")
    if len(lines) > valuation.MAX_LINES:
        raise DomainError(_("At most %(max)d lines in one deposit.", max=valuation.MAX_LINES),
                          "lines")
    known = {c.id: c for c in categories(partner)}
    prices = prices_in_force(partner, deposited_on)
    valued = []
    for index, line in enumerate(lines):
        try:
            category_id = (line.category_id if isinstance(line.category_id, uuid.UUID)
                           else uuid.UUID(str(line.category_id or "")))
        except ValueError:
            category_id = None
        category = known.get(category_id)
        if category is None:
            raise DomainError(_("Choose a category from the price list."),
                              line_field(index, "category_id"))
        if not category.active:
            raise DomainError(_("%(category)s is no longer bought.", category=category.name),
                              line_field(index, "category_id"))
        try:
            grams = valuation.grams_from_kg(line.weight_kg)
        except valuation.WeightError as err:
            raise DomainError(WEIGHT_MESSAGES[err.reason](),
                              line_field(index, "weight_kg")) from None
        price = prices.get(category.id)
        if price is None:
            raise DomainError(_("%(category)s has no price on %(date)s: add a price from "
                                "that date first.", category=category.name,
                                date=deposited_on.strftime("%d-%m-%Y")),
                              line_field(index, "category_id"))
        valued.append(ValuedLine(category, price, grams,
                                 valuation.line_value(grams, price.price_per_kg)))
    return valued


# --- deposits --------------------------------------------------------------------------


def deposit_number(partner_id: int, year: int, sequence: int) -> str:
    return f"BS-{partner_id:04d}-{year}-{sequence:06d}"


def open_enrollments(member: Member) -> list[Enrollment]:
    return [e for e in member.enrollments if e.status != EnrollmentStatus.CANCELLED]


def _member_of(partner: Partner, member_number) -> Member:
    from bungkesmas.members.services import by_number

    member = by_number(member_number) if isinstance(member_number, str) else None
    if member is None or member.tenant_id != partner.id:
        raise DomainError(_("No member of %(partner)s has this number. Check the number on "
                            "the member's card.", partner=partner.name), "member_number")
    return member


def _enrollment_of(member: Member, enrollment_id) -> Enrollment:
    open_ = open_enrollments(member)
    if not open_:
        raise DomainError(_("This member is not enrolled in a product: enroll the member "
                            "first, then the deposit can pay the contribution."),
                          "member_number")
    if enrollment_id in (None, ""):
        if len(open_) > 1:
            raise DomainError(_("Choose which enrollment the deposit pays for."),
                              "enrollment_id")
        return open_[0]
    chosen = next((e for e in open_ if str(e.id) == str(enrollment_id)), None)
    if chosen is None:
        raise DomainError(_("Choose one of the member's enrollments."), "enrollment_id")
    return chosen


def deposit_by_key(partner: Partner, key: str | None) -> WasteDeposit | None:
    if not key:
        return None
    return db.session.scalar(select(WasteDeposit).where(
        WasteDeposit.tenant_id == partner.id, WasteDeposit.idempotency_key == key))


def deposit_by_id(partner: Partner, deposit_id) -> WasteDeposit | None:
    """A deposit of the partner's scope (its own, or a child waste bank's)."""
    if not isinstance(deposit_id, uuid.UUID):
        return None
    return db.session.scalar(select(WasteDeposit).where(WasteDeposit.id == deposit_id))


# Ledger error fields, as the deposit's inputs call them.
_LEDGER_FIELDS = {"amount": "lines", "received_on": "deposited_on"}


def record_deposit(actor, partner: Partner, member_number: str, lines: list[LineInput],
                   deposited_on, *, enrollment_id=None, key: str | None = None) -> WasteDeposit:
    """Weigh and value a member's deposit and credit its value to the member's enrollment
    as one ledger row (method `waste`, reference = the deposit number), in the caller's
    transaction. `key` (a form's one-time token or an Idempotency-Key) makes it safe to
    repeat: the deposit recorded before with that key is returned instead."""
    from bungkesmas.contributions import services as ledger
    from bungkesmas.contributions.models import EntryMethod

    _require_waste_bank(partner)
    earlier = deposit_by_key(partner, key)
    if earlier is not None:
        return earlier
    member = _member_of(partner, member_number)
    enrollment = _enrollment_of(member, enrollment_id)
    if not isinstance(deposited_on, date):
        raise DomainError(_("Enter the date the waste was weighed."), "deposited_on")
    if deposited_on > local_today(partner):
        raise DomainError(_("The date cannot be in the future."), "deposited_on")
    if deposited_on < ledger.enrolled_on(enrollment):
        raise DomainError(_("The date cannot be before the enrollment (%(date)s).",
                            date=ledger.enrolled_on(enrollment).strftime("%d-%m-%Y")),
                          "deposited_on")
    valued = value_lines(partner, deposited_on, lines)
    total = sum(line.value for line in valued)
    if total <= 0:
        raise DomainError(_("The deposit is worth less than Rp1: nothing to credit."), "lines")
    number = deposit_number(partner.id, deposited_on.year, numbers.next_value(
        partner.id, f"{DEPOSIT_COUNTER}_{deposited_on.year}"))
    try:
        entry = ledger.record_payment(actor, enrollment, EntryMethod.WASTE, total, deposited_on,
                                      reference=number, key=key, methods=(EntryMethod.WASTE,))
    except DomainError as err:
        err.field = _LEDGER_FIELDS.get(err.field, err.field)
        raise
    if entry.method != EntryMethod.WASTE or entry.amount != total:
        # The key was used for another ledger row (a cash payment, another deposit).
        raise Conflict(_("This key was used for another record."), "idempotency_key")
    deposit = WasteDeposit(
        id=tenancy.new_id(), tenant_id=partner.id, number=number, member_id=member.id,
        member_number=member.member_number, enrollment_id=enrollment.id,
        deposited_on=deposited_on, officer_id=getattr(actor, "id", None),
        total_grams=sum(line.grams for line in valued), total_value=total,
        ledger_entry_id=entry.id, receipt_number=entry.receipt_number, idempotency_key=key)
    db.session.add(deposit)
    for n, line in enumerate(valued, start=1):
        db.session.add(WasteDepositLine(
            tenant_id=partner.id, deposit_id=deposit.id, line_number=n,
            category_id=line.category.id, category_name=line.category.name,
            price_id=line.price.id, weight_grams=line.grams,
            price_per_kg=line.price.price_per_kg, value=line.value))
    db.session.flush()
    record(actor, "waste.deposit", deposit, partner_id=partner.id, after={
        "number": number, "member": member.member_number, "enrollment": str(enrollment.id),
        "deposited_on": deposited_on.isoformat(), "total_value": total,
        "total_grams": deposit.total_grams, "receipt": entry.receipt_number,
        "ledger_entry": str(entry.id),
        "lines": [{"category": line.category.name, "grams": line.grams,
                   "price_per_kg": line.price.price_per_kg, "value": line.value}
                  for line in valued]})
    return deposit


def deposits(partner: Partner):
    """A select of the deposits of the partner's scope, newest first."""
    return select(WasteDeposit).order_by(WasteDeposit.deposited_on.desc(),
                                         WasteDeposit.recorded_at.desc(), WasteDeposit.id.desc())


@dataclass(frozen=True)
class Credit:
    """What became of a deposit's ledger row, as far as the waste bank can see it."""

    entry: object | None       # the ledger row (None: the member was transferred away)
    reversal: object | None    # its reversal, if the credit was reversed


def credit_of(deposit: WasteDeposit) -> Credit:
    from bungkesmas.contributions.models import LedgerEntry

    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.id == deposit.ledger_entry_id))
    if entry is None:
        return Credit(None, None)
    reversal = db.session.scalar(select(LedgerEntry).where(
        LedgerEntry.tenant_id == entry.tenant_id, LedgerEntry.reverses_id == entry.id))
    return Credit(entry, reversal)
