"""Members, their groups and enrollments (partner-owned), and the platform-wide registry."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bungkesmas.extensions import db
from bungkesmas.partners.models import _enum
from bungkesmas.products.models import ProductVersion
from bungkesmas.tenancy import TenantOwned
from bungkesmas.timeutil import utcnow


class Sex(enum.StrEnum):
    MALE = "L"    # laki-laki
    FEMALE = "P"  # perempuan


class EnrollmentStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    CANCELLED = "cancelled"


class Counter(TenantOwned, db.Model):
    """A per-partner number sequence (member numbers; receipts later). Incremented with
    an UPDATE, whose row lock makes concurrent enrollments take turns."""

    __tablename__ = "counters"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(32))
    value: Mapped[int] = mapped_column(default=0)


class Group(TenantOwned, db.Model):
    """A constituent group (kelompok konstituen), usually one per village."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(120))
    village_code: Mapped[str | None] = mapped_column(String(10))
    meeting_day: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Member(TenantOwned, db.Model):
    """A person enrolled (or being enrolled) in Bungkesmas through a partner.

    The NIK is kept encrypted (`nik_encrypted`), looked up by a keyed digest (`nik_digest`)
    and shown masked (`nik_masked`); the full number is never stored in clear."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("tenant_id", "member_number"),
        UniqueConstraint("tenant_id", "nik_digest"),
        ForeignKeyConstraint(["tenant_id", "group_id"], ["groups.tenant_id", "groups.id"],
                             onupdate="CASCADE"),
        Index("ix_members_tenant_name", "tenant_id", "name_key"),
        Index("ix_members_tenant_phone", "tenant_id", "phone"),
        Index("ix_members_tenant_group", "tenant_id", "group_id"),
        Index("ix_members_tenant_village", "tenant_id", "village_code"),
        Index("ix_members_hosted_for", "hosted_for_id"),
        # At most one coordinator per group.
        Index("uq_members_group_coordinator", "tenant_id", "group_id", unique=True,
              sqlite_where=db.text("is_coordinator"), postgresql_where=db.text("is_coordinator")),
    )

    member_number: Mapped[str] = mapped_column(String(20))
    full_name: Mapped[str] = mapped_column(String(200))
    # Lower-case, accents folded (services.name_key). Byte order ("C" collation) on
    # PostgreSQL, so the name index serves prefix ranges whatever the database's locale.
    name_key: Mapped[str] = mapped_column(
        String(200).with_variant(String(200, collation="C"), "postgresql"))
    nik_digest: Mapped[str] = mapped_column(String(64))
    nik_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    nik_masked: Mapped[str] = mapped_column(String(16))
    nik_mismatch_confirmed: Mapped[bool] = mapped_column(default=False)
    kk_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    kk_masked: Mapped[str | None] = mapped_column(String(16))
    birth_date: Mapped[date]
    sex: Mapped[Sex] = mapped_column(_enum(Sex, "sex"))
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(500), default="")
    province_code: Mapped[str | None] = mapped_column(String(2))
    regency_code: Mapped[str | None] = mapped_column(String(4))
    district_code: Mapped[str | None] = mapped_column(String(6))
    village_code: Mapped[str | None] = mapped_column(String(10))
    group_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    is_coordinator: Mapped[bool] = mapped_column(default=False)
    # Registered by this (host) partner on behalf of another partner that has no MOU in
    # force yet; offered for transfer to that partner once its MOU is active.
    hosted_for_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    # The version of the member's printed cards: the QR token names it, and adding one
    # (transfer, revocation: bungkesmas.selfservice) makes every earlier card invalid.
    card_version: Mapped[int] = mapped_column(default=1, server_default="1")
    beneficiary_name: Mapped[str] = mapped_column(String(200), default="")
    beneficiary_relation: Mapped[str] = mapped_column(String(60), default="")
    beneficiary_phone: Mapped[str | None] = mapped_column(String(20))
    consent_at: Mapped[datetime]
    consent_version: Mapped[str] = mapped_column(String(20))
    consent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    group: Mapped[Group | None] = relationship(
        primaryjoin="and_(Member.tenant_id == foreign(Group.tenant_id), "
                    "Member.group_id == foreign(Group.id))",
        viewonly=True, lazy="joined")
    enrollments: Mapped[list[Enrollment]] = relationship(
        primaryjoin="and_(Member.tenant_id == foreign(Enrollment.tenant_id), "
                    "Member.id == foreign(Enrollment.member_id))",
        viewonly=True, order_by="Enrollment.enrolled_at")


class Enrollment(TenantOwned, db.Model):
    """A member's enrollment in a product version.

    `status` is the administrative state only: open (`pending_payment`, the value it was
    created with) or `cancelled`. What the member's cover is on a given day follows from
    the ledger (`bungkesmas.contributions`): the columns from `first_funded_on` to
    `last_paid_on` are a snapshot of it, recomputed in the same transaction as every
    ledger row of the enrollment, so that lists and counts read the status in SQL
    (`contributions.services.status_expression`) without reading the ledger."""

    __tablename__ = "enrollments"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "member_id"], ["members.tenant_id", "members.id"],
                             onupdate="CASCADE"),
        Index("ix_enrollments_tenant_member", "tenant_id", "member_id"),
        # Who is due or overdue (bungkesmas.reminders.due): date ranges on the snapshot.
        Index("ix_enrollments_tenant_covered", "tenant_id", "covered_until"),
        Index("ix_enrollments_tenant_grace", "tenant_id", "grace_until"),
    )

    member_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    product_version_id: Mapped[int] = mapped_column(ForeignKey("product_versions.id"))
    status: Mapped[EnrollmentStatus] = mapped_column(
        _enum(EnrollmentStatus, "enrollment_status"), default=EnrollmentStatus.PENDING_PAYMENT)
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    enrolled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None]
    # The coverage snapshot (a cache of the ledger; see the class docstring).
    first_funded_on: Mapped[date | None]
    waiting_until: Mapped[date | None]   # end (exclusive) of the latest waiting period
    covered_until: Mapped[date | None]   # end (exclusive) of the last funded period
    grace_until: Mapped[date | None]     # end (exclusive) of the grace after it
    balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    terms_funded: Mapped[int] = mapped_column(default=0, server_default="0")
    last_paid_on: Mapped[date | None]    # the last payment not reversed (the status check)

    product_version: Mapped[ProductVersion] = relationship(lazy="joined")


class MemberRegistry(db.Model):
    """The platform-wide index of members: one row per person. It enforces that a NIK and
    a member number exist once across all partners (a unique constraint on a partner-owned
    table could not, and would leak), and routes a member number or NIK to its partner
    without searching every tenant. Holds no personal data beyond the keyed NIK digest."""

    __tablename__ = "member_registry"

    member_number: Mapped[str] = mapped_column(String(20), primary_key=True)
    nik_digest: Mapped[str] = mapped_column(String(64), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    member_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
