"""The partner's own audit trail (its events and its children's)."""

from __future__ import annotations

from flask import render_template

from bungkesmas.audit.services import events_of_scope
from bungkesmas.auth.permissions import Permission
from bungkesmas.extensions import db
from bungkesmas.tenants.views import bp, requires


@bp.route("/riwayat")
@requires(Permission.PARTNER_AUDIT_VIEW)
def audit():
    page = db.paginate(events_of_scope(), per_page=50, error_out=False)
    return render_template("tenants/audit.html", page=page)
