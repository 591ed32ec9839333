"""Waste categories, their price lists and deposits (all owned by the waste bank).

Deposits stay with the waste bank that weighed the waste, like the ledger's
`collected_by_partner_id`: they are the waste bank's own records of what it took in (and
sells on). The money they credited is a ledger row of the member's enrollment, which
moves with the member when the member is transferred to another partner. So a deposit
refers to its member, enrollment and ledger row by id without a foreign key (a key
would either block the transfer or drag the waste bank's records along with the
member), and keeps the member number and the receipt number it was issued with."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bungkesmas.extensions import db
from bungkesmas.partners.models import _enum
from bungkesmas.tenancy import TenantOwned
from bungkesmas.timeutil import utcnow
from bungkesmas.waste.valuation import MAX_LINE_GRAMS, MAX_PRICE_PER_KG, WEIGHT_STEP_GRAMS


class WasteMaterial(enum.StrEnum):
    PLASTIC = "plastic"
    PAPER = "paper"
    METAL = "metal"
    GLASS = "glass"
    OTHER = "other"


class WasteCategory(TenantOwned, db.Model):
    """A kind of sorted waste the waste bank buys (e.g. "Plastik PET", "Kardus", "Besi"),
    named by the waste bank. Renamed or retired, never deleted: deposits refer to it."""

    __tablename__ = "waste_categories"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(80))
    material: Mapped[WasteMaterial] = mapped_column(_enum(WasteMaterial, "waste_material"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WastePrice(TenantOwned, db.Model):
    """A price per kg of a category from a date on. Append-only: a price change is a new
    row; the price in force on a date is the row with the latest `effective_from` on or
    before it (among rows from the same date, the one recorded last — a same-day
    correction). Deposits copy the price they used onto their lines."""

    __tablename__ = "waste_prices"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "category_id"],
                             ["waste_categories.tenant_id", "waste_categories.id"]),
        Index("ix_waste_prices_category_from", "tenant_id", "category_id", "effective_from"),
        CheckConstraint(f"price_per_kg > 0 AND price_per_kg <= {MAX_PRICE_PER_KG}",
                        name="price_range"),
    )

    category_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    price_per_kg: Mapped[int]   # whole rupiah
    effective_from: Mapped[date]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    category: Mapped[WasteCategory] = relationship(
        primaryjoin="and_(WastePrice.tenant_id == foreign(WasteCategory.tenant_id), "
                    "WastePrice.category_id == foreign(WasteCategory.id))",
        viewonly=True, lazy="joined")


class WasteDeposit(TenantOwned, db.Model):
    """Sorted waste a member brought in, weighed in lines; its value was credited to the
    member's enrollment as one ledger row (method `waste`). Append-only. See the module
    docstring for why member, enrollment and ledger row are plain ids."""

    __tablename__ = "waste_deposits"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        UniqueConstraint("tenant_id", "ledger_entry_id"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_waste_deposits_tenant_date", "tenant_id", "deposited_on"),
        Index("ix_waste_deposits_tenant_member", "tenant_id", "member_id"),
        CheckConstraint("total_value > 0 AND total_grams > 0", name="positive"),
    )

    number: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    member_number: Mapped[str] = mapped_column(String(20))
    enrollment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    deposited_on: Mapped[date]   # the waste bank's local date
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    total_grams: Mapped[int] = mapped_column(BigInteger)
    total_value: Mapped[int] = mapped_column(BigInteger)   # whole rupiah
    ledger_entry_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    receipt_number: Mapped[str | None] = mapped_column(String(40))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))

    lines: Mapped[list[WasteDepositLine]] = relationship(
        primaryjoin="and_(WasteDeposit.tenant_id == foreign(WasteDepositLine.tenant_id), "
                    "WasteDeposit.id == foreign(WasteDepositLine.deposit_id))",
        viewonly=True, order_by="WasteDepositLine.line_number", lazy="selectin")


class WasteDepositLine(TenantOwned, db.Model):
    """One weighed category of a deposit, with the price it was valued at (copied from
    the price row in force, `price_id`) and its value, rounded per line."""

    __tablename__ = "waste_deposit_lines"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "deposit_id"],
                             ["waste_deposits.tenant_id", "waste_deposits.id"]),
        ForeignKeyConstraint(["tenant_id", "category_id"],
                             ["waste_categories.tenant_id", "waste_categories.id"]),
        ForeignKeyConstraint(["tenant_id", "price_id"],
                             ["waste_prices.tenant_id", "waste_prices.id"]),
        UniqueConstraint("tenant_id", "deposit_id", "line_number"),
        Index("ix_waste_deposit_lines_category", "tenant_id", "category_id"),
        CheckConstraint(f"weight_grams > 0 AND weight_grams <= {MAX_LINE_GRAMS} "
                        f"AND weight_grams % {WEIGHT_STEP_GRAMS} = 0", name="weight_range"),
        CheckConstraint(f"price_per_kg > 0 AND price_per_kg <= {MAX_PRICE_PER_KG}",
                        name="price_range"),
        CheckConstraint("value >= 0", name="value_nonneg"),
    )

    deposit_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    line_number: Mapped[int]
    category_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    category_name: Mapped[str] = mapped_column(String(80))  # as it was called then
    price_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    weight_grams: Mapped[int]
    price_per_kg: Mapped[int]
    value: Mapped[int] = mapped_column(BigInteger)
