"""Forms of the waste bank pages. They check the shape of the input; the rules (prices,
weights, dates, the member) are the domain's (`waste.services`)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
)
from wtforms import Form as PlainForm
from wtforms.validators import InputRequired, NumberRange

from bungkesmas.forms import Form, _BabelTranslations, length, optional, required, strip
from bungkesmas.waste.models import WasteMaterial
from bungkesmas.waste.valuation import MAX_LINES, MAX_PRICE_PER_KG

DEPOSIT_FORM_LINES = 5   # empty lines a new deposit form starts with
MORE_LINES = 3           # lines the "more lines" button adds

MATERIAL_LABELS = {
    WasteMaterial.PLASTIC: _l("Plastic"),
    WasteMaterial.PAPER: _l("Paper"),
    WasteMaterial.METAL: _l("Metal"),
    WasteMaterial.GLASS: _l("Glass"),
    WasteMaterial.OTHER: _l("Other"),
}

PRICE_STATE_LABELS = {
    "in_force": _l("in force"),
    "scheduled": _l("scheduled"),
    "past": _l("earlier"),
    "superseded": _l("corrected the same day"),
}

ROUNDING_RULE = _l("Each line is worth its weight × the price per kg in force on the deposit "
                   "date, rounded to whole rupiah (half a rupiah rounds up); the deposit is "
                   "worth the sum of its lines.")


def material_label(material) -> str:
    try:
        return str(MATERIAL_LABELS[WasteMaterial(material)])
    except ValueError:
        return str(material)


def material_choices():
    return [("", _l("— choose —"))] + [(m.value, label) for m, label in MATERIAL_LABELS.items()]


def category_choices(categories):
    return [("", _l("— choose —"))] + [(str(c.id), c.name) for c in categories]


class CategoryForm(Form):
    name = StringField(_l("Category name"), [required(), length(80, 2)], filters=[strip])
    material = SelectField(_l("Material"), [required()], coerce=str)
    active = BooleanField(_l("Bought now (uncheck to retire the category)"), default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.material.choices = material_choices()


class PriceForm(Form):
    category_id = SelectField(_l("Category"), [required()], coerce=str)
    price_per_kg = IntegerField(_l("Price per kg (Rp)"), [
        InputRequired(message=_l("Enter the price in whole rupiah.")),
        NumberRange(min=1, max=MAX_PRICE_PER_KG, message=_l(
            "Enter a price from Rp1 to Rp%(max)s per kg.",
            max=f"{MAX_PRICE_PER_KG:,}".replace(",", ".")))])
    effective_from = DateField(_l("Applies from"), [
        InputRequired(message=_l("Enter the date the price applies from."))])

    def __init__(self, categories=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.category_id.choices = category_choices(categories)


class DepositLineForm(PlainForm):
    """One line of a deposit; an entirely empty line is skipped."""

    class Meta:
        def get_translations(self, form):
            return _BabelTranslations()

    category_id = SelectField(_l("Category"), coerce=str, validate_choice=False)
    weight_kg = StringField(_l("Weight (kg)"), [length(20)], filters=[strip])

    def is_empty(self) -> bool:
        return not self.category_id.data and not self.weight_kg.data


class DepositForm(Form):
    member_number = StringField(_l("Member number"), [required(), length(30)], filters=[strip])
    deposited_on = DateField(_l("Deposit date"), [
        InputRequired(message=_l("Enter the date the waste was weighed."))])
    # No min_entries: WTForms fills up to min_entries by reading the form data again
    # under renumbered names, which copies a line when the posted indices have gaps
    # (lines-0, lines-2): a line recorded twice. __init__ pads with empty lines instead.
    lines = FieldList(FormField(DepositLineForm), max_entries=MAX_LINES)
    # One-time key of this form, made when it is shown and sent back as the idempotency
    # key: a double click (or a resent form) records the deposit once.
    submission_key = HiddenField(validators=[optional(), length(100)])

    def __init__(self, categories=(), *args, extra_lines: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        wanted = max(DEPOSIT_FORM_LINES, len(self.lines.entries) + extra_lines)
        for _n in range(min(wanted, MAX_LINES) - len(self.lines.entries)):
            self.lines.append_entry()
        choices = category_choices(categories)
        for entry in self.lines.entries:
            entry.form.category_id.choices = choices

    def filled_lines(self) -> list[tuple[int, DepositLineForm]]:
        """(position in the form, line) of the lines with anything typed in."""
        return [(n, e.form) for n, e in enumerate(self.lines.entries) if not e.form.is_empty()]
