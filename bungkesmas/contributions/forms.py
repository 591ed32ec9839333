"""Contribution forms of the partner workspace, and the Indonesian-first labels of
statuses, kinds and methods.

Each money form carries a one-time `submission_key` made when the form is rendered and
sent back as the idempotency key: a double click (or a resent form) records money once."""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired
from wtforms.widgets import TextInput

from bungkesmas.contributions.coverage import Status
from bungkesmas.contributions.models import EntryKind, EntryMethod
from bungkesmas.forms import Form, length, optional, required, strip

STATUS_LABELS = {
    Status.PENDING_PAYMENT: _l("Pending payment"),
    Status.WAITING: _l("Waiting period"),
    Status.ACTIVE: _l("Active"),
    Status.GRACE: _l("Grace period"),
    Status.LAPSED: _l("Lapsed"),
    Status.CANCELLED: _l("Cancelled"),
}
KIND_LABELS = {
    EntryKind.PAYMENT: _l("Payment"),
    EntryKind.WITHDRAWAL: _l("Savings withdrawal"),
    EntryKind.PREMIUM: _l("Period paid from the balance"),
    EntryKind.REVERSAL: _l("Reversal"),
}
METHOD_LABELS = {
    EntryMethod.CASH: _l("Cash"),
    EntryMethod.BANK_TRANSFER: _l("Bank transfer"),
    EntryMethod.WASTE: _l("Waste deposit"),
    EntryMethod.ONLINE: _l("Online payment"),
    EntryMethod.SAVINGS: _l("From the balance"),
}


def status_label(status) -> str:
    return str(STATUS_LABELS.get(status, status))


def kind_label(kind) -> str:
    return str(KIND_LABELS.get(kind, kind))


def method_label(method) -> str:
    return str(METHOD_LABELS.get(method, method))


def money_method_choices():
    return [(m.value, METHOD_LABELS[m]) for m in (EntryMethod.CASH, EntryMethod.BANK_TRANSFER)]


def new_submission_key() -> str:
    return secrets.token_urlsafe(18)


def _amount(label):
    # A text box with the numeric keyboard: "150.000" is then a field error, not a guess.
    return IntegerField(label, [InputRequired(message=_l("Enter the amount in whole rupiah."))],
                        widget=TextInput(),
                        render_kw={"inputmode": "numeric", "autocomplete": "off"})


def _date(label):
    return DateField(label, [InputRequired(message=_l("Enter the date the money was received."))])


class _MoneyForm(Form):
    submission_key = HiddenField(validators=[optional(), length(100)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.submission_key.data:
            self.submission_key.data = new_submission_key()


class PaymentForm(_MoneyForm):
    enrollment_id = SelectField(_l("Product"), [required()], coerce=str)
    method = SelectField(_l("Paid by"), [required()], coerce=str)
    amount = _amount(_l("Amount (Rp)"))
    received_on = _date(_l("Date received"))
    reference = StringField(_l("Bank reference (for a transfer)"), [optional(), length(100)],
                            filters=[strip])

    def __init__(self, enrollments=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.enrollment_id.choices = [(str(e.id), e.product_version.product.name)
                                      for e in enrollments]
        self.method.choices = money_method_choices()


class WithdrawalForm(_MoneyForm):
    enrollment_id = SelectField(_l("Product"), [required()], coerce=str)
    method = SelectField(_l("Paid out as"), [required()], coerce=str)
    amount = _amount(_l("Amount (Rp)"))
    received_on = _date(_l("Date paid out"))

    def __init__(self, enrollments=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.enrollment_id.choices = [(str(e.id), e.product_version.product.name)
                                      for e in enrollments]
        self.method.choices = money_method_choices()


class ReversalForm(_MoneyForm):
    reason = StringField(_l("Reason for the reversal"), [required(), length(500, 3)],
                         filters=[strip])
