"""Weights and the value of waste: plain integer arithmetic, no floats anywhere.

Weights are whole grams. A weight is typed in kilograms with at most two decimals
(the scales of a waste bank show 0.01 kg), so a stored weight is a multiple of 10 g.

The rounding rule (also shown on the deposit pages): the value of one line is
weight (kg) × price per kg, rounded half up to whole rupiah, per line; the value of a
deposit is the sum of its line values. Rounding per line keeps every line's value
checkable on paper by the member, and the total is then exactly the sum of what the
receipt lists."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

GRAMS_PER_KG = 1000
WEIGHT_STEP_GRAMS = 10           # 0.01 kg: two decimals
MAX_LINE_KG = 500                # one weighed line; a waste bank's platform scale
MAX_LINE_GRAMS = MAX_LINE_KG * GRAMS_PER_KG
MAX_PRICE_PER_KG = 1_000_000     # rupiah; copper, the dearest scrap, is far below this
MAX_LINES = 20                   # lines of one deposit

_KG = re.compile(r"^\s*(\d{1,7})(?:[.,](\d+))?\s*(?:kg)?\s*$", re.IGNORECASE)


class WeightError(ValueError):
    """A typed weight that is not a usable weight; `reason` is a stable code."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def grams_from_kg(value) -> int:
    """Parse a weight in kg ("2,5", "2.50", 2.5, Decimal("2.5")) into whole grams.

    Raises WeightError("format" | "decimals" | "zero" | "negative" | "too_heavy").
    A comma or a dot is the decimal separator (Indonesian scales and phones use both);
    there is no thousands separator — a line never reaches 1,000 kg — so "1.250" is
    refused for its three decimals rather than read as either 1.25 or 1250."""
    if isinstance(value, bool) or value is None:
        raise WeightError("format")
    if isinstance(value, int):
        kg = Decimal(value)
    elif isinstance(value, (Decimal, float)):
        try:
            kg = Decimal(str(value))
        except InvalidOperation:
            raise WeightError("format") from None
        if not kg.is_finite():
            raise WeightError("format")
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 20:
            raise WeightError("format")
        if text.startswith("-"):
            raise WeightError("negative")
        match = _KG.match(text)
        if not match:
            raise WeightError("format")
        whole, fraction = match.group(1), match.group(2) or ""
        if len(fraction) > 2:   # also "1.250": a typed third decimal is never a trailing 0
            raise WeightError("decimals")
        kg = Decimal(f"{whole}.{fraction or '0'}")
    else:
        raise WeightError("format")
    if kg < 0:
        raise WeightError("negative")
    if kg > MAX_LINE_KG:
        raise WeightError("too_heavy")
    grams = kg * GRAMS_PER_KG
    if grams != grams.to_integral_value() or int(grams) % WEIGHT_STEP_GRAMS:
        raise WeightError("decimals")
    grams = int(grams)
    if grams == 0:
        raise WeightError("zero")
    return grams


def kg_text(grams: int) -> str:
    """A weight as typed and shown: kilograms with two decimals and a decimal comma."""
    return f"{grams // GRAMS_PER_KG},{grams % GRAMS_PER_KG // WEIGHT_STEP_GRAMS:02d}"


def kg_decimal(grams: int) -> Decimal:
    """A weight in kilograms, exactly (for the API)."""
    return (Decimal(grams) / GRAMS_PER_KG).quantize(Decimal("0.01"))


def line_value(grams: int, price_per_kg: int) -> int:
    """weight × price, rounded half up to whole rupiah: floor(g × p / 1000 + 1/2),
    computed on integers as (2·g·p + 1000) // 2000."""
    if grams < 0 or price_per_kg < 0:
        raise ValueError("weights and prices are never negative")
    return (2 * grams * price_per_kg + GRAMS_PER_KG) // (2 * GRAMS_PER_KG)


def deposit_value(lines) -> int:
    """The value of a deposit: the sum of its line values, `lines` being
    (grams, price_per_kg) pairs."""
    return sum(line_value(grams, price) for grams, price in lines)
