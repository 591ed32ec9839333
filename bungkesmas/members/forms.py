"""Member and group forms of the partner workspace.

The forms check the shape of the input (required, lengths, dates, choices); the member
rules themselves (NIK, regions, one person one member) are the domain's."""

from __future__ import annotations

import re
import uuid

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired

from bungkesmas import regions
from bungkesmas.extensions import db
from bungkesmas.forms import Form, length, optional, required, strip
from bungkesmas.members.models import Group, Member, Sex
from bungkesmas.partners.models import Partner

CONSENT_TEXT = _l(
    "The member agrees that this organisation and the Bungkesmas provider record and use "
    "the data on this form (including the NIK and the family card number) to register "
    "and serve the Bungkesmas membership, its contributions and claims, and pass it to "
    "the insurer for that purpose only. The member may ask to see or correct the data.")

_REGION_SEPARATORS = re.compile(r"[\s.]")


def region_code(value):
    """Field filter: '73.72.02.1001' as typed from a letter becomes '7372021001'."""
    return _REGION_SEPARATORS.sub("", value) if isinstance(value, str) else value


def choose():
    return [("", _l("— choose —"))]


def sex_choices():
    return choose() + [(Sex.FEMALE.value, _l("Female (P)")), (Sex.MALE.value, _l("Male (L)"))]


def status_choices():
    """Today's coverage status of a member's enrollments (see contributions.coverage)."""
    from bungkesmas.contributions.forms import STATUS_LABELS

    return [("", _l("all")), *((status.value, label) for status, label in STATUS_LABELS.items()),
            ("not_enrolled", _l("not enrolled"))]


def status_label(status) -> str:
    return str(dict(status_choices()).get(str(status), status))


def own_group_choices(partner: Partner, empty=None):
    groups = db.session.scalars(select(Group).where(Group.tenant_id == partner.id)
                                .order_by(Group.name))
    return [("", empty or _l("— no group —"))] + [(str(g.id), g.name) for g in groups]


def visible_group_choices(partner: Partner):
    """Groups of the scope (a parent also sees its children's), for filtering."""
    rows = db.session.execute(select(Group, Partner.name).join(
        Partner, Partner.id == Group.tenant_id).order_by(Group.name))
    return [("", _l("all"))] + [
        (str(group.id), group.name if group.tenant_id == partner.id else f"{group.name} · {name}")
        for group, name in rows]


def village_filter_choices():
    """The villages the scope's members live in."""
    codes = db.session.scalars(select(Member.village_code).where(
        Member.village_code.is_not(None)).distinct())
    named = sorted(((regions.region_name(c), c) for c in codes), key=lambda x: x[0])
    return [("", _l("all"))] + [(code, name) for name, code in named]


class MemberFilterForm(Form):
    """Search and filters of the member list. The list reads them from the query string;
    the search box posts them (CSRF-checked by the app), so that a NIK typed into it
    never ends up in a URL."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), filters=[strip])
    group = SelectField(_l("Group"), coerce=str, validate_choice=False)
    village = SelectField(_l("Village"), coerce=str, validate_choice=False)
    status = SelectField(_l("Enrollment"), coerce=str, validate_choice=False)

    def __init__(self, partner: Partner, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.group.choices = visible_group_choices(partner)
        self.village.choices = village_filter_choices()
        self.status.choices = status_choices()

    def values(self) -> dict[str, str]:
        """The filter as clean query-string values; anything not on offer is dropped."""
        out = {"q": (self.q.data or "")[:100]}
        for name in ("group", "village", "status"):
            value = self[name].data or ""
            out[name] = value if value in {c[0] for c in self[name].choices} else ""
        return {k: v for k, v in out.items() if v}


class MemberForm(Form):
    full_name = StringField(_l("Full name (as on the ID card)"), [required(), length(200, 2)],
                            filters=[strip])
    nik = StringField(_l("NIK"), [required(), length(30)], filters=[strip])
    confirm_nik = BooleanField(_l("I checked the ID card: the data is right"))
    kk = StringField(_l("Family card number (KK, optional)"), [optional(), length(30)],
                     filters=[strip])
    birth_date = DateField(_l("Birth date"), [InputRequired(message=_l("Enter the birth date."))])
    sex = SelectField(_l("Sex"), [required()], coerce=str)
    phone = StringField(_l("Phone (optional)"), [optional(), length(30)], filters=[strip])
    address = TextAreaField(_l("Address"), [optional(), length(500)], filters=[strip])
    province_code = SelectField(_l("Province"), coerce=str, validate_choice=False,
                                filters=[region_code])
    regency_code = SelectField(_l("Regency or city"), coerce=str, validate_choice=False,
                               filters=[region_code])
    district_code = SelectField(_l("District (kecamatan)"), coerce=str, validate_choice=False,
                                filters=[region_code])
    village_code = StringField(_l("Village (kelurahan/desa)"), [optional(), length(20)],
                               filters=[strip, region_code])
    group_id = SelectField(_l("Group"), coerce=str)
    beneficiary_name = StringField(_l("Beneficiary name"), [optional(), length(200)],
                                   filters=[strip])
    beneficiary_relation = StringField(_l("Relation to the member"), [optional(), length(60)],
                                       filters=[strip])
    beneficiary_phone = StringField(_l("Beneficiary phone (optional)"), [optional(), length(30)],
                                    filters=[strip])
    consent = BooleanField(_l("The member gave consent"))
    product_id = SelectField(_l("Enroll at once in (optional)"), coerce=str)
    # Checked by the domain (only partners this one hosts); absent when it hosts none.
    hosted_for_id = SelectField(_l("Registered for"), coerce=str, validate_choice=False,
                                filters=[strip])

    def __init__(self, partner: Partner, products=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sex.choices = sex_choices()
        self.group_id.choices = own_group_choices(partner)
        if self.hosted_for_id is not None:
            from bungkesmas.mous.services import hosted_partners

            # A host registers members on behalf of partners without an MOU in force.
            self.hosted_for_id.choices = [("", _l("Our own organisation"))] + [
                (str(p.id), p.name) for p in hosted_partners(partner)]
        if self.product_id is not None:
            self.product_id.choices = [("", _l("— not now —"))] + [
                (str(p.id), p.name) for p in products]
        self.fill_region_choices()

    def fill_region_choices(self) -> None:
        """Each picker lists the children of the region chosen above it, so the page works
        without JavaScript; the script refills them when a choice changes."""
        self.province_code.choices = choose() + list(regions.provinces())
        self.regency_code.choices = choose() + list(regions.children(self.province_code.data))
        self.district_code.choices = choose() + list(regions.children(self.regency_code.data))

    def village_options(self):
        return regions.villages(self.district_code.data)

    def data_for_domain(self) -> dict:
        data = {name: self[name].data for name in (
            "full_name", "nik", "kk", "birth_date", "sex", "phone", "address", "province_code",
            "regency_code", "district_code", "village_code", "beneficiary_name",
            "beneficiary_relation", "beneficiary_phone")}
        data["group_id"] = uuid.UUID(self.group_id.data) if self.group_id.data else None
        data["confirm_nik"] = bool(self.confirm_nik.data)
        if self.consent is not None:
            data["consent"] = bool(self.consent.data)
        if self.hosted_for_id is not None and self.hosted_for_id.data:
            value = self.hosted_for_id.data
            data["hosted_for_id"] = int(value) if value.isdigit() and len(value) < 10 else value
        return data

    def chosen_product(self) -> int | None:
        value = self.product_id.data if self.product_id is not None else None
        return int(value) if value else None


class MemberEditForm(MemberForm):
    # Consent was recorded at registration; enrolling has its own form.
    consent = None
    product_id = None
    hosted_for_id = None
    nik = StringField(_l("New NIK"), [optional(), length(30)], filters=[strip])
    kk = StringField(_l("New family card number (KK)"), [optional(), length(30)],
                     filters=[strip])

    def data_for_domain(self) -> dict:
        data = super().data_for_domain()
        # Empty means unchanged: the stored numbers are never put back into the page.
        if not data.get("nik"):
            data.pop("nik")
        if not data.get("kk"):
            data.pop("kk")
        return data


class EnrollForm(Form):
    product_id = SelectField(_l("Product"), [required()], coerce=str)

    def __init__(self, products=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.product_id.choices = choose() + [(str(p.id), p.name) for p in products]


class CancelEnrollmentForm(Form):
    """Why an enrollment ends. The member page has one per open enrollment: each has
    its own prefix, so their fields' ids and names do not clash."""

    reason = TextAreaField(_l("Reason for cancelling"), [required(), length(500)],
                           filters=[strip])

    def __init__(self, enrollment_id: uuid.UUID, *args, **kwargs):
        super().__init__(*args, prefix=f"batal-{enrollment_id.hex[:12]}", **kwargs)


class GroupForm(Form):
    name = StringField(_l("Group name"), [required(), length(120, 2)], filters=[strip])
    village_code = SelectField(_l("Village (kelurahan/desa)"), coerce=str,
                               validate_choice=False, filters=[region_code])
    meeting_day = StringField(_l("Meeting day (optional)"), [optional(), length(60)],
                              filters=[strip])

    def __init__(self, partner: Partner, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The villages of the partner's regency, grouped by district; works without JS.
        self.village_code.choices = [SelectChoice("", _l("— choose —"))] + [
            SelectChoice(code, name, optgroup=district)
            for _code, district, villages in regions.villages_of_regency(partner.regency_code)
            for code, name in villages]


class CoordinatorForm(Form):
    coordinator = SelectField(_l("Coordinator"), coerce=str)

    def __init__(self, members=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.coordinator.choices = [("", _l("— none —"))] + [
            (str(m.id), f"{m.full_name} ({m.member_number})") for m in members]
