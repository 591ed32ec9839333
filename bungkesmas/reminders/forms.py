"""The filters of the due list and of the reminder list (query-string forms), and the
labels of lists, reasons and reminder statuses."""

from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectField

from bungkesmas import tenancy
from bungkesmas.extensions import db
from bungkesmas.forms import Form
from bungkesmas.members.forms import visible_group_choices
from bungkesmas.partners.models import Partner
from bungkesmas.reminders.due import DueFilter, Tab
from bungkesmas.reminders.models import ReminderReason, ReminderStatus

TAB_LABELS = {
    Tab.DUE: _l("Due this month"),
    Tab.GRACE: _l("In grace"),
    Tab.LAPSED: _l("Lapsed"),
    Tab.PENDING: _l("Never paid"),
}
REASON_LABELS = {
    ReminderReason.DUE_SOON: _l("Due soon"),
    ReminderReason.GRACE: _l("In grace"),
    ReminderReason.LAPSED: _l("Lapsed"),
}
REMINDER_STATUS_LABELS = {
    ReminderStatus.PENDING: _l("Waiting to be sent"),
    ReminderStatus.SENDING: _l("Being sent"),
    ReminderStatus.SENT: _l("Sent"),
    ReminderStatus.FAILED: _l("Failed"),
    ReminderStatus.OBSOLETE: _l("Not sent: paid meanwhile"),
}


def _partner_choices():
    """The partners of the scope (the workspace's own and its descendants)."""
    scope = tenancy.current_scope()
    rows = db.session.execute(select(Partner.id, Partner.name)
                              .where(Partner.id.in_(scope.visible)).order_by(Partner.name))
    return [("", _l("all"))] + [(str(pid), name) for pid, name in rows]


class _QueryForm(Form):
    """A filter read from the query string: anything not on offer is dropped."""

    class Meta:
        csrf = False

    def clean(self, *names: str) -> dict[str, str]:
        out = {}
        for name in names:
            value = self[name].data or ""
            if value in {str(c[0]) for c in self[name].choices} and value:
                out[name] = value
        return out


class DueFilterForm(_QueryForm):
    tab = SelectField(_l("List"), coerce=str, validate_choice=False)
    group = SelectField(_l("Group"), coerce=str, validate_choice=False)
    partner = SelectField(_l("Partner"), coerce=str, validate_choice=False)

    def __init__(self, partner: Partner, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tab.choices = [(t.value, label) for t, label in TAB_LABELS.items()]
        self.group.choices = visible_group_choices(partner)
        self.partner.choices = _partner_choices()

    @property
    def several_partners(self) -> bool:
        return len(self.partner.choices) > 2

    def values(self) -> dict[str, str]:
        """The filter as clean query-string values (for links: tabs, pages, export)."""
        return self.clean("tab", "group", "partner")

    def filter(self, today) -> DueFilter:
        values = self.values()
        return DueFilter(
            today=today, tab=Tab(values.get("tab", Tab.DUE.value)),
            group_id=uuid.UUID(values["group"]) if "group" in values else None,
            partner_id=int(values["partner"]) if "partner" in values else None)


class ReminderFilterForm(_QueryForm):
    status = SelectField(_l("Status"), coerce=str, validate_choice=False)
    reason = SelectField(_l("Reason"), coerce=str, validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status.choices = [("", _l("all"))] + [
            (s.value, label) for s, label in REMINDER_STATUS_LABELS.items()]
        self.reason.choices = [("", _l("all"))] + [
            (r.value, label) for r, label in REASON_LABELS.items()]

    def values(self) -> dict[str, str]:
        return self.clean("status", "reason")
