"""Partner forms: the public application, the profile, and the provider's review steps."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, IntegerField, SelectField, StringField, TextAreaField

from bungkesmas.forms import (
    Form,
    count,
    email,
    length,
    optional,
    phone,
    province_choices,
    regency_choices,
    regency_in_province,
    required,
    strip,
)
from bungkesmas.partners.models import PartnerType
from bungkesmas.partners.services import TYPE_LABELS, approved_partners


def type_choices():
    return [("", _l("— choose —"))] + [(t.value, TYPE_LABELS[t]()) for t in PartnerType]


class ProfileForm(Form):
    name = StringField(_l("Organisation name"), [required(), length(200, 3)])
    org_type = SelectField(_l("Type of organisation"), [required()])
    province_code = SelectField(_l("Province"), [required()])
    regency_code = SelectField(_l("Regency or city"), [required(), regency_in_province("province_code")])
    address = StringField(_l("Office address"), [optional(), length(500)])
    contact_name = StringField(_l("Contact person"), [required(), length(200, 2)])
    contact_phone = StringField(_l("Contact phone"), [required(), length(30), phone])
    contact_email = EmailField(_l("Contact e-mail"), [required(), length(254), email()],
                               filters=[strip])
    expected_members = IntegerField(_l("Expected number of members"), [required(), count()],
                                    default=0)
    expected_groups = IntegerField(_l("Expected number of groups"), [optional(), count(100_000)],
                                   default=0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.org_type.choices = type_choices()
        self.province_code.choices = province_choices()
        self.regency_code.choices = regency_choices()

    def data_for_domain(self) -> dict:
        data = {name: self[name].data for name in (
            "name", "org_type", "province_code", "regency_code", "address", "contact_name",
            "contact_phone", "contact_email", "expected_members", "expected_groups")}
        data["contact_email"] = data["contact_email"].strip().lower()
        data["name"] = data["name"].strip()
        data["address"] = (data["address"] or "").strip()
        data["expected_groups"] = data["expected_groups"] or 0
        return data


class ApplicationForm(ProfileForm):
    referrer_id = SelectField(_l("Referred by (optional)"), [optional()], coerce=str,
                              filters=[strip])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.referrer_id.choices = [("", _l("— none —"))] + [
            (str(p.id), p.name) for p in approved_partners()]

    def data_for_domain(self) -> dict:
        data = super().data_for_domain()
        data["referrer_id"] = int(self.referrer_id.data) if self.referrer_id.data else None
        return data


class ApproveForm(Form):
    slug = StringField(_l("Workspace address"), [required(), length(50, 3)])
    parent_id = SelectField(_l("Parent partner (optional)"), [optional()], coerce=str,
                            filters=[strip])


class ReasonForm(Form):
    reason = TextAreaField(_l("Reason or message"), [required(), length(2000)])


class ParentForm(Form):
    parent_id = SelectField(_l("Parent partner"), [optional()], coerce=str, filters=[strip])


class FilterForm(Form):
    class Meta:
        csrf = False

    status = SelectField(_l("Status"), [optional()])
    q = StringField(_l("Search"), [optional(), length(100)])
