"""The reminder outbox: one row per message to a member about one due date."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from bungkesmas.extensions import db
from bungkesmas.partners.models import _enum
from bungkesmas.tenancy import TenantOwned
from bungkesmas.timeutil import utcnow


class ReminderReason(enum.StrEnum):
    DUE_SOON = "due_soon"  # the cover ends within a few days and the next term is unpaid
    GRACE = "grace"        # the cover has ended; the member is in the grace period
    LAPSED = "lapsed"      # the grace period has ended: no cover until the member pays


class ReminderStatus(enum.StrEnum):
    PENDING = "pending"    # produced, not sent yet
    SENDING = "sending"    # claimed by a sender run; see `Reminder`
    SENT = "sent"
    FAILED = "failed"      # the sender refused it; retried by later runs up to a limit
    OBSOLETE = "obsolete"  # not sent: the member paid (or the cover changed) before sending


class Reminder(TenantOwned, db.Model):
    """A reminder message (SMS/WhatsApp) to a member about one due date of one enrollment.

    The unique key (enrollment, reason, due date) makes a reminder exist once: producing
    it again — a second run, a concurrent run — inserts nothing. Sending claims the row
    first (status `sending`, committed) and only then hands it to the sender, so two
    runs never send one reminder twice; a run that dies between the claim and the
    sender's answer leaves the row in `sending` and it is not sent again (at most once).

    `due_on` is the end (exclusive) of the cover the reminder is about, i.e. the
    enrollment's `covered_until` when it was produced. The rows follow the member on a
    transfer (ON UPDATE CASCADE), so the new partner does not send them again."""

    __tablename__ = "reminders"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "member_id"], ["members.tenant_id", "members.id"],
                             onupdate="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "enrollment_id"],
                             ["enrollments.tenant_id", "enrollments.id"], onupdate="CASCADE"),
        UniqueConstraint("tenant_id", "enrollment_id", "reason", "due_on"),
        Index("ix_reminders_tenant_status", "tenant_id", "status", "id"),
        Index("ix_reminders_tenant_created", "tenant_id", "created_at"),
    )

    member_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    enrollment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    reason: Mapped[ReminderReason] = mapped_column(_enum(ReminderReason, "reminder_reason"))
    due_on: Mapped[date]
    amount_due: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(16), default="sms")
    recipient: Mapped[str] = mapped_column(String(20))  # the member's phone, +62…
    body: Mapped[str] = mapped_column(String(480))
    status: Mapped[ReminderStatus] = mapped_column(
        _enum(ReminderStatus, "reminder_status"), default=ReminderStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(String(200), default="")
