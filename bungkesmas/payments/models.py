"""Online payments (one row per attempt to pay through Stripe Checkout) and the Stripe
events already processed."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from bungkesmas.extensions import db
from bungkesmas.partners.models import _enum
from bungkesmas.tenancy import TenantOwned
from bungkesmas.timeutil import utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")


class PaymentStatus(enum.StrEnum):
    CREATED = "created"      # our row exists; the checkout session is being created
    PENDING = "pending"      # the member was sent to Stripe's checkout page
    SUCCEEDED = "succeeded"  # Stripe says paid; the ledger row is recorded (see `problem`)
    FAILED = "failed"        # the session could not be created, or the payment failed
    EXPIRED = "expired"      # the checkout session expired unpaid
    REFUNDED = "refunded"    # paid, then refunded in full; the ledger row is reversed


# The states a later event may still change; the others are final (except a refund of a
# succeeded payment).
OPEN_STATUSES = (PaymentStatus.CREATED, PaymentStatus.PENDING)


class OnlinePayment(TenantOwned, db.Model):
    """One attempt to pay an enrollment's contribution online, in whole rupiah.

    Created (by the pay-link page) before the Stripe checkout session, so that the
    session's idempotency key and metadata can name it; moved along by the webhook. The
    row follows the member on a transfer (ON UPDATE CASCADE). It refers to the ledger
    rows it produced by id (`ledger_entry_id`, `reversal_entry_id`)."""

    __tablename__ = "online_payments"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "member_id"], ["members.tenant_id", "members.id"],
                             onupdate="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "enrollment_id"],
                             ["enrollments.tenant_id", "enrollments.id"], onupdate="CASCADE"),
        Index("ix_online_payments_enrollment", "tenant_id", "enrollment_id", "created_at"),
        Index("ix_online_payments_created", "created_at"),
        # Events are matched by the partner and payment id in their metadata; these two
        # find a payment whose member has moved since, and refund events, which name
        # the payment intent only.
        Index("ix_online_payments_session", "stripe_session_id"),
        Index("ix_online_payments_intent", "stripe_payment_intent_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    member_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    enrollment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[PaymentStatus] = mapped_column(
        _enum(PaymentStatus, "online_payment_status"), default=PaymentStatus.CREATED)
    amount: Mapped[int] = mapped_column(BigInteger)  # whole rupiah
    stripe_session_id: Mapped[str | None] = mapped_column(String(255))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    checkout_url: Mapped[str | None] = mapped_column(String(2000))
    checkout_expires_at: Mapped[datetime | None]
    ledger_entry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reversal_entry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    # What went wrong, for the provider's list (stored data, English): a failure to
    # create the session, or money Stripe took that could not be recorded or reversed.
    problem: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]


class StripeEvent(db.Model):
    """A Stripe event processed once. Inserted in the same transaction as what the event
    changed (the ledger row, the payment's status): the unique `event_id` makes a second
    delivery — repeated, concurrent or late — change nothing. A global table (an event
    arrives before its partner is known); it holds no personal data. Never updated."""

    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]  # Stripe's time of the event
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    outcome: Mapped[str] = mapped_column(String(40))
