"""Remittance: per-partner settings, issued statements with the ledger rows they count,
and the provider's records of money received.

Statements, their lines and the receipts are partner-owned (`tenant_id` is the partner
that collected the money and owes the remittance — it never changes, unlike the tenant of
a transferred member's ledger rows) and append-only: never updated, never deleted (the
application role has no UPDATE or DELETE privilege on them, and on PostgreSQL a trigger
refuses both). A mistaken receipt is corrected by a reversal row."""

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

from bungkesmas.contributions.models import EntryKind, EntryMethod
from bungkesmas.extensions import db
from bungkesmas.partners.models import _enum
from bungkesmas.remittance.periods import Frequency, Period
from bungkesmas.tenancy import TenantOwned
from bungkesmas.timeutil import utcnow


class RemittanceSettings(db.Model):
    """A partner's remittance terms, set by the provider (a global table: a provider
    setting about a partner). Until the MOU issue lands, this is where the fee share
    comes from; a partner without a row gets `services.DEFAULT_TERMS`."""

    __tablename__ = "remittance_settings"
    __table_args__ = (
        CheckConstraint("fee_share_bp >= 0 AND fee_share_bp <= 10000", name="fee_share"),
        CheckConstraint("due_day >= 1 AND due_day <= 28", name="due_day"),
    )

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    # The partner's fee share in basis points (1000 = 10 %): an integer, never a float.
    fee_share_bp: Mapped[int]
    frequency: Mapped[Frequency] = mapped_column(_enum(Frequency, "remittance_frequency"))
    # The remittance of a period is due on this day of the month after the period.
    due_day: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def id(self) -> int:  # for the audit log
        return self.partner_id


class StatementSide(enum.StrEnum):
    PROVIDER = "provider"
    PARTNER = "partner"


class RemittanceStatement(TenantOwned, db.Model):
    """The frozen statement of one partner and period, issued when the period is closed.

    Its figures never change. It counts exactly the ledger rows listed in its lines
    (`RemittanceStatementLine`): the money rows the partner collected with a date before
    the end of the period that no earlier statement counted. Those dated inside the
    period are the period's collections; those dated earlier are adjustments — rows
    recorded after the statement of their own period was issued (backdated receipts)."""

    __tablename__ = "remittance_statements"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        UniqueConstraint("tenant_id", "period_start"),
        CheckConstraint("period_end > period_start", name="period"),
        CheckConstraint("fee_share_bp >= 0 AND fee_share_bp <= 10000", name="fee_share"),
        CheckConstraint("collected = period_collected + adjustments", name="collected_sum"),
        CheckConstraint("due_to_provider = collected - fee", name="due_sum"),
    )

    number: Mapped[str] = mapped_column(String(32))
    frequency: Mapped[Frequency] = mapped_column(_enum(Frequency, "remittance_frequency"))
    period_start: Mapped[date]
    period_end: Mapped[date]  # exclusive: the first day of the next period
    period_collected: Mapped[int] = mapped_column(BigInteger)
    adjustments: Mapped[int] = mapped_column(BigInteger)
    collected: Mapped[int] = mapped_column(BigInteger)
    fee_share_bp: Mapped[int]
    fee: Mapped[int] = mapped_column(BigInteger)
    due_to_provider: Mapped[int] = mapped_column(BigInteger)
    due_on: Mapped[date]
    line_count: Mapped[int]
    # {"by_method": [...], "by_product": [...], "by_kind": [...]} of the period's rows.
    breakdown: Mapped[dict] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    issued_by_side: Mapped[StatementSide] = mapped_column(
        _enum(StatementSide, "remittance_statement_side"))

    @property
    def period(self) -> Period:
        return Period(self.period_start, self.period_end, Frequency(self.frequency))


class RemittanceStatementLine(TenantOwned, db.Model):
    """One ledger row counted by a statement, with the figures the statement used.

    `id` IS the ledger row's id, so the primary key (partner, ledger row) guarantees
    that a row is counted by at most one statement of its collecting partner — even
    when two statements are issued at the same moment. There is no foreign key to
    `ledger_entries`: a ledger row's tenant follows its member to another partner, the
    collecting partner (this `tenant_id`) does not."""

    __tablename__ = "remittance_statement_lines"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "statement_id"],
                             ["remittance_statements.tenant_id", "remittance_statements.id"]),
        Index("ix_remittance_statement_lines_statement", "tenant_id", "statement_id"),
    )

    statement_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    received_on: Mapped[date]
    kind: Mapped[EntryKind] = mapped_column(_enum(EntryKind, "ledger_entry_kind"))
    method: Mapped[EntryMethod] = mapped_column(_enum(EntryMethod, "ledger_entry_method"))
    amount: Mapped[int] = mapped_column(BigInteger)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    receipt_number: Mapped[str | None] = mapped_column(String(40))
    is_adjustment: Mapped[bool]


class ReceiptKind(enum.StrEnum):
    RECEIPT = "receipt"    # money the provider received for a statement (+)
    REVERSAL = "reversal"  # cancels one mistaken receipt row (the opposite amount)


class RemittanceReceipt(TenantOwned, db.Model):
    """Money the provider received from a partner for one issued statement (a bank
    transfer that pays two statements is recorded as two rows with the same bank
    reference). Append-only; a mistake is corrected by a reversal row with a reason,
    pointing at the original."""

    __tablename__ = "remittance_receipts"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "statement_id"],
                             ["remittance_statements.tenant_id", "remittance_statements.id"]),
        ForeignKeyConstraint(["tenant_id", "reverses_id"],
                             ["remittance_receipts.tenant_id", "remittance_receipts.id"]),
        UniqueConstraint("tenant_id", "reverses_id"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_remittance_receipts_statement", "tenant_id", "statement_id"),
        CheckConstraint("(kind = 'receipt' AND amount > 0 AND reverses_id IS NULL)"
                        " OR (kind = 'reversal' AND amount < 0 AND reverses_id IS NOT NULL"
                        " AND length(reason) > 0)", name="kind_sign"),
    )

    statement_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[ReceiptKind] = mapped_column(_enum(ReceiptKind, "remittance_receipt_kind"))
    amount: Mapped[int] = mapped_column(BigInteger)
    received_on: Mapped[date]  # the day the money reached the provider's account
    bank_reference: Mapped[str] = mapped_column(String(100), default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reason: Mapped[str] = mapped_column(String(500), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
