"""NIK rules (DOMAIN.md) and how a NIK is kept: encrypted, digested for lookup, masked.

A malformed NIK or an unknown district code is rejected; a NIK whose birth date or sex
disagrees with the person's is a warning the officer confirms (civil registration keeps
the number when a birth date is corrected)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
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


def digester(key: str | None = None):
    """`digest` of NIKs already clean (as `check` returns them), for many NIKs in a row:
    the same HMAC-SHA256 (RFC 2104) from the key's inner and outer hash states computed
    once, each NIK then costing two hash copies (a third of `hmac.digest`'s time). The
    key is the app's unless given."""
    key = (current_app.config["NIK_DIGEST_KEY"] if key is None else key).encode()
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(key.translate(_IPAD))
    outer = hashlib.sha256(key.translate(_OPAD))

    def digest_one(nik: str) -> str:
        h = inner.copy()
        h.update(nik.encode())
        o = outer.copy()
        o.update(h.digest())
        return o.hexdigest()

    return digest_one


_SHA256_BLOCK = 64
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


# --- encryption at rest ------------------------------------------------------------------

# The first byte of a token `NikCipher` writes. A Fernet token (what was written before)
# is base64 text and begins with "g" (its version byte 0x80, encoded).
GCM_V1 = b"\x01"
_NONCE = 12


class NikCipher:
    """Encryption at rest of NIKs and KK numbers with the key `NIK_ENCRYPTION_KEY` (a
    Fernet key). Writes AES-256-GCM tokens — version byte, 96-bit random nonce, cipher
    text and 128-bit tag: 45 bytes for a NIK — under a key derived from it with HKDF
    (its own `info`, so it is independent of the Fernet keys). Reads those and the Fernet
    tokens written before, with the same setting: nothing needs re-encrypting.

    Why not Fernet: authenticated encryption either way, but Fernet costs ~25 µs a value
    in Python (a cipher object, padding, an HMAC object, base64 each time) against ~3 µs,
    which was a quarter of an import's CPU time, and its tokens are 120 bytes. With
    random 96-bit nonces NIST SP 800-38D allows 2^32 encryptions under one key: thousands
    of times the values a platform of a few million members writes."""

    def __init__(self, key: str | bytes):
        self._fernet = Fernet(key)
        raw = base64.urlsafe_b64decode(key)
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"bungkesmas nik aes-256-gcm v1").derive(raw)
        self._aead = AESGCM(derived)

    def encrypt(self, value: str) -> bytes:
        return self._seal(os.urandom(_NONCE), value)

    def encrypt_many(self, values: list[str | None]) -> list[bytes | None]:
        """`encrypt` of each value (None stays None), with the nonces of all of them
        drawn from the system's random source at once: one system call, not one each."""
        random = os.urandom(_NONCE * len(values))
        seal = self._seal
        return [None if value is None else seal(random[i * _NONCE:(i + 1) * _NONCE], value)
                for i, value in enumerate(values)]

    def _seal(self, nonce: bytes, value: str) -> bytes:
        return GCM_V1 + nonce + self._aead.encrypt(nonce, value.encode(), None)

    def decrypt(self, token: bytes) -> str:
        """The value of a token of either kind; InvalidToken if it was altered or
        written with another key."""
        token = bytes(token)
        if token[:1] == GCM_V1:
            try:
                return self._aead.decrypt(token[1:1 + _NONCE], token[1 + _NONCE:],
                                          None).decode()
            except InvalidTag:
                raise InvalidToken from None
        return self._fernet.decrypt(token).decode()


@lru_cache(maxsize=4)
def _cipher_for(key: str | bytes) -> NikCipher:
    return NikCipher(key)


def cipher() -> NikCipher:
    """The app's `NikCipher` (one per key, kept)."""
    return _cipher_for(current_app.config["NIK_ENCRYPTION_KEY"])


def encrypt(value: str) -> bytes:
    return cipher().encrypt(clean(value))


def decrypt(token: bytes) -> str:
    return cipher().decrypt(token)


def mask(value: str) -> str:
    """737202******0001: the district, and the serial to tell people apart."""
    if not value.isdigit():  # as `check` returns them
        value = clean(value)
    return f"{value[:6]}******{value[-4:]}"
