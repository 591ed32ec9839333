"""Remittance in the partner workspace (/p/<slug>/setoran): the partner's statements per
period, what the provider received for them, and closing a period.

Registered on the workspace blueprint, whose gate has scoped the session to the partner
(and its children). Statements are read for `g.tenant` only; the ledger rows behind an
open statement are read by the domain across tenants, restricted to the money this
partner collected (see `remittance.services`)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from bungkesmas.auth.permissions import Permission
from bungkesmas.remittance import services as remittance
from bungkesmas.remittance.forms import chosen_year, template_helpers
from bungkesmas.remittance.periods import FIRST_YEAR
from bungkesmas.tenants.views import bp, requires
from bungkesmas.timeutil import local_today
from bungkesmas.web import run


@bp.route("/setoran")
@requires(Permission.REMITTANCE_VIEW)
def remittance_index():
    year = chosen_year()
    today = local_today(g.tenant)
    return render_template(
        "tenants/remittance/index.html", statements=remittance.periods(g.tenant.id, today, year),
        terms=remittance.terms_on(g.tenant.id, today), year=year,
        years=range(today.year, max(FIRST_YEAR, today.year - 5) - 1, -1), **template_helpers())


@bp.route("/setoran/<statement>")
@requires(Permission.REMITTANCE_VIEW)
def remittance_statement(statement: str):
    found = remittance.reconcile(remittance.find(g.tenant.id, statement))
    can_close = (Permission.REMITTANCE_CLOSE in g.permissions
                 and found.state == remittance.PeriodState.OPEN and remittance.closable(found))
    return render_template("tenants/remittance/statement.html", statement=found,
                           can_close=can_close, **template_helpers())


@bp.route("/setoran/<statement>/tutup", methods=["POST"])
@requires(Permission.REMITTANCE_CLOSE)
def remittance_close(statement: str):
    found = remittance.find(g.tenant.id, statement)
    if found.state == remittance.PeriodState.ISSUED:
        flash(_("This period is closed already."), "error")
        return redirect(url_for("tenants.remittance_statement", statement=found.ref))
    issued = run(lambda: remittance.issue(current_user, g.tenant, found.period))
    if not issued:
        return redirect(url_for("tenants.remittance_statement", statement=found.ref))
    flash(_("Period %(period)s closed: statement %(number)s issued.", period=issued.key,
            number=issued.number), "success")
    return redirect(url_for("tenants.remittance_statement", statement=issued.number))
