"""NIK rules (DOMAIN.md) and how a NIK is kept: encrypted, digested for lookup, masked.

A malformed NIK or an unknown district code is rejected; a NIK whose birth date or sex
disagrees with the person's is a warning the officer confirms (civil registration keeps
the number when a birth date is corrected)."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from cryptography.fernet import Fernet
from flask import current_app
from flask_babel import gettext as _

from bungkesmas.regions import region_name

_SEPARATORS = re.compile(r"[\s.\-]")


@dataclass(frozen=True)
class NikCheck:
    nik: str
    error: str | None = None
    warning: str | None = None


def clean(value: str | None) -> str:
    return _SEPARATORS.sub("", value or "")


def check(value: str | None, birth_date: date | None = None, sex: str | None = None) -> NikCheck:
    """Validate a NIK, and compare it with the person's birth date and sex."""
    nik = value if value and value.isdigit() else clean(value)  # most are digits only
    # ASCII digits only: str.isdigit() also accepts e.g. "²", which int() refuses.
    if not (len(nik) == 16 and nik.isascii() and nik.isdigit()):
        return NikCheck(nik, _("A NIK has exactly 16 digits."))
    if nik[12:] == "0000":
        return NikCheck(nik, _("The last four digits of a NIK cannot be 0000."))
    if not _known_district(nik[:6]):
        district = f"{nik[0:2]}.{nik[2:4]}.{nik[4:6]}"
        return NikCheck(nik, _("The first six digits (%(code)s) are not a known district code.",
                               code=district))
    day, month, year = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    female = day > 40
    if female:
        day -= 40
    try:
        date(2000 + year, month, day)
    except ValueError:
        return NikCheck(nik, _("Digits 7 to 12 of a NIK must be a birth date (DDMMYY, day + 40 "
                               "for women)."))
    problems = []
    if birth_date is not None and (birth_date.day, birth_date.month, birth_date.year % 100) != (
            day, month, year):
        problems.append(_("the birth date in the NIK is %(d)02d-%(m)02d-..%(y)02d",
                          d=day, m=month, y=year))
    if sex is not None and (sex == "P") != female:
        problems.append(_("the NIK is that of a woman") if female else _("the NIK is that of a man"))
    if problems:
        return NikCheck(nik, warning=_("The NIK does not match this person: %(problems)s. "
                                       "Check the ID card; confirm if the data is right.",
                                       problems="; ".join(problems)))
    return NikCheck(nik)


@lru_cache(maxsize=16384)
def _known_district(code: str) -> bool:
    name = region_name(code)
    return bool(name) and name != code


def digest(nik: str) -> str:
    """A keyed digest for exact lookup; without the key it cannot be reversed by trying
    all NIKs."""
    key = current_app.config["NIK_DIGEST_KEY"].encode()
    return hmac.digest(key, clean(nik).encode(), hashlib.sha256).hex()


def digester():
    """`digest` of NIKs already clean (as `check` returns them), the key looked up once:
    for many NIKs in a row."""
    key = current_app.config["NIK_DIGEST_KEY"].encode()
    return lambda nik: hmac.digest(key, nik.encode(), hashlib.sha256).hex()


def encrypt(value: str) -> bytes:
    return Fernet(current_app.config["NIK_ENCRYPTION_KEY"]).encrypt(clean(value).encode())


def decrypt(token: bytes) -> str:
    return Fernet(current_app.config["NIK_ENCRYPTION_KEY"]).decrypt(bytes(token)).decode()


def mask(value: str) -> str:
    """737202******0001: the district, and the serial to tell people apart."""
    value = clean(value)
    return f"{value[:6]}******{value[-4:]}"
