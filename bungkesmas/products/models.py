"""Products and their versions (provider-owned), and which partner offers which."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bungkesmas.extensions import db
from bungkesmas.timeutil import utcnow


class Product(db.Model):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ProductVersion]] = relationship(
        back_populates="product", order_by="ProductVersion.version")

    @property
    def current(self) -> ProductVersion:
        return self.versions[-1]


class ProductVersion(db.Model):
    """The rules a product was sold under. Never edited: an edit makes a new version,
    and an enrollment keeps the version it was sold under. Money in whole rupiah."""

    __tablename__ = "product_versions"
    __table_args__ = (
        UniqueConstraint("product_id", "version"),
        CheckConstraint(
            "annual_contribution > 0 AND term_months > 0 AND waiting_days >= 0 "
            "AND grace_days >= 0 AND min_age >= 0 AND max_age >= min_age "
            "AND hospital_cash_per_night >= 0 AND hospital_nights_per_year >= 0 "
            "AND surgery_benefit >= 0 AND death_benefit >= 0 AND accidental_death_benefit >= 0",
            name="sane"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    version: Mapped[int]
    annual_contribution: Mapped[int]
    term_months: Mapped[int]
    waiting_days: Mapped[int]
    grace_days: Mapped[int]
    min_age: Mapped[int]
    max_age: Mapped[int]
    hospital_cash_per_night: Mapped[int]
    hospital_nights_per_year: Mapped[int]
    surgery_benefit: Mapped[int]
    death_benefit: Mapped[int]
    accidental_death_benefit: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    product: Mapped[Product] = relationship(back_populates="versions", lazy="joined")


class PartnerProduct(db.Model):
    """A product the provider enabled for a partner (a provider setting, hence global)."""

    __tablename__ = "partner_products"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    enabled_at: Mapped[datetime] = mapped_column(default=utcnow)
