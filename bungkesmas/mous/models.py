"""MOUs (partner-owned: the partner sees only its own), their comment threads and
document versions, and the global counter behind MOU numbers."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from bungkesmas.extensions import db
from bungkesmas.partners.models import _enum
from bungkesmas.tenancy import TenantOwned
from bungkesmas.timeutil import utcnow


class MouStatus(enum.StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    PARTNER_SIGNED = "partner_signed"
    ACTIVE = "active"  # countersigned by the provider
    EXPIRED = "expired"
    TERMINATED = "terminated"
    SUPERSEDED = "superseded"


class RemittanceFrequency(enum.StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class DocumentKind(enum.StrEnum):
    GENERATED = "generated"          # the MOU text the platform generated (PDF)
    SIGNED_SCAN = "signed_scan"      # the copy the partner signed
    COUNTERSIGNED = "countersigned"  # the copy signed by both sides


class SignMethod(enum.StrEnum):
    UPLOAD = "upload"  # a scan of the signed copy
    ACCEPT = "accept"  # accepted in the application (who, when, from which address)


class Mou(TenantOwned, db.Model):
    """One version of a partner's MOU. A renewal is a new row with the same number, the
    next version and `previous_id` pointing at the row it renews.

    In force on a day: countersigned (`countersigned_at`), and the day lies between
    `start_date` and `ended_on` (set when it ended early: terminated, or superseded by
    its renewal) or else `end_date`."""

    __tablename__ = "mous"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number", "version"),
        ForeignKeyConstraint(["tenant_id", "previous_id"], ["mous.tenant_id", "mous.id"]),
        CheckConstraint("end_date > start_date", name="dates"),
        CheckConstraint("fee_share_bp >= 0 AND fee_share_bp <= 10000", name="fee_share"),
        CheckConstraint("remittance_due_day >= 1 AND remittance_due_day <= 28", name="due_day"),
        CheckConstraint("member_quota IS NULL OR member_quota > 0", name="quota"),
        CheckConstraint("version >= 1", name="version"),
        Index("ix_mous_status_end", "status", "end_date"),
        Index("ix_mous_tenant_start", "tenant_id", "start_date"),
    )

    number: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(default=1)
    previous_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[MouStatus] = mapped_column(_enum(MouStatus, "mou_status"),
                                              default=MouStatus.DRAFT)
    start_date: Mapped[date]
    end_date: Mapped[date]
    ended_on: Mapped[date | None]
    # Terms. The partner's fee share in basis points (1250 = 12.5 %): never a float.
    fee_share_bp: Mapped[int]
    remittance_frequency: Mapped[RemittanceFrequency] = mapped_column(
        _enum(RemittanceFrequency, "remittance_frequency"))
    remittance_due_day: Mapped[int]
    # Region codes (province, regency, district or village) the partner works in.
    territory: Mapped[list] = mapped_column(JSON, default=list)
    # Product ids the partner may enroll members in; empty: every product enabled for it.
    product_ids: Mapped[list] = mapped_column(JSON, default=list)
    member_quota: Mapped[int | None]
    clauses: Mapped[str] = mapped_column(Text, default="")
    # Signatories.
    provider_signatory_name: Mapped[str] = mapped_column(String(200))
    provider_signatory_title: Mapped[str] = mapped_column(String(120))
    provider_signed_on: Mapped[date | None]
    partner_signatory_name: Mapped[str] = mapped_column(String(200), default="")
    partner_signatory_title: Mapped[str] = mapped_column(String(120), default="")
    partner_signed_on: Mapped[date | None]
    partner_signed_at: Mapped[datetime | None]
    partner_signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    partner_signed_ip: Mapped[str | None] = mapped_column(String(45))
    partner_sign_method: Mapped[SignMethod | None] = mapped_column(
        _enum(SignMethod, "mou_sign_method"))
    # The lifecycle.
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None]
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    countersigned_at: Mapped[datetime | None]
    countersigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    terminated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    termination_reason: Mapped[str] = mapped_column(Text, default="")
    # The smallest expiry reminder threshold (days) already announced.
    reminded_days: Mapped[int | None]

    @property
    def last_day(self) -> date:
        """The last day in force: `ended_on` when it ended early, else `end_date`."""
        return self.ended_on if self.ended_on is not None else self.end_date

    @property
    def fee_share_percent(self) -> str:
        """The fee share as a percent for display, e.g. "12.5"."""
        whole, rest = divmod(self.fee_share_bp, 100)
        return f"{whole}" if not rest else f"{whole}.{rest:02d}".rstrip("0")


class MouComment(TenantOwned, db.Model):
    """The review thread of an MOU: comments of both sides, and requests for changes."""

    __tablename__ = "mou_comments"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "mou_id"], ["mous.tenant_id", "mous.id"]),
        Index("ix_mou_comments_mou", "tenant_id", "mou_id", "created_at"),
    )

    mou_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    side: Mapped[str] = mapped_column(String(16))  # "provider" or "partner"
    changes_requested: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MouDocument(TenantOwned, db.Model):
    """A stored file of an MOU. Never overwritten or deleted: a new upload is a new
    version. The file lives outside the web root (MOU_STORAGE_DIR)."""

    __tablename__ = "mou_documents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "mou_id", "version"),
        ForeignKeyConstraint(["tenant_id", "mou_id"], ["mous.tenant_id", "mous.id"]),
    )

    mou_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    version: Mapped[int]
    kind: Mapped[DocumentKind] = mapped_column(_enum(DocumentKind, "mou_document_kind"))
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    # Relative to MOU_STORAGE_DIR.
    storage_path: Mapped[str] = mapped_column(String(500))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class MouCounter(db.Model):
    """The sequence of MOU numbers per year (global: numbers are unique platform-wide)."""

    __tablename__ = "mou_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(default=0)
