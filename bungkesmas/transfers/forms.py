"""Forms of the transfer requests between partner admins."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField

from bungkesmas.forms import Form, length, optional, required, strip


class OfferFilterForm(Form):
    """The GET form above the member list of the offer page."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), [optional(), length(100)], filters=[strip])
    kelompok = SelectField(_l("Group"), [optional()], coerce=str, filters=[strip])


class OfferForm(Form):
    mode = RadioField(choices=[SelectChoice("members", _l("Chosen members")),
                               SelectChoice("group", _l("A whole group"))])
    member_ids = SelectMultipleField(_l("Members"), coerce=str, validate_choice=False)
    group_id = SelectField(_l("Group"), [optional()], coerce=str, filters=[strip])
    target = SelectField(_l("Move to"), [required()], coerce=str, filters=[strip])
    reason = TextAreaField(_l("Message to the other partner"), [optional(), length(500)],
                           filters=[strip])


class NikRequestForm(Form):
    nik = StringField(_l("NIK of the person"), [required(), length(40)], filters=[strip])
    reason = TextAreaField(_l("Message to the partner that holds the member"),
                           [optional(), length(500)], filters=[strip])


class DeclineForm(Form):
    reason = TextAreaField(_l("Reason"), [required(), length(500)], filters=[strip])
