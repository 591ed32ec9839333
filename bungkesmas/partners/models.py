"""Partners: the tenants of the platform and their lifecycle."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bungkesmas.extensions import db
from bungkesmas.timeutil import utcnow


class PartnerStatus(enum.StrEnum):
    APPLIED = "applied"
    INFO_REQUESTED = "info_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class PartnerType(enum.StrEnum):
    NGO = "ngo"
    COOPERATIVE = "cooperative"
    WASTE_BANK = "waste_bank"
    ASSOCIATION = "association"
    OTHER = "other"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored as strings with a CHECK constraint: portable and easy to extend in a migration.
    return Enum(cls, name=name, native_enum=False, length=32,
                values_callable=lambda e: [m.value for m in e], create_constraint=True)


class Partner(db.Model):
    """A partner organisation; once approved, a tenant with a workspace at /p/<slug>/."""

    __tablename__ = "partners"
    __table_args__ = (
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint("hosting_partner_id IS NULL OR hosting_partner_id <> id",
                        name="not_own_host"),
        CheckConstraint("expected_members >= 0 AND expected_groups >= 0", name="expected_nonneg"),
        Index("ix_partners_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str | None] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    org_type: Mapped[PartnerType] = mapped_column(_enum(PartnerType, "partner_type"))
    status: Mapped[PartnerStatus] = mapped_column(
        _enum(PartnerStatus, "partner_status"), default=PartnerStatus.APPLIED
    )
    province_code: Mapped[str] = mapped_column(String(2))
    regency_code: Mapped[str] = mapped_column(String(5), index=True)
    address: Mapped[str] = mapped_column(String(500), default="")
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_phone: Mapped[str] = mapped_column(String(20))
    contact_email: Mapped[str] = mapped_column(String(254))
    expected_members: Mapped[int] = mapped_column(default=0)
    expected_groups: Mapped[int] = mapped_column(default=0)
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    # Until this partner has an MOU in force, the hosting partner may register and enroll
    # members on its behalf (they live in the host's workspace, marked as hosted).
    hosting_partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    # The provider's last message to the applicant (info requested, rejection,
    # suspension or termination reason); the full history is in the audit log.
    status_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[Partner | None] = relationship(
        remote_side=[id], foreign_keys=[parent_id], lazy="joined"
    )
    referrer: Mapped[Partner | None] = relationship(remote_side=[id], foreign_keys=[referrer_id])
    hosting_partner: Mapped[Partner | None] = relationship(
        remote_side=[id], foreign_keys=[hosting_partner_id])

    @property
    def is_active(self) -> bool:
        return self.status == PartnerStatus.APPROVED

    def __repr__(self) -> str:
        return f"<Partner {self.id} {self.slug or self.name!r} {self.status}>"
