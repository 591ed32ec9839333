"""Who is due and overdue, and the reminders sent, in the partner workspace.

Registered on the workspace blueprint (`tenants.views.bp`), whose gate has scoped the
session to the partner and its descendants: a parent partner sees its children's
members in these lists, a child only its own."""

from __future__ import annotations

from flask import Response, g, render_template, request, stream_with_context
from flask_login import current_user

from bungkesmas import tenancy
from bungkesmas.audit.services import record
from bungkesmas.auth.permissions import Permission
from bungkesmas.contributions.forms import status_label
from bungkesmas.extensions import db
from bungkesmas.reminders import due
from bungkesmas.reminders import services as reminders
from bungkesmas.reminders.due import DueFilter, Tab
from bungkesmas.reminders.forms import (
    REASON_LABELS,
    REMINDER_STATUS_LABELS,
    TAB_LABELS,
    DueFilterForm,
    ReminderFilterForm,
)
from bungkesmas.reminders.senders import mask_phone
from bungkesmas.tenants.views import bp, requires
from bungkesmas.timeutil import local_today

REMINDERS_PER_PAGE = 50


def _page_number() -> int:
    number = request.args.get("page", 1, type=int)
    return min(max(1, number), due.MAX_PAGE)


@bp.route("/jatuh-tempo")
@requires(Permission.MEMBERS_VIEW)
def due_list():
    form = DueFilterForm(g.tenant, request.args)
    today = local_today(g.tenant)
    f = form.filter(today)
    counts = due.counts(f)
    page = due.page(f, _page_number(), total=counts[f.tab])
    values = form.values()
    return render_template(
        "tenants/due/list.html", form=form, f=f, counts=counts, page=page, values=values,
        tab_labels=TAB_LABELS, tabs=list(Tab), status_label=status_label, today=today,
        month_start=due.month_of(today)[0],
        other_values={k: v for k, v in values.items() if k != "tab"})


@bp.route("/jatuh-tempo/ekspor.csv")
@requires(Permission.MEMBERS_EXPORT)
def due_export_csv():
    form = DueFilterForm(g.tenant, request.args)
    f = form.filter(local_today(g.tenant))
    # Who took the list (names and phone numbers) out of the platform.
    record(current_user, "due.export", g.tenant, partner_id=g.tenant.id,
           after={"format": "csv", **form.values()})
    db.session.commit()
    scope = tenancy.current_scope()

    def chunks():
        # Read after the request's own session has been closed: a fresh session, scoped
        # again to this workspace (as the member export does).
        tenancy.activate(scope)
        yield from due.csv_stream(f)

    response = Response(stream_with_context(chunks()), mimetype="text/csv")
    stamp = f.today.strftime("%Y%m%d")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="jatuh-tempo-{f.tab}-{g.tenant.slug}-{stamp}.csv"')
    response.headers["Cache-Control"] = "no-store"
    return response


def group_summary(group) -> dict:
    """The due and overdue counts of one group, for the group page."""
    return {"due_counts": due.counts(DueFilter(local_today(g.tenant), group_id=group.id)),
            "due_tab_labels": TAB_LABELS}


@bp.route("/pengingat")
@requires(Permission.MEMBERS_VIEW)
def reminders_list():
    form = ReminderFilterForm(request.args)
    values = form.values()
    page = reminders.listing_page(values.get("status"), values.get("reason"), _page_number(),
                                  REMINDERS_PER_PAGE)
    return render_template(
        "tenants/due/reminders.html", form=form, page=page, values=values,
        counts=reminders.status_counts(), reason_labels=REASON_LABELS,
        status_labels=REMINDER_STATUS_LABELS, mask_phone=mask_phone)
