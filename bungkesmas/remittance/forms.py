"""Remittance forms (provider settings, money received, reversal) and the labels of
frequencies, statuses, methods and kinds."""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired

from bungkesmas.contributions.models import EntryKind, EntryMethod
from bungkesmas.forms import Form, length, optional, required, strip
from bungkesmas.remittance.periods import FIRST_YEAR, LAST_YEAR, Frequency
from bungkesmas.remittance.services import PeriodState, ReconciliationStatus

FREQUENCY_LABELS = {Frequency.MONTHLY: _l("Monthly"), Frequency.QUARTERLY: _l("Quarterly")}
STATUS_LABELS = {
    ReconciliationStatus.SETTLED: _l("Settled"),
    ReconciliationStatus.SHORT: _l("Short"),
    ReconciliationStatus.OVER: _l("Overpaid"),
    ReconciliationStatus.NOT_YET_DUE: _l("Not yet due"),
    ReconciliationStatus.OVERDUE: _l("Overdue"),
}
STATE_LABELS = {
    PeriodState.ISSUED: _l("Closed"),
    PeriodState.OPEN: _l("Open"),
    PeriodState.SKIPPED: _l("Not closed"),
}
METHOD_LABELS = {
    EntryMethod.CASH: _l("Cash"),
    EntryMethod.BANK_TRANSFER: _l("Bank transfer"),
    EntryMethod.WASTE: _l("Waste deposit"),
    EntryMethod.ONLINE: _l("Online payment"),
    EntryMethod.SAVINGS: _l("From the balance"),
}
KIND_LABELS = {
    EntryKind.PAYMENT: _l("Payment"),
    EntryKind.WITHDRAWAL: _l("Savings withdrawal"),
    EntryKind.PREMIUM: _l("Period paid from the balance"),
    EntryKind.REVERSAL: _l("Reversal"),
}


def label(labels: dict, value) -> str:
    for key, text in labels.items():
        if key == value:
            return str(text)
    return str(value)


def percent(basis_points: int) -> str:
    """1250 → "12,5 %" (Indonesian decimal comma)."""
    whole, rest = divmod(basis_points, 100)
    text = str(whole) if not rest else f"{whole},{rest:02d}".rstrip("0")
    return f"{text} %"


def chosen_year() -> int | None:
    """The `tahun` query argument of a remittance page, if it is a plausible year."""
    from flask import request

    text = request.args.get("tahun", "")
    if text.isascii() and text.isdigit() and FIRST_YEAR <= int(text) <= LAST_YEAR:
        return int(text)
    return None


def new_submission_key() -> str:
    return secrets.token_urlsafe(18)


def _whole_number(label_text, help_text=None):
    return IntegerField(label_text, [InputRequired(message=_l("This field is required."))],
                        description=help_text or "",
                        render_kw={"inputmode": "numeric", "autocomplete": "off"})


class SettingsForm(Form):
    fee_share_bp = _whole_number(_l("Partner's fee share (basis points)"),
                                 _l("1000 basis points = 10 %. From 0 to 10000."))
    frequency = SelectField(_l("Remittance frequency"),
                            choices=[SelectChoice(f.value, text)
                                     for f, text in FREQUENCY_LABELS.items()])
    due_day = _whole_number(_l("Due on day of the following month"), _l("From 1 to 28."))


class ReceiptForm(Form):
    """Money the provider received for one issued statement. `submission_key` is made
    when the form is rendered and sent back as the idempotency key: a double click
    records the money once."""

    statement = SelectField(_l("Statement"), [required()], choices=[])
    amount = _whole_number(_l("Amount received (Rp)"))
    received_on = DateField(_l("Date received"), [InputRequired(
        message=_l("Enter the date the money was received."))])
    bank_reference = StringField(_l("Bank reference"), [required(), length(100)],
                                 filters=[strip])
    submission_key = HiddenField(validators=[optional(), length(100)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.submission_key.data:
            self.submission_key.data = new_submission_key()


class ReceiptReversalForm(Form):
    reason = TextAreaField(_l("Reason"), [required(), length(500, 3)])


def template_helpers() -> dict:
    """What the remittance templates use to show figures and labels."""
    from bungkesmas.contributions.terbilang import format_rupiah

    return {
        "money": format_rupiah,
        "percent": percent,
        "frequency_label": lambda v: label(FREQUENCY_LABELS, v),
        "reconciliation_label": lambda v: label(STATUS_LABELS, v),
        "state_label": lambda v: label(STATE_LABELS, v),
        "method_label": lambda v: label(METHOD_LABELS, v),
        "kind_label": lambda v: label(KIND_LABELS, v),
        "day": lambda d: d.strftime("%d-%m-%Y") if d else "",
    }
