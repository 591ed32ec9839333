"""Write audit events in the caller's transaction."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from bungkesmas.audit.models import AuditEvent
from bungkesmas.extensions import db


def record(
    actor,
    action: str,
    entity,
    *,
    partner_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Add an audit event for `action` on `entity` by `actor` (a User or None)."""
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        actor_label=actor_label or (f"user:{actor.id}" if actor is not None else "system"),
        partner_id=partner_id,
        action=action,
        entity_type=type(entity).__name__,
        entity_id=str(entity.id),
        before=before,
        after=after,
        ip_address=request.remote_addr if has_request_context() else None,
    )
    db.session.add(event)
    return event


def snapshot(obj, *fields: str) -> dict[str, Any]:
    """Return a JSON-ready dict of the given attributes, for before/after records."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(obj, name)
        out[name] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    return out


def events_of_scope(entity_id: str | None = None):
    """A select of the audit events of the partners the session may see (its scope),
    newest first — the partner-side audit trail."""
    from sqlalchemy import select

    from bungkesmas.tenancy import current_scope

    scope = current_scope()
    stmt = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if scope.kind != "everything":
        stmt = stmt.where(AuditEvent.partner_id.in_(scope.visible))
    if entity_id is not None:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    return stmt
