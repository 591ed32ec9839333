"""API resources. The token fixes the actor and the tenant; one gate scopes the session."""

from __future__ import annotations

from flask import abort, g, request
from flask_smorest import Blueprint

from bungkesmas import tenancy
from bungkesmas.api.schemas import (
    ApproveSchema,
    MeSchema,
    PartnerPageSchema,
    PartnerQuerySchema,
    PartnerSchema,
)
from bungkesmas.auth import services as auth
from bungkesmas.auth.permissions import Permission
from bungkesmas.extensions import db
from bungkesmas.partners import services as partners
from bungkesmas.partners.models import Partner

blp = Blueprint("api", __name__, url_prefix="/api/v1",
                description="Bungkesmas Partner Platform API")


@blp.before_request
def authenticate():
    header = request.headers.get("Authorization", "")
    scheme, _sep, secret = header.partition(" ")
    identity = None
    if scheme.lower() == "bearer":
        # The token, its user and their memberships are found across partners; the wide
        # scope lasts until the token's own replaces it below (one switch of the
        # database settings instead of three).
        tenancy.activate(tenancy.Scope.everything())
        identity = auth.identify_token(secret.strip())
    if identity is None:
        tenancy.activate(tenancy.Scope.nobody())
        abort(401)
    if identity.touched:
        db.session.commit()  # keep last_used_at (at most once a minute per token)
    g.api = identity
    if identity.partner is not None:
        g.permissions = identity.permissions
        tenancy.enter_workspace(identity.partner.id,
                                has_children=identity.partner_has_children)
    else:
        g.permissions = auth.provider_permissions(identity.user)
        tenancy.activate(tenancy.Scope.everything())


def require(permission: Permission) -> None:
    if permission not in g.permissions:
        abort(403)


@blp.route("/me")
@blp.response(200, MeSchema)
def me():
    """Who the token speaks for, in which partner, with which permissions."""
    user, partner = g.api.user, g.api.partner
    return {
        "id": user.id, "email": user.email, "name": user.name,
        "provider_role": str(user.provider_role) if user.provider_role else None,
        "partner": partner, "permissions": sorted(str(p) for p in g.permissions),
    }


@blp.route("/partners")
@blp.arguments(PartnerQuerySchema, location="query")
@blp.response(200, PartnerPageSchema)
def list_partners(args):
    """List partners and applications (provider staff only)."""
    require(Permission.PARTNERS_VIEW)
    page = db.paginate(partners.search(status=args["status"], q=args["q"]),
                       page=args["page"], per_page=args["per_page"], error_out=False)
    return {"items": page.items, "page": page.page, "per_page": page.per_page,
            "total": page.total}


@blp.route("/partners/<int:partner_id>/approve", methods=["POST"])
@blp.arguments(ApproveSchema)
@blp.response(200, PartnerSchema)
def approve_partner(args, partner_id: int):
    """Approve an application: sets the workspace slug and invites the partner admin."""
    require(Permission.PARTNERS_REVIEW)
    partner = db.get_or_404(Partner, partner_id)
    partners.approve(g.api.user, partner, args["slug"], args["parent_id"])
    db.session.commit()
    return partner
