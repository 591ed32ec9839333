"""Weights and the value of waste: parsing, the rounding rule, and its properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bungkesmas.waste.valuation import (
    MAX_LINE_GRAMS,
    MAX_LINE_KG,
    MAX_PRICE_PER_KG,
    WeightError,
    deposit_value,
    grams_from_kg,
    kg_decimal,
    kg_text,
    line_value,
)


@pytest.mark.parametrize(("typed", "grams"), [
    ("2,5", 2500), ("2.5", 2500), ("2,50", 2500), ("0,01", 10), ("0.01", 10), ("12", 12000),
    (" 3,75 kg ", 3750), ("500", 500_000), ("500,00", 500_000), (Decimal("1.25"), 1250),
    (2.5, 2500), (0.01, 10), (7, 7000),
])
def test_a_weight_in_kg_with_a_comma_or_a_dot_becomes_whole_grams(typed, grams):
    assert grams_from_kg(typed) == grams


@pytest.mark.parametrize(("typed", "reason"), [
    ("0", "zero"), ("0,00", "zero"), (0, "zero"), (Decimal("0.00"), "zero"),
    ("-1", "negative"), (-1, "negative"), (Decimal("-0.5"), "negative"), (-0.01, "negative"),
    ("500,01", "too_heavy"), (501, "too_heavy"), ("9999999", "too_heavy"),
    ("1,005", "decimals"), ("0,001", "decimals"), ("1.250", "decimals"), (0.005, "decimals"),
    (Decimal("2.505"), "decimals"), (0.1 + 0.2, "decimals"),
    ("", "format"), ("dua", "format"), ("1,2,3", "format"), ("1e3", "format"), ("+1", "format"),
    ("NaN", "format"), (float("nan"), "format"), (float("inf"), "format"), (None, "format"),
    (True, "format"), ([1], "format"), ("1" * 30, "format"), (Decimal("Infinity"), "format"),
])
def test_a_weight_that_is_not_usable_is_refused_with_its_reason(typed, reason):
    with pytest.raises(WeightError) as caught:
        grams_from_kg(typed)
    assert caught.value.reason == reason


def test_a_weight_is_shown_with_two_decimals_and_a_decimal_comma():
    assert kg_text(2500) == "2,50"
    assert kg_text(10) == "0,01"
    assert kg_text(500_000) == "500,00"
    assert kg_decimal(1250) == Decimal("1.25")


@pytest.mark.parametrize(("grams", "price", "value"), [
    (1000, 2500, 2500),      # 1 kg of PET
    (2500, 1700, 4250),      # 2,5 kg of cardboard
    (10, 2500, 25),          # the smallest weight
    (10, 50, 1),             # 0,5 rupiah: half rounds up
    (10, 49, 0),             # 0,49 rupiah rounds down
    (30, 2350, 71),          # 70,5 rupiah → 71
    (1230, 3333, 4100),      # 4.099,59 → 4.100
    (MAX_LINE_GRAMS, MAX_PRICE_PER_KG, MAX_LINE_KG * MAX_PRICE_PER_KG),
])
def test_a_line_is_worth_weight_times_price_rounded_half_up_to_whole_rupiah(grams, price, value):
    assert line_value(grams, price) == value


def test_a_deposit_is_worth_the_sum_of_its_rounded_lines_not_the_rounded_sum():
    # Two lines of 0,5 rupiah each: 1 + 1, where rounding the total would give 1.
    assert deposit_value([(10, 50), (10, 50)]) == 2


grams = st.integers(min_value=1, max_value=MAX_LINE_GRAMS // 10).map(lambda n: n * 10)
prices = st.integers(min_value=1, max_value=MAX_PRICE_PER_KG)


@settings(deadline=None, max_examples=200)
@given(grams, prices)
def test_the_rounding_is_half_up_exactly(weight, price):
    value = line_value(weight, price)
    exact = Decimal(weight) * price / 1000
    assert value - Decimal("0.5") <= exact < value + Decimal("0.5")
    assert value >= 0


@settings(deadline=None, max_examples=200)
@given(st.lists(st.tuples(grams, prices), min_size=1, max_size=20))
def test_a_deposit_total_is_the_sum_of_its_lines_and_never_negative(lines):
    total = deposit_value(lines)
    assert total == sum(line_value(g, p) for g, p in lines)
    assert total >= 0
    # Never off from the exact value by more than half a rupiah per line.
    exact = sum(Decimal(g) * p / 1000 for g, p in lines)
    assert abs(total - exact) <= Decimal(len(lines)) / 2


@settings(deadline=None, max_examples=200)
@given(grams, prices)
def test_more_weight_is_never_worth_less(weight, price):
    assert line_value(weight + 10, price) >= line_value(weight, price)


@settings(deadline=None, max_examples=200)
@given(st.integers(min_value=1, max_value=MAX_LINE_GRAMS // 10))
def test_every_weight_shown_parses_back_to_itself(steps):
    weight = steps * 10
    assert grams_from_kg(kg_text(weight)) == weight
    assert grams_from_kg(kg_decimal(weight)) == weight
