"""Rupiah in Indonesian words (terbilang) and in figures."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bungkesmas.contributions.terbilang import LIMIT, format_rupiah, rupiah_words, terbilang
from bungkesmas.platform.products_views import rupiah


@pytest.mark.parametrize(("n", "words"), [
    (0, "nol"),
    (1, "satu"),
    (9, "sembilan"),
    (10, "sepuluh"),
    (11, "sebelas"),
    (12, "dua belas"),
    (19, "sembilan belas"),
    (20, "dua puluh"),
    (21, "dua puluh satu"),
    (99, "sembilan puluh sembilan"),
    (100, "seratus"),
    (101, "seratus satu"),
    (110, "seratus sepuluh"),
    (111, "seratus sebelas"),
    (115, "seratus lima belas"),
    (200, "dua ratus"),
    (999, "sembilan ratus sembilan puluh sembilan"),
    (1_000, "seribu"),
    (1_001, "seribu satu"),
    (1_011, "seribu sebelas"),
    (1_100, "seribu seratus"),
    (1_500, "seribu lima ratus"),
    (2_000, "dua ribu"),
    (10_000, "sepuluh ribu"),
    (11_000, "sebelas ribu"),
    (15_000, "lima belas ribu"),
    (100_000, "seratus ribu"),
    (101_000, "seratus satu ribu"),
    (111_111, "seratus sebelas ribu seratus sebelas"),
    (150_000, "seratus lima puluh ribu"),
    (1_000_000, "satu juta"),
    (1_001_000, "satu juta seribu"),
    (1_200_000, "satu juta dua ratus ribu"),
    (11_000_000, "sebelas juta"),
    (100_000_000, "seratus juta"),
    (1_000_000_000, "satu miliar"),
    (2_000_500_001, "dua miliar lima ratus ribu satu"),
    (1_000_000_000_000, "satu triliun"),
    (LIMIT - 1, "sembilan ratus sembilan puluh sembilan triliun sembilan ratus sembilan puluh "
                "sembilan miliar sembilan ratus sembilan puluh sembilan juta sembilan ratus "
                "sembilan puluh sembilan ribu sembilan ratus sembilan puluh sembilan"),
])
def test_amounts_read_as_indonesian_words(n, words):
    assert terbilang(n) == words


def test_receipt_words_start_with_a_capital_and_end_in_rupiah():
    assert rupiah_words(150_000) == "Seratus lima puluh ribu rupiah"
    assert rupiah_words(1_000) == "Seribu rupiah"
    assert rupiah_words(0) == "Nol rupiah"


@pytest.mark.parametrize("n", [-1, LIMIT, 10**18])
def test_amounts_outside_the_range_are_refused(n):
    with pytest.raises(ValueError):
        terbilang(n)


@pytest.mark.parametrize("n", [1.5, "150000", True, None])
def test_only_whole_numbers_are_read(n):
    with pytest.raises(TypeError):
        terbilang(n)


VOCABULARY = {"nol", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan",
              "sembilan", "sepuluh", "sebelas", "belas", "puluh", "seratus", "ratus", "seribu",
              "ribu", "juta", "miliar", "triliun"}


@settings(deadline=None, max_examples=300)
@given(st.one_of(st.integers(0, LIMIT - 1), st.integers(0, 2_000_000)))
def test_every_amount_reads_in_known_words_without_gaps(n):
    words = terbilang(n).split(" ")
    assert set(words) <= VOCABULARY
    assert all(words)  # no double or trailing spaces
    assert (words == ["nol"]) == (n == 0)
    # Scale words come in descending order, each at most once.
    scales = [w for w in words if w in {"triliun", "miliar", "juta", "ribu", "seribu"}]
    order = ["triliun", "miliar", "juta", "ribu"]
    ranks = [order.index("ribu" if w == "seribu" else w) for w in scales]
    assert ranks == sorted(set(ranks))
    assert rupiah_words(n).endswith(" rupiah") and rupiah_words(n)[0].isupper()


@pytest.mark.parametrize(("n", "figures"), [
    (0, "Rp0"), (500, "Rp500"), (1_000, "Rp1.000"), (150_000, "Rp150.000"),
    (1_200_000, "Rp1.200.000"), (-150_000, "-Rp150.000"),
])
def test_amounts_in_figures_use_dots_between_thousands(n, figures):
    assert format_rupiah(n) == figures


@given(st.integers(0, LIMIT - 1))
def test_figures_match_the_rupiah_template_filter(n):
    assert format_rupiah(n) == rupiah(n)
