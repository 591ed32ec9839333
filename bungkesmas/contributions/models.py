"""The contribution ledger and the idempotency keys of money-creating requests."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
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


class EntryKind(enum.StrEnum):
    PAYMENT = "payment"        # money received for the member (+)
    WITHDRAWAL = "withdrawal"  # savings paid back to the member (-)
    PREMIUM = "premium"        # a term funded from the balance (-; not money received)
    REVERSAL = "reversal"      # cancels one earlier row (the opposite amount)


class EntryMethod(enum.StrEnum):
    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"
    WASTE = "waste"            # the value of waste deposited at a waste bank
    ONLINE = "online"          # card or wallet (Stripe)
    SAVINGS = "savings"        # premium rows: paid from the member's balance


# Money moves between the member and a partner on these kinds (and on their reversals);
# premium rows only move money inside the member's account, from savings to a term.
MONEY_KINDS = (EntryKind.PAYMENT, EntryKind.WITHDRAWAL)


class LedgerEntry(TenantOwned, db.Model):
    """One append-only row of an enrollment's money: never updated, never deleted.

    Sign convention — `amount` is signed whole rupiah, seen from the member's balance
    (savings) for this enrollment, so that the sum of all rows of an enrollment is always
    its free balance:

    * payment    > 0  money received (cash, transfer, waste, online);
    * withdrawal < 0  savings paid back to the member;
    * premium    < 0  the contribution of one term taken from the balance to fund
      period `period_number` (`received_on` is the date the balance covered it). Premium
      rows are bookkeeping inside the member's account, not money received: money
      received (remittance, reports) is the sum of payment and withdrawal rows and of
      their reversals, i.e. every row whose `method` is not `savings`;
    * reversal   = -(the original's amount), pointing at it by `reverses_id`, with a
      reason and the original's method. A row is reversed at most once (unique
      `reverses_id`), and a reversal is never reversed.

    `collected_by_partner_id` is the partner that physically received (or paid out) the
    money and never changes. `tenant_id` is the partner that holds the member now.

    The one exception to "never updated": a member transfer re-homes the member's rows
    with the ON UPDATE CASCADE of the foreign keys, which changes `tenant_id` and nothing
    else. The database refuses every other UPDATE and every DELETE with a trigger (on
    PostgreSQL; on SQLite the UPDATE trigger only), and the application role has no
    DELETE privilege on the table."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "member_id"], ["members.tenant_id", "members.id"],
                             onupdate="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "enrollment_id"],
                             ["enrollments.tenant_id", "enrollments.id"], onupdate="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "reverses_id"],
                             ["ledger_entries.tenant_id", "ledger_entries.id"],
                             onupdate="CASCADE"),
        UniqueConstraint("tenant_id", "reverses_id"),
        UniqueConstraint("tenant_id", "receipt_number"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_ledger_entries_enrollment", "tenant_id", "enrollment_id", "received_on"),
        Index("ix_ledger_entries_tenant_received", "tenant_id", "received_on"),
        Index("ix_ledger_entries_collected", "collected_by_partner_id", "received_on"),
        CheckConstraint(
            "(kind = 'payment' AND amount > 0 AND method <> 'savings')"
            " OR (kind = 'withdrawal' AND amount < 0 AND method <> 'savings')"
            " OR (kind = 'premium' AND amount < 0 AND method = 'savings'"
            "     AND period_number IS NOT NULL)"
            " OR (kind = 'reversal' AND amount <> 0)", name="sign_by_kind"),
        CheckConstraint("(kind = 'reversal') = (reverses_id IS NOT NULL)",
                        name="reversal_points_back"),
        CheckConstraint("kind <> 'reversal' OR length(reason) > 0", name="reversal_has_reason"),
        CheckConstraint("(kind = 'premium') = (period_number IS NOT NULL)",
                        name="period_on_premium"),
        CheckConstraint("kind = 'premium' OR method = 'savings' OR receipt_number IS NOT NULL",
                        name="receipt_on_money"),
        CheckConstraint("kind <> 'payment' OR method <> 'bank_transfer'"
                        " OR external_reference IS NOT NULL", name="bank_reference"),
    )

    member_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    enrollment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[EntryKind] = mapped_column(_enum(EntryKind, "ledger_entry_kind"))
    method: Mapped[EntryMethod] = mapped_column(_enum(EntryMethod, "ledger_entry_method"))
    amount: Mapped[int] = mapped_column(BigInteger)
    received_on: Mapped[date]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    collected_by_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    receipt_number: Mapped[str | None] = mapped_column(String(40))
    external_reference: Mapped[str | None] = mapped_column(String(100))
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reason: Mapped[str] = mapped_column(String(500), default="")
    period_number: Mapped[int | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(100))

    @property
    def is_money(self) -> bool:
        return self.method != EntryMethod.SAVINGS


class IdempotencyKey(TenantOwned, db.Model):
    """The stored answer to a money-creating API request sent with an `Idempotency-Key`:
    the same key with the same request gets this answer again instead of a second
    record; the same key with another request is refused."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    response_status: Mapped[int]
    response_body: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EnrollmentCount(db.Model):
    """How many enrollments of a partner fall on each day of their coverage snapshot:
    the provider-wide (and per-partner) count of members by status without reading a
    million enrollments (`contributions.services.status_counts`).

    Kept by database triggers on `enrollments` (migration 7c2e5b9a13f4): every insert,
    update (including a member transfer's ON UPDATE CASCADE) and delete of an enrollment
    takes its old rows out and puts its new rows in, in the same transaction. Per
    enrollment, by `kind`:

    * `cancelled` — a cancelled enrollment (`day`: the month it was cancelled);
    * `pending` — open and never funded (`day`: the month it was enrolled);
    * `funded` — open and funded (`day`: the month it was enrolled);
    * `waiting`, `covered`, `grace` — open and funded, on its waiting-until day, on
      W' = max(waiting_until, covered_until) and on G' = max(W', grace_until): the days
      from which the status stops being waiting, active and grace. Today's status
      follows from how many of these days are after today (`status_counts`), exactly as
      `status_of` decides it per enrollment. `waiting_m`, `covered_m`, `grace_m`: the
      same days by month (the first of it), so that the count reads single days only
      for the rest of this month.

    The month of the undated kinds only spreads their rows (an import adding pending
    enrollments and a payment funding an enrollment of an earlier month do not wait for
    each other) while keeping them few: the count reads those, the days left in this
    month and the months after it — a few thousand rows. The key starts with (kind, day)
    for those ranges. Global, not partner-owned, like `member_registry`: counts, no
    personal data; `status_counts` applies the scope. A count can reach 0 and stay."""

    __tablename__ = "enrollment_counts"
    # On SQLite the key's b-tree holds the counts (a range scan reads nothing else).
    __table_args__ = {"sqlite_with_rowid": False}

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    enrollments: Mapped[int] = mapped_column(default=0)
