"""The audit log: who did what to which entity, from which tenant, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bungkesmas.extensions import db
from bungkesmas.timeutil import utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")


class AuditEvent(db.Model):
    """One change. Written in the same transaction as the change; never updated.

    Global columns are named partner_id, not tenant_id: tenant_id is reserved for
    partner-owned tables that the tenancy layer scopes automatically."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_partner_time", "partner_id", "created_at"),
        Index("ix_audit_events_entity", "entity_type", "entity_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who acted when there is no user: "public", "system", "cli".
    actor_label: Mapped[str] = mapped_column(String(100))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ip_address: Mapped[str | None] = mapped_column(String(45))
