"""MOU forms of the provider admin and the partner workspace. They check the shape of the
input; the MOU rules (dates, overlaps, the lifecycle) are the domain's."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, NumberRange, ValidationError

from bungkesmas.forms import Form, length, optional, required, strip
from bungkesmas.mous.models import RemittanceFrequency, SignMethod


def _choose():
    return [("", _l("— choose —"))]


def _two_decimals(form, field) -> None:
    if field.data is not None and field.data.as_tuple().exponent < -2:
        raise ValidationError(_l("Use at most two decimals, e.g. 12.5."))


def _finite(value):
    """No NaN or Infinity: a comparison with them would raise instead of failing."""
    return value if value is None or value.is_finite() else None


_CODES = re.compile(r"[\s,;]+")


class MouForm(Form):
    """The terms of a draft (new, changed or a renewal)."""

    partner_id = SelectField(_l("Partner"), [required()], coerce=str, filters=[strip])
    start_date = DateField(_l("Start date"), [InputRequired(message=_l("Enter the start date."))])
    end_date = DateField(_l("End date"), [InputRequired(message=_l("Enter the end date."))])
    fee_share = DecimalField(
        _l("Partner fee share (percent of the contributions it collects)"),
        [InputRequired(message=_l("Enter a fee share from 0 to 100 percent.")),
         NumberRange(min=0, max=100, message=_l("Enter a fee share from 0 to 100 percent.")),
         _two_decimals], places=None, filters=[_finite])
    remittance_frequency = SelectField(_l("Remittance"), [required()], coerce=str)
    remittance_due_day = IntegerField(
        _l("Remitted by day of the month"),
        [InputRequired(message=_l("Enter a day of the month from 1 to 28.")),
         NumberRange(min=1, max=28, message=_l("Enter a day of the month from 1 to 28."))])
    territory = StringField(_l("Territory (region codes)"), [optional(), length(600)],
                            filters=[strip])
    product_ids = SelectMultipleField(_l("Products covered"), coerce=str)
    member_quota = IntegerField(
        _l("Member quota (optional)"),
        [optional(), NumberRange(min=1, max=10_000_000,
                                 message=_l("Enter a whole number from 1 to 10,000,000, or "
                                            "leave the quota empty."))])
    clauses = TextAreaField(_l("Further clauses"), [optional(), length(20_000)])
    provider_signatory_name = StringField(_l("Signs for the provider"),
                                          [required(), length(200)], filters=[strip])
    provider_signatory_title = StringField(_l("Position"), [required(), length(120)],
                                           filters=[strip])

    def __init__(self, partners=(), products=(), *args, with_partner: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if with_partner:
            self.partner_id.choices = _choose() + [(str(p.id), p.name) for p in partners]
        else:
            del self["partner_id"]
        self.remittance_frequency.choices = [
            (RemittanceFrequency.MONTHLY.value, _l("monthly")),
            (RemittanceFrequency.QUARTERLY.value, _l("quarterly"))]
        self.product_ids.choices = [(str(p.id), f"{p.name} ({p.code})") for p in products]

    @classmethod
    def from_mou(cls, mou, products=(), **kwargs):
        """The form filled with an MOU's terms (to change a draft, or to renew)."""
        return cls((), products, with_partner=False, formdata=None,
                   start_date=mou.start_date, end_date=mou.end_date,
                   fee_share=Decimal(mou.fee_share_bp) / 100,
                   remittance_frequency=str(mou.remittance_frequency),
                   remittance_due_day=mou.remittance_due_day,
                   territory=" ".join(mou.territory or []),
                   product_ids=[str(p) for p in mou.product_ids or []],
                   member_quota=mou.member_quota, clauses=mou.clauses,
                   provider_signatory_name=mou.provider_signatory_name,
                   provider_signatory_title=mou.provider_signatory_title, **kwargs)

    def data_for_domain(self) -> dict:
        try:
            basis_points = int((self.fee_share.data * 100).to_integral_exact())
        except (InvalidOperation, TypeError, AttributeError):
            basis_points = -1
        return {
            "start_date": self.start_date.data, "end_date": self.end_date.data,
            "fee_share_bp": basis_points,
            "remittance_frequency": self.remittance_frequency.data,
            "remittance_due_day": self.remittance_due_day.data,
            "territory": [c for c in _CODES.split(self.territory.data or "") if c],
            "product_ids": [int(p) for p in self.product_ids.data or [] if p.isdigit()],
            "member_quota": self.member_quota.data,
            "clauses": (self.clauses.data or "").strip(),
            "provider_signatory_name": self.provider_signatory_name.data,
            "provider_signatory_title": self.provider_signatory_title.data,
        }

    def chosen_partner(self) -> int | None:
        value = self.partner_id.data if "partner_id" in self else None
        return int(value) if value and value.isdigit() and int(value) < 2**31 else None


class MouFilterForm(Form):
    class Meta:
        csrf = False

    status = SelectField(_l("Status"), [optional()], coerce=str)


class TerminateForm(Form):
    reason = TextAreaField(_l("Reason"), [required(), length(2000)], filters=[strip])


class CommentForm(Form):
    body = TextAreaField(_l("Comment"), [required(), length(5000)], filters=[strip])


class ChangesForm(Form):
    changes = TextAreaField(_l("What should change"), [required(), length(5000)],
                            filters=[strip])


class SignForm(Form):
    """The partner's signature; the scan (for `upload`) comes from request.files."""

    method = RadioField(_l("How do you sign?"), [required()], choices=[
        SelectChoice(SignMethod.ACCEPT.value, _l("Accept it here (who, when and from which "
                                                 "address are recorded)")),
        SelectChoice(SignMethod.UPLOAD.value, _l("Upload the signed and stamped copy (PDF, "
                                                 "JPEG or PNG)"))])
    signatory_name = StringField(_l("Name of who signs"), [required(), length(200)],
                                 filters=[strip])
    signatory_title = StringField(_l("Position of who signs"), [required(), length(120)],
                                  filters=[strip])
    accepted = BooleanField(_l("I have read this MOU and accept it for my organisation"))


class UploadForm(Form):
    """Only its CSRF token is a form field; the file is read from request.files."""


class HostForm(Form):
    host_id = SelectField(_l("Hosting partner"), [optional()], coerce=str, filters=[strip])


class TransferHostedForm(Form):
    note = TextAreaField(_l("Reason (optional)"), [optional(), length(500)], filters=[strip])
