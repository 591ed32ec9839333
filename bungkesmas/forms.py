"""Form building blocks shared by the domains: messages in the user's language."""

from __future__ import annotations

import re

import flask_babel
from flask import request
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from flask_wtf import FlaskForm
from flask_wtf.form import SUBMIT_METHODS, _Auto
from lokal import parse_phone
from werkzeug.datastructures import MultiDict
from wtforms import SelectChoice, ValidationError
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from bungkesmas import regions


def required():
    return DataRequired(message=_l("This field is required."))


def length(most: int, least: int = -1):
    if least > 0:
        message = _l("Use between %(min)d and %(max)d characters.", min=least, max=most)
    else:
        message = _l("Use at most %(max)d characters.", max=most)
    return Length(min=least, max=most, message=message)


def email():
    return Email(message=_l("Enter a valid e-mail address."), check_deliverability=False)


def count(most: int = 10_000_000):
    return NumberRange(min=0, max=most,
                       message=_l("Enter a whole number from 0 to %(max)d.", max=most))


def strip(value):
    """Field filter: drop the spaces phone keyboards add around what was typed."""
    return value.strip() if isinstance(value, str) else value


def optional():
    return Optional()


# A mobile number written plainly — 081234567890, 6281234567890, +6281234567890 — as most
# are: its +62 form without parsing it all (a sheet import normalises 100,000 of them).
# `lokal.parse_phone` reads the same numbers the same way (tests/test_forms.py).
_PLAIN_MOBILE = re.compile(r"(?:\+62|62|0)?(8[0-9]{8,11})")


def normalise_phone(value: str | None) -> str | None:
    """Return an Indonesian phone number as +62…, or None if it is not one."""
    if value.__class__ is str and (plain := _PLAIN_MOBILE.fullmatch(value)):
        return "+62" + plain.group(1)
    info = parse_phone(value or "")
    return info.e164 if info.valid else None


def phone(form, field) -> None:
    if not field.data:
        return
    e164 = normalise_phone(field.data)
    if e164 is None:
        raise ValidationError(_l("Enter an Indonesian phone number, e.g. 0812 3456 7890."))
    field.data = e164


def province_choices():
    return [("", _l("— choose —"))] + list(regions.provinces())


def regency_choices():
    # Grouped by province: works without JavaScript; a small script filters the groups.
    return [SelectChoice("", _l("— choose —"))] + [
        SelectChoice(code, label, optgroup=name)
        for _code, name, regs in regions.all_regencies() for code, label in regs]


def regency_in_province(province_field: str):
    def check(form, field) -> None:
        if field.data and not regions.is_regency_of(field.data, getattr(form, province_field).data):
            raise ValidationError(_l("Choose a regency or city of the chosen province."))

    return check


class _BabelTranslations:
    """WTForms' own messages (e.g. "Not a valid integer value.") through our catalogue;
    WTForms ships no Indonesian translation."""

    def gettext(self, string: str) -> str:
        return flask_babel.gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        # Unformatted: WTForms fills in its own placeholders (e.g. %(value)s), while
        # flask_babel.ngettext would format with {"num": n} and raise a KeyError.
        return flask_babel.get_translations().ngettext(singular, plural, n)


class Form(FlaskForm):
    """Base class of every form: CSRF-protected, messages in the user's language."""

    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            return _BabelTranslations()

        def wrap_formdata(self, form, formdata):
            # Read the submitted form fields only. Flask-WTF would also feed uploaded
            # files and JSON bodies into the fields, where a FileStorage, a list or a
            # dict crashes the validators (a 500). NUL characters are dropped: no text
            # field needs them and PostgreSQL refuses them in text columns.
            if formdata is _Auto:
                if not (request and request.method in SUBMIT_METHODS and request.form):
                    return None
                formdata = request.form
            if formdata is None or not hasattr(formdata, "items"):
                return super().wrap_formdata(form, formdata)
            return MultiDict([(key, value.replace("\x00", "") if isinstance(value, str) else value)
                              for key, value in formdata.items(multi=True)])


# WTForms' built-in messages, listed so that extraction puts them in the catalogue.
# The plural ones go through a lazy alias named `ngettext`, one of Babel's default
# keywords: `make extract-messages` (-k _l -k lazy_gettext) would skip `lazy_ngettext`.
ngettext = lazy_ngettext
WTFORMS_MESSAGES = (
    _l("Not a valid integer value."),
    _l("Not a valid choice."),
    _l("Invalid Choice: could not coerce."),
    _l("Not a valid decimal value."),
    _l("Not a valid float value."),
    _l("Not a valid date value."),
    _l("Not a valid datetime value."),
    _l("This field is required."),
    _l("Invalid choice(s): one or more data inputs could not be coerced."),
    _l("Not a valid time value."),
    _l("Number must be at least %(min)s."),
    _l("Number must be at most %(max)s."),
    _l("Number must be between %(min)s and %(max)s."),
    _l("Date must be at least %(min)s."),
    _l("Date must be at most %(max)s."),
    _l("Date must be between %(min)s and %(max)s."),
    _l("Invalid input."),
    _l("Invalid email address."),
    ngettext("'%(value)s' is not a valid choice for this field.",
             "'%(value)s' are not valid choices for this field.", 1),
)
