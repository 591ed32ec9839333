"""Remittance in the API: a partner token reads its own statements (and its children's
are not mixed in: the token's partner only); a provider token reads any partner's with
`partner_id` and records the money received, with an `Idempotency-Key`.

The key is kept on the receipt row (unique per partner), as the ledger keeps it on its
rows: a provider token has no tenant in which `api.idempotency` could store a response,
so the domain compares the request instead (same request: the first row; another
request: 422 naming the header)."""

from __future__ import annotations

from flask import abort, g, request
from flask_babel import gettext as _
from sqlalchemy import select

from bungkesmas.api import idempotency
from bungkesmas.api.views import blp, require
from bungkesmas.auth.permissions import Permission
from bungkesmas.errors import DomainError
from bungkesmas.extensions import db
from bungkesmas.partners.models import Partner
from bungkesmas.remittance import services as remittance
from bungkesmas.remittance.schemas import (
    PartnerQuerySchema,
    ReceiptCreateSchema,
    ReceiptSchema,
    StatementDetailSchema,
    StatementListSchema,
    StatementQuerySchema,
)


def _whose(partner_id: int | None) -> Partner:
    """The token's partner, or for a provider token the partner named by `partner_id`."""
    require(Permission.REMITTANCE_VIEW)
    if g.api.partner is not None:
        return g.api.partner
    partner = _partner_with_workspace(partner_id) if partner_id else None
    if partner is None:
        raise DomainError(_("Name the partner (partner_id)."), "partner_id")
    return partner


def _partner_with_workspace(partner_id: int) -> Partner | None:
    return db.session.scalar(select(Partner).where(Partner.id == partner_id,
                                                   Partner.slug.is_not(None)))


@blp.route("/remittance/statements")
@blp.arguments(StatementQuerySchema, location="query")
@blp.response(200, StatementListSchema)
def list_statements(args):
    """The partner's remittance statements, newest first: the open periods (computed now)
    and the issued ones, each with what the provider received, the difference and the
    status. The recent periods, or those of `year`."""
    partner = _whose(args["partner_id"])
    return {"items": remittance.periods(partner.id, year=args["year"])}


@blp.route("/remittance/statements/<statement>")
@blp.arguments(PartnerQuerySchema, location="query")
@blp.response(200, StatementDetailSchema)
def get_statement(args, statement: str):
    """One statement by number (`SET-0012-2026-10`), id, or period (`2026-10`, `2026-Q4`),
    with its adjustment lines and the receipts recorded for it."""
    partner = _whose(args["partner_id"])
    return remittance.reconcile(remittance.find(partner.id, statement))


@blp.route("/remittance/receipts", methods=["POST"])
@blp.arguments(ReceiptCreateSchema)
@blp.response(201, ReceiptSchema)
@blp.doc(**idempotency.DOC)
def create_receipt(args):
    """Record money the provider received from a partner for an issued statement
    (provider tokens). Corrections are made by reversal on the provider's pages."""
    if g.api.partner is not None:
        abort(403)
    require(Permission.REMITTANCE_MANAGE)
    partner = _partner_with_workspace(args["partner_id"])
    if partner is None:
        raise DomainError(_("Choose a partner with a workspace."), "partner_id")
    receipt = remittance.record_receipt(
        g.api.user, partner, args["statement"], args["amount"], args["received_on"],
        args["bank_reference"], request.headers.get(idempotency.HEADER))
    db.session.commit()
    return receipt
