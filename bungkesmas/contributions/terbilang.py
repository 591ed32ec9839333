"""Rupiah amounts in Indonesian words (terbilang) and in figures, as on receipts.

Plain Python, no Flask: receipts (HTML and PDF) and tests call these directly. The words
follow standard Indonesian: the "se-" forms for one ten, hundred and thousand (sepuluh,
sebelas, seratus, seribu), "satu" before juta, miliar and triliun (satu juta), "belas" for
12-19, "puluh" for tens, "ratus" for hundreds; "nol" for zero.
"""

from __future__ import annotations

__all__ = ["LIMIT", "format_rupiah", "rupiah_words", "terbilang"]

LIMIT = 10**15  # up to 999 triliun

_UNITS = ("", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan")
_SCALES = ("", "ribu", "juta", "miliar", "triliun")


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds == 1:
        words.append("seratus")
    elif hundreds:
        words += [_UNITS[hundreds], "ratus"]
    if rest == 10:
        words.append("sepuluh")
    elif rest == 11:
        words.append("sebelas")
    elif 12 <= rest <= 19:
        words += [_UNITS[rest - 10], "belas"]
    else:
        tens, units = divmod(rest, 10)
        if tens:
            words += [_UNITS[tens], "puluh"]
        if units:
            words.append(_UNITS[units])
    return words


def terbilang(n: int) -> str:
    """Return n (0 <= n < 10**15) in Indonesian words, e.g. "seratus lima puluh ribu"."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError("terbilang needs a whole number")
    if not 0 <= n < LIMIT:
        raise ValueError(f"terbilang covers 0 to {LIMIT - 1}")
    if n == 0:
        return "nol"
    groups: list[int] = []
    while n:
        n, group = divmod(n, 1000)
        groups.append(group)
    words: list[str] = []
    for scale in range(len(groups) - 1, -1, -1):
        group = groups[scale]
        if not group:
            continue
        if scale == 1 and group == 1:
            words.append("seribu")  # but "seratus satu ribu" and "satu juta"
            continue
        words += _below_thousand(group)
        if scale:
            words.append(_SCALES[scale])
    return " ".join(words)


def rupiah_words(n: int) -> str:
    """Return the amount in words as on a receipt: "Seratus lima puluh ribu rupiah"."""
    words = terbilang(n) + " rupiah"
    return words[0].upper() + words[1:]


def format_rupiah(n: int) -> str:
    """Return whole rupiah in figures with Indonesian thousands dots: "Rp150.000"; a
    negative amount (a reversal) reads "-Rp150.000". The `rupiah` template filter uses it.
    """
    sign = "-" if n < 0 else ""
    return sign + "Rp" + f"{abs(int(n)):,}".replace(",", ".")
