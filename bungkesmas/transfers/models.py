"""Transfer requests: one partner admin proposes to move members to another partner, the
other partner's admin accepts or declines.

A request spans two tenants, so it is a global table (columns named partner_id, never
tenant_id). Nothing scopes it automatically: every query goes through the domain
functions in `transfers.services`, which restrict it to the current workspace's partner.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bungkesmas.extensions import db
from bungkesmas.partners.models import _enum
from bungkesmas.tenancy import new_id
from bungkesmas.timeutil import utcnow


class TransferStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class TransferRequest(db.Model):
    """A proposed move of members from `from_partner` (the holder) to `to_partner`.

    An *offer* is initiated by the holder; a *request* by the partner that wants the
    member — found by NIK (`nik_digest`), so the requester is not told who holds it until
    the holder accepts."""

    __tablename__ = "transfer_requests"
    __table_args__ = (
        CheckConstraint("from_partner_id <> to_partner_id", name="two_partners"),
        CheckConstraint("initiated_by_partner_id IN (from_partner_id, to_partner_id)",
                        name="initiated_by_a_party"),
        Index("ix_transfer_requests_from_status", "from_partner_id", "status"),
        Index("ix_transfer_requests_to_status", "to_partner_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    from_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    to_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    initiated_by_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    status: Mapped[TransferStatus] = mapped_column(
        _enum(TransferStatus, "transfer_status"), default=TransferStatus.PENDING)
    # A whole group (it moves with its members) or, when None, the listed members.
    group_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # A request by NIK: the keyed digest (never the NIK) and the masked NIK for display.
    nik_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    nik_masked: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="")
    decision_reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    members: Mapped[list[TransferRequestMember]] = relationship(
        back_populates="request", cascade="all, delete-orphan", lazy="selectin",
        order_by="TransferRequestMember.member_number")

    @property
    def is_offer(self) -> bool:
        return self.initiated_by_partner_id == self.from_partner_id

    @property
    def is_pending(self) -> bool:
        return self.status == TransferStatus.PENDING

    def initiator_is(self, partner_id: int) -> bool:
        return self.initiated_by_partner_id == partner_id


class TransferRequestMember(db.Model):
    """A member the request is about, as it was when the request was made (its number is
    kept so that a request stays readable after the member has moved on)."""

    __tablename__ = "transfer_request_members"
    __table_args__ = (Index("ix_transfer_request_members_member", "member_id"),)

    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("transfer_requests.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    member_number: Mapped[str] = mapped_column(String(20))

    request: Mapped[TransferRequest] = relationship(back_populates="members")
