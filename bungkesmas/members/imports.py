"""Importing members from a spreadsheet (CSV or Excel .xlsx).

1. `upload` stores the file outside the web root and reads it once, streaming (the csv
   module line by line, openpyxl in read-only mode): every row is checked with the rules
   of registration, duplicates inside the file and NIKs already registered anywhere on
   the platform are found, and the preview — every problem of every bad row, the number
   of good rows — is recorded on a `MemberImport`. The checked values of the rows without
   errors are staged next to the file (marshalled, a batch at a time), so that the
   confirmation need not parse and check them again. Nothing is written to members.
2. `confirm` streams the staged rows, checks each batch again against what may have
   changed meanwhile (the partner's groups and products; a NIK registered meanwhile is
   refused by the unique constraints of the registry and of members) and writes exactly
   the rows the preview counted as good — members, registry entries, member numbers taken
   in one go, enrollments and one audit row per member — with bulk INSERTs, in ONE
   transaction (a savepoint inside the caller's). If one of those rows can no longer be
   imported (e.g. its NIK was registered meanwhile), nothing is written: the file is
   checked again, the preview refreshed, and the user confirms again.

The rules are those of `members.services.register` (its helpers are reused); a
birth-date/sex mismatch with the NIK, which a single registration lets the officer
confirm, is a row error here: the officer checks the ID card and corrects the row, or
registers that person individually.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
import marshal
import operator
import os
import queue
import re
import struct
import sys
import threading
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from flask import current_app, has_request_context, request
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.audit.services import record
from bungkesmas.errors import Conflict, DomainError
from bungkesmas.extensions import db
from bungkesmas.forms import normalise_phone
from bungkesmas.members import import_jobs, numbers
from bungkesmas.members import nik as nik_rules
from bungkesmas.members import services as members
from bungkesmas.members.import_models import ImportStatus, MemberImport
from bungkesmas.members.models import (
    Enrollment,
    EnrollmentStatus,
    Group,
    Member,
    MemberRegistry,
    Sex,
)
from bungkesmas.paging import Page
from bungkesmas.partners.models import Partner
from bungkesmas.timeutil import utcnow

# --- the sheet --------------------------------------------------------------------------

COLUMNS = (
    "nama_lengkap", "nik", "no_kk", "tanggal_lahir", "jenis_kelamin", "no_hp", "alamat",
    "kode_desa", "kelompok", "nama_ahli_waris", "hubungan_ahli_waris", "hp_ahli_waris",
    "persetujuan", "kode_produk",
)
REQUIRED_COLUMNS = ("nama_lengkap", "nik", "tanggal_lahir", "jenis_kelamin", "persetujuan")
TEXT_COLUMNS = ("nik", "no_kk", "no_hp", "kode_desa", "hp_ahli_waris")  # Text in the template
DATA_SHEET = "Peserta"

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_ROWS = 100_000
BATCH = 1000  # rows per registry lookup and per bulk insert
PROGRESS_ROWS = 500  # rows between two calls of a job's progress (itself time-throttled)
# An .xlsx is a zip: refuse one that would expand beyond this (a zip bomb).
MAX_UNZIPPED = 1024 * 1024 * 1024
# Flagged as "came through a number" when at least this many NIKs all end in 0.
ZERO_RUN = 5
# Files of imports never confirmed are deleted after this long (see discard_stale_files).
KEEP_FILES = timedelta(days=7)

_YES = {"ya", "yes", "y", "true", "1", "iya", "setuju"}
_SEX = {"l": Sex.MALE, "laki-laki": Sex.MALE, "laki laki": Sex.MALE, "lk": Sex.MALE,
        "p": Sex.FEMALE, "perempuan": Sex.FEMALE, "pr": Sex.FEMALE}
_ISO_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]00:00(?::00)?)?$")
_DMY_DATE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
# 7.37202E+15, 7,372025E+15: a number Excel wrote in scientific notation.
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+$")
# NNNNNNNNNNNN0000.0, NNNNNNNNNNNN0000,00: a number that went through a float.
_DECIMAL = re.compile(r"^\d{12,}[.,]\d+$")


class UnreadableFile(DomainError):
    """The file itself cannot be used (not a CSV or .xlsx, damaged, no header…)."""

    def __init__(self, message):
        super().__init__(message, "file")


# --- configuration and storage -----------------------------------------------------------


def max_bytes() -> int:
    return int(current_app.config.get("IMPORT_MAX_BYTES") or DEFAULT_MAX_BYTES)


def max_rows() -> int:
    return int(current_app.config.get("IMPORT_MAX_ROWS") or DEFAULT_MAX_ROWS)


def upload_dir() -> Path:
    """Where uploaded sheets are kept: outside the web root (instance/uploads/imports by
    default, or `IMPORT_UPLOAD_DIR`)."""
    configured = current_app.config.get("IMPORT_UPLOAD_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "uploads" / "imports"


def stored_path(imp: MemberImport) -> Path:
    return upload_dir() / str(imp.tenant_id) / f"{imp.id}.{imp.file_format}"


def allow_large_upload() -> None:
    """Called before a request to an upload route: a multipart body may be as large as
    an import file (plus the form's overhead); everything else keeps the app's limit."""
    if request.mimetype == "multipart/form-data":
        request.max_content_length = max_bytes() + 256 * 1024


def _store(stream, directory: Path) -> tuple[Path, int, str]:
    """Copy an uploaded stream to a private temporary file; (path, size, sha256)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f".upload-{uuid.uuid4().hex}"
    digest, size, limit = hashlib.sha256(), 0, max_bytes()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(1024 * 1024):
                size += len(chunk)
                if size > limit:
                    raise UnreadableFile(_("The file is larger than %(size)d MB.",
                                           size=limit // (1024 * 1024)))
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size, digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


_DELETE_KEY = "bungkesmas.delete_after_commit"
_UNDO_KEY = "bungkesmas.delete_after_rollback"


def _delete_after_commit(path: Path) -> None:
    db.session.info.setdefault(_DELETE_KEY, []).append(path)


def _delete_after_rollback(path: Path) -> None:
    """A file kept for a row that is not committed yet: it goes if the row does."""
    db.session.info.setdefault(_UNDO_KEY, []).append(path)


def _unlink(paths) -> None:
    for path in paths or ():
        with suppress(OSError):
            path.unlink(missing_ok=True)


@event.listens_for(tenancy.TenantSession, "after_commit")
def _delete_files(session) -> None:
    _unlink(session.info.pop(_DELETE_KEY, None))
    session.info.pop(_UNDO_KEY, None)


@event.listens_for(tenancy.TenantSession, "after_rollback")
def _keep_files(session) -> None:
    session.info.pop(_DELETE_KEY, None)
    _unlink(session.info.pop(_UNDO_KEY, None))


# --- reading a file -------------------------------------------------------------------


def sniff(path: Path) -> str:
    """'csv' or 'xlsx', by the content (never by the file name); else UnreadableFile."""
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise UnreadableFile(_("The file is empty."))
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                unzipped = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, OSError, ValueError):
            raise UnreadableFile(_("The Excel file is damaged or cannot be read.")) from None
        if "xl/workbook.xml" not in names:
            raise UnreadableFile(_("This file is not a CSV or Excel (.xlsx) file."))
        if unzipped > MAX_UNZIPPED:
            raise UnreadableFile(_("The Excel file is too large once unpacked. Split it into "
                                   "smaller files."))
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableFile(_("This is an old Excel file (.xls). Save it as Excel Workbook "
                               "(.xlsx) or as CSV and upload it again."))
    _csv_encoding(path)  # refuses binary files
    return "csv"


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), else
    Windows-1252 (Excel's "CSV" on Windows). A file with NUL bytes is not text."""
    with open(path, "rb") as f:
        head = f.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        utf8 = True
        while chunk := f.read(1024 * 1024):
            if b"\x00" in chunk:
                raise UnreadableFile(_("This file is not a CSV or Excel (.xlsx) file."))
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    return "utf-8-sig" if utf8 else "cp1252"


def _header_key(value) -> str:
    text = str(value or "").replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def _header_map(header) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, value in enumerate(header):
        key = _header_key(value)
        if key in COLUMNS and key not in found:
            found[key] = index
    missing = [c for c in REQUIRED_COLUMNS if c not in found]
    if missing:
        raise UnreadableFile(_("The first row must hold the column names of the template. "
                               "Missing: %(columns)s.", columns=", ".join(missing)))
    return found


@contextmanager
def open_rows(path: Path, file_format: str) -> Iterator[tuple[dict[str, int], Iterator]]:
    """(column → index, iterator of (row number, row tuple)) of a stored file. Row numbers
    are those the user sees in Excel: the header is row 1. Blank rows are skipped."""
    if file_format == "xlsx":
        with _xlsx_rows(path) as result:
            yield result
    else:
        with _csv_rows(path) as result:
            yield result


@contextmanager
def _csv_rows(path: Path):
    encoding = _csv_encoding(path)
    with open(path, encoding=encoding, errors="replace", newline="") as text:
        first = text.readline()
        if first.lower().startswith("sep=") and len(first.strip()) == 5:
            delimiter = first.strip()[4]
            first = text.readline()
        else:
            delimiter = max((",", ";", "\t", "|"),
                            key=lambda d: (sum(_header_key(c) in COLUMNS for c in first.split(d)),
                                           first.count(d)))
        reader = csv.reader(itertools.chain([first], text), delimiter=delimiter)
        try:
            header = next(reader, None)
        except csv.Error:
            header = None
        if not header:
            raise UnreadableFile(_("The file is empty."))
        columns = _header_map(header)

        def rows():
            number = 1
            strip = str.strip
            try:
                for number, row in enumerate(reader, start=2):
                    if any(map(strip, row)):
                        yield number, row
            except csv.Error:
                raise UnreadableFile(_("The CSV file cannot be read from row %(row)d on. "
                                       "Save it again as CSV and upload it.",
                                       row=number + 1)) from None

        yield columns, rows()


@contextmanager
def _xlsx_rows(path: Path):
    import warnings

    from openpyxl import load_workbook

    # A file object, not the path: openpyxl would judge a path by its extension.
    handle = open(path, "rb")  # noqa: SIM115 — closed below, after the workbook
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workbook = load_workbook(handle, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 — openpyxl raises many kinds on a damaged file
        handle.close()
        raise UnreadableFile(_("The Excel file is damaged or cannot be read.")) from None
    try:
        sheet, columns = _data_sheet(workbook)
        width = max(columns.values()) + 1

        def rows():
            try:
                for number, row in enumerate(
                        sheet.iter_rows(min_row=2, max_col=width, values_only=True), start=2):
                    if any(v is not None and (not isinstance(v, str) or v.strip()) for v in row):
                        yield number, row
            except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError,
                    EOFError) as err:
                raise UnreadableFile(_("The Excel file is damaged or cannot be read.")) from err
            except Exception as err:  # noqa: BLE001 — XML parse errors of a damaged sheet
                if type(err).__name__ in ("ParseError", "XMLSyntaxError"):
                    raise UnreadableFile(
                        _("The Excel file is damaged or cannot be read.")) from err
                raise

        yield columns, rows()
    finally:
        workbook.close()
        handle.close()


def _data_sheet(workbook):
    """The sheet holding the members: the first whose first row has the column names
    (the template's 'Petunjuk' sheet of instructions is skipped)."""
    problem = None
    sheets = sorted(workbook.worksheets, key=lambda s: s.title != DATA_SHEET)
    for sheet in sheets:
        try:
            header = next(sheet.iter_rows(min_row=1, max_row=1, max_col=60, values_only=True), ())
        except Exception:  # noqa: BLE001
            raise UnreadableFile(_("The Excel file is damaged or cannot be read.")) from None
        try:
            return sheet, _header_map(header)
        except UnreadableFile as err:
            problem = problem or err
    raise problem or UnreadableFile(_("The file is empty."))


# --- checking a row ---------------------------------------------------------------------


def excel_number_message(column: str) -> str:
    return _("Excel stored this as a number and lost its last digits, so it cannot be "
             "imported. Format the column %(column)s as Text (Format Cells → Text), type the "
             "numbers again and save the file.", column=column)


@dataclass(slots=True)
class RowResult:
    number: int
    errors: list[tuple[str, str]] = field(default_factory=list)
    # The checked values, ready to stage (None if the row has errors), see `_STAGED`.
    values: list | None = None
    digest: str | None = None
    nik: str | None = None


# The staged rows: this header, then per batch its size (_STAGE_FRAME) and its list of
# rows, marshalled — a sixth of the time JSON took to write, a quarter to read.
_STAGE_MAGIC = b"bungkesmas staged rows, marshal\n"
_STAGE_FRAME = struct.Struct("<I")
# What is staged for a row without errors, in this order (lists of them, a batch each).
_STAGED = ("row", "nik", "digest", "full_name", "birth_date", "sex", "phone", "address",
           "province_code", "regency_code", "district_code", "village_code", "group_id",
           "beneficiary_name", "beneficiary_relation", "beneficiary_phone", "kk",
           "product_code")
_EMPTY_REGION = (None, None, None, None)


class RowChecker:
    """Checks one row at a time with the partner's groups and products loaded once."""

    def __init__(self, partner: Partner, columns: dict[str, int]):
        self.partner = partner
        self.index = [columns.get(c) for c in COLUMNS]
        # A sheet with every column of the template (as its rows mostly are): the cells
        # picked in one C call.
        self._pick = (operator.itemgetter(*self.index)
                      if None not in self.index else None)
        self._width = max((i for i in self.index if i is not None), default=-1) + 1
        self.today = date.today()
        self.groups = {g.name.casefold(): g.id for g in db.session.scalars(
            select(Group).where(Group.tenant_id == partner.id))}
        self._group_text = {name: str(group_id) for name, group_id in self.groups.items()}
        self.products = {p.code.upper(): p for p in members.offered_products(partner)}
        self._regions: dict[str, tuple[tuple, str | None]] = {}
        # Enrolling needs an MOU in force whose terms cover the product (mous.services).
        from bungkesmas.mous import services as mous

        self.mou_problem = mous.enrollment_problem(partner, member_enrolled=True)
        terms = mous.mou_terms_on(partner.id, mous.today())
        self.mou_products = set(terms.product_ids) if terms else set()
        self.quota = terms.member_quota if terms else None
        self.quota_left = (self.quota - mous.enrolled_count(partner.id)
                           if self.quota is not None else None)
        # Many members share a birth date: each distinct cell is parsed once; the product
        # rules are judged once per product and birth date.
        self._births: dict = {}
        self._product_problems: dict[tuple[str, date | None], str | None] = {}
        self.digest = nik_rules.digester()

    def cells(self, row) -> list:
        """The row's cells in COLUMNS order: text stripped (NULs dropped), blank → None."""
        size = len(row)
        if self._pick is not None and size >= self._width:
            picked = self._pick(row)
        else:
            picked = [row[index] if index is not None and index < size else None
                      for index in self.index]
        return [(value.strip() if "\x00" not in value else value.replace("\x00", "").strip())
                or None if value.__class__ is str else value for value in picked]

    def check(self, number: int, row) -> RowResult:
        (name, nik_cell, kk_cell, birth_cell, sex_cell, phone_cell, address_cell, village_cell,
         group_cell, beneficiary_cell, relation_cell, beneficiary_phone_cell, consent_cell,
         product_cell) = self.cells(row)
        result = RowResult(number)
        errors = result.errors

        name = " ".join(_text(name).split())
        if not 2 <= len(name) <= 200:
            errors.append(("nama_lengkap", _("Enter the full name as on the ID card.")))

        birth = self._birth_date(birth_cell, errors)

        sex = _SEX.get(_text(sex_cell).lower())
        if sex is None:
            errors.append(("jenis_kelamin", _("Write L (male) or P (female).")))

        nik = self._nik(nik_cell, birth, sex, errors)
        if nik is not None:
            result.nik = nik
            result.digest = self.digest(nik)

        kk = self._kk(kk_cell, errors)
        phone = self._phone(phone_cell, "no_hp", errors)
        beneficiary_phone = self._phone(beneficiary_phone_cell, "hp_ahli_waris", errors)
        address = self._bounded(address_cell, "alamat", 500, errors)
        beneficiary = self._bounded(beneficiary_cell, "nama_ahli_waris", 200, errors)
        relation = self._bounded(relation_cell, "hubungan_ahli_waris", 60, errors)
        regions = self._region(village_cell, errors)

        group_id = None
        if group_cell is not None:
            group_name = _text(group_cell)
            group_id = self._group_text.get(group_name.casefold())
            if group_id is None:
                errors.append(("kelompok", _(
                    "There is no group named “%(name)s” in your organisation. Create the group "
                    "first or correct the name.", name=group_name[:120])))

        if _text(consent_cell).lower() not in _YES:
            errors.append(("persetujuan", _(
                "Write “ya” once the member has agreed to the processing of their data; a "
                "member cannot be imported without consent.")))

        code = _text(product_cell).upper() or None
        if code is not None:
            try:
                problem = self._product_problems[code, birth]
            except KeyError:
                problem = self._product_problems[code, birth] = self.product_problem(code,
                                                                                     birth)
            if problem is None and self.quota_left is not None:
                self.quota_left -= 1
                if self.quota_left < 0:
                    from bungkesmas.mous.services import quota_message

                    problem = quota_message(self.partner, self.quota)
            if problem:
                errors.append(("kode_produk", problem))

        if not errors:
            result.values = [
                number, nik, result.digest, name, birth.isoformat(), sex.value, phone, address,
                *regions, group_id, beneficiary, relation,
                beneficiary_phone, kk, code]
        return result

    def product_problem(self, code: str, birth: date | None) -> str | None:
        """Why a member born on `birth` cannot be enrolled in product `code` (the rules
        of `members.services.enroll`), or None."""
        product = self.products.get(code)
        if product is None:
            return _("Your organisation does not offer a product with code %(code)s.",
                     code=code[:20])
        if self.mou_problem:
            return self.mou_problem
        if self.mou_products and product.id not in self.mou_products:
            from bungkesmas.mous.services import not_covered_message

            return not_covered_message(self.partner)
        if birth is not None:
            version = product.current
            age = members._age(birth, self.today)
            if not version.min_age <= age <= version.max_age:
                return _("%(product)s is for ages %(min)d to %(max)d; this member is %(age)d.",
                         product=product.name, min=version.min_age, max=version.max_age,
                         age=age)
        return None

    def _birth_date(self, value, errors) -> date | None:
        try:
            parsed, problem = self._births[value]
        except KeyError:
            parsed, problem = self._births[value] = self._parse_birth_date(value)
        except TypeError:  # not hashable: never from a sheet, but never a crash either
            parsed, problem = self._parse_birth_date(value)
        if problem:
            errors.append(("tanggal_lahir", problem))
        return parsed

    def _parse_birth_date(self, value) -> tuple[date | None, str | None]:
        """(the date, None) or (None, what is wrong)."""
        if value is None:
            return None, _("This field is required.")
        parsed = None
        if isinstance(value, datetime):
            parsed = value.date()
        elif isinstance(value, date):
            parsed = value
        elif isinstance(value, str):
            for pattern, order in ((_ISO_DATE, (0, 1, 2)), (_DMY_DATE, (2, 1, 0))):
                match = pattern.match(value)
                if match:
                    parts = [int(match.group(i + 1)) for i in order]
                    with suppress(ValueError):
                        parsed = date(*parts)
                    break
        if parsed is None:
            return None, _("Write the birth date as YYYY-MM-DD (e.g. 1985-03-14) or "
                           "DD-MM-YYYY.")
        if parsed > self.today or parsed.year < self.today.year - 120:
            return None, _("Enter a real birth date.")
        return parsed, None

    def _nik(self, value, birth, sex, errors) -> str | None:
        if value is None:
            errors.append(("nik", _("This field is required.")))
            return None
        if _is_excel_number(value):
            errors.append(("nik", excel_number_message("nik")))
            return None
        check = nik_rules.check(str(value).lstrip("'"), birth, sex.value if sex else None)
        if check.error:
            errors.append(("nik", check.error))
            return None
        if check.warning:
            errors.append(("nik", "{} {}".format(check.warning, _(
                "An import cannot confirm this: correct the row, or register this member "
                "individually after checking the ID card."))))
        return check.nik

    def _kk(self, value, errors) -> str | None:
        if value is None:
            return None
        if _is_excel_number(value):
            errors.append(("no_kk", excel_number_message("no_kk")))
            return None
        kk = nik_rules.clean(str(value).lstrip("'"))
        if not kk.isdigit() or len(kk) != 16:
            errors.append(("no_kk", _("A family card number has exactly 16 digits.")))
            return None
        return kk

    def _phone(self, value, column, errors) -> str | None:
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # A number cell drops the leading 0 of 0812…: put it back.
            text = str(int(value)) if float(value).is_integer() else str(value)
            value = "0" + text if text.startswith("8") else text
        phone = normalise_phone(str(value).lstrip("'"))
        if phone is None:
            errors.append((column, _("Enter an Indonesian phone number, e.g. 0812 3456 7890.")))
        return phone

    def _bounded(self, value, column, most, errors) -> str:
        text = _text(value)
        if len(text) > most:
            errors.append((column, _("Use at most %(max)d characters.", max=most)))
        return text

    def _region(self, value, errors) -> tuple:
        """(province, regency, district, village) codes from a village code."""
        if value is None:
            return _EMPTY_REGION
        code = _text(value).replace(".", "").replace(" ", "")
        known = self._regions.get(code)
        if known is None:
            if not (len(code) == 10 and code.isdigit()):
                known = (_EMPTY_REGION, _(
                    "Write the 10-digit village code (kode desa/kelurahan of Kemendagri), "
                    "e.g. 7372021001."))
            else:
                values = {"province_code": code[:2], "regency_code": code[:4],
                          "district_code": code[:6], "village_code": code}
                try:
                    members._validate_region(values)  # the rule of registration
                    known = ((code[:2], code[:4], code[:6], code), None)
                except DomainError:
                    known = (_EMPTY_REGION, _("%(code)s is not a known village code.",
                                              code=code[:20]))
            self._regions[code] = known
        regions, message = known
        if message:
            errors.append(("kode_desa", message))
        return regions


def _text(value) -> str:
    if value is None:
        return ""
    if value.__class__ is str:
        return value
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "ya" if value else ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value).strip()


def _is_excel_number(value) -> bool:
    """A NIK or KK that is (or was) a number cell: its last digits are gone."""
    if value.__class__ is str and value.isdigit():  # as a NIK column should hold
        return False
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    text = str(value).strip()
    return bool(_SCIENTIFIC.match(text) or _DECIMAL.match(text))


# --- the preview: one pass over a file --------------------------------------------------


@dataclass
class PassResult:
    total: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    bad: set[int] = field(default_factory=set)
    staged_sha256: str = ""

    @property
    def good(self) -> int:
        return self.total - len(self.bad)


class _Preview:
    """Reads a stored file once: checks every row, finds duplicates in the file and NIKs
    already registered, and stages the checked values of the rows without errors (a JSON
    list of up to BATCH rows per line) for the confirmation, which then need not parse
    and check again."""

    def __init__(self, partner: Partner, imp: MemberImport,
                 progress=import_jobs.no_progress):
        self.partner, self.imp = partner, imp
        self.progress = progress
        self.result = PassResult()
        self.first_row: dict[str, int] = {}
        self.pending: list[RowResult] = []
        self.lookups: _RegistryLookups | None = None
        # Batches of (row number, NIK digest) whose registry lookup is under way.
        self.looking_up: list[tuple[list[tuple[int, str]], Future]] = []
        self.nik_rows = 0               # rows whose NIK has 16 digits
        self.zero_rows: list[int] = []  # …of which those ending in 0
        self.checker: RowChecker | None = None
        self.stage = None
        self.stage_hash = hashlib.sha256()
        self.stage_rows: list[list] = []

    def run(self, path: Path, staged: Path) -> PassResult:
        limit = max_rows()
        try:
            with open_rows(path, self.imp.file_format) as (columns, rows), \
                    open(staged, "wb") as self.stage, _RegistryLookups() as self.lookups:
                os.chmod(staged, 0o600)
                self.stage.write(_STAGE_MAGIC)
                self.stage_hash.update(_STAGE_MAGIC)
                self.checker = RowChecker(self.partner, columns)
                for number, row in rows:
                    if self.result.total >= limit:
                        raise UnreadableFile(_("The file has more than %(max)d rows. Split it "
                                               "into smaller files.", max=limit))
                    self._feed(number, row)
                self._stage()
                self._flush()
                self._registered()
            self._zero_run()
            if self.result.total == 0:
                raise UnreadableFile(_("The file has no member rows below the column names."))
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        self.result.errors.sort(key=lambda e: (e[0], _column_order(e[1])))
        self.result.staged_sha256 = self.stage_hash.hexdigest()
        return self.result

    def _error(self, number: int, column: str, message: str) -> None:
        self.result.errors.append((number, column, message))
        self.result.bad.add(number)

    def _feed(self, number: int, row) -> None:
        self.result.total += 1
        if not self.result.total % PROGRESS_ROWS:
            self.progress(self.result.total)
        checked = self.checker.check(number, row)
        for column, message in checked.errors:
            self._error(number, column, message)
        if checked.values is not None:
            self.stage_rows.append(checked.values)
            if len(self.stage_rows) >= BATCH:
                self._stage()
        if checked.nik is not None:
            self.nik_rows += 1
            if checked.nik.endswith("0"):
                self.zero_rows.append(number)
        if checked.digest is None:
            return
        first = self.first_row.setdefault(checked.digest, number)
        if first != number:
            # Both rows are named; which one is right, only the officer can tell.
            self._error(number, "nik", _("The same NIK is also in row %(row)d.", row=first))
            self._error(first, "nik", _("The same NIK is also in row %(row)d.", row=number))
            return
        self.pending.append(checked)
        if len(self.pending) >= BATCH:
            self._flush()

    def _stage(self) -> None:
        if self.stage_rows:
            data = marshal.dumps(self.stage_rows)
            frame = _STAGE_FRAME.pack(len(data)) + data
            self.stage.write(frame)
            self.stage_hash.update(frame)
            self.stage_rows = []

    def _flush(self) -> None:
        """Look the pending NIKs up in the registry (in the background: `_registered`
        reads the answers)."""
        if not self.pending:
            return
        batch, self.pending = [(r.number, r.digest) for r in self.pending], []
        self._registered()  # the batch before: answered while this one was checked
        self.looking_up.append((batch, self.lookups.submit([d for _n, d in batch])))

    def _registered(self) -> None:
        """NIKs already registered — here or at another partner (which one, not said)."""
        for batch, answer in self.looking_up:
            known = answer.result()
            for number, digest in batch:
                entry = known.get(digest)
                if entry is None:
                    continue
                partner_id, member_number = entry
                if partner_id == self.partner.id:
                    message = _("This NIK is already registered here as member %(number)s.",
                                number=member_number)
                else:
                    message = members._known_nik_message()
                self._error(number, "nik", message)
        self.looking_up = []

    def _zero_run(self) -> None:
        """Excel keeps 15 significant digits: a NIK column that went through a number
        format ends every NIK in 0. One NIK in ten ends in 0; all of them, never."""
        if self.nik_rows >= ZERO_RUN and len(self.zero_rows) == self.nik_rows:
            for number in self.zero_rows:
                self._error(number, "nik", excel_number_message("nik"))


class _RegistryLookups:
    """Lookups of NIK digests in the registry (the platform-wide index, no personal
    data): {digest: (partner id, member number)}. They run in a second thread on a
    connection of its own while the preview checks the rows that follow — the database's
    work (the index probes; SQLite releases the GIL meanwhile, PostgreSQL works in its
    own process) overlaps with the checking, which is Python's. Each lookup reads what
    is committed when it runs, as the preview's own transaction would (PostgreSQL's
    READ COMMITTED). Not threaded for an in-memory SQLite database (another connection
    would be another database): there each lookup runs at once, in the session."""

    def __init__(self):
        connection = db.session.connection()
        self.engine = connection.engine
        self.executor = self.connection = None
        self._sql: dict[int, str] = {}
        if _threads_may_share(connection):
            self.executor = ThreadPoolExecutor(max_workers=1,
                                               thread_name_prefix="import-lookup")

    def __enter__(self) -> _RegistryLookups:
        return self

    def __exit__(self, *_exc) -> None:
        if self.executor is not None:
            self.executor.submit(self._close)
            self.executor.shutdown(wait=True)

    def submit(self, digests: list[str]) -> Future:
        if self.executor is not None:
            return self.executor.submit(self._lookup, digests)
        answer: Future = Future()
        answer.set_result(self._query(db.session.connection(), digests))
        return answer

    def _lookup(self, digests: list[str]) -> dict:
        # Only this thread uses the connection (one worker).
        if self.connection is None:
            self.connection = self.engine.connect()
        return self._query(self.connection, digests)

    def _query(self, connection, digests: list[str]) -> dict:
        sql = self._sql.get(len(digests))
        if sql is None:
            placeholder = ("%s" if self.engine.dialect.paramstyle in ("format", "pyformat")
                           else "?")
            sql = self._sql[len(digests)] = (
                "SELECT nik_digest, partner_id, member_number FROM member_registry "
                f"WHERE nik_digest IN ({', '.join([placeholder] * len(digests))})")
        rows = connection.exec_driver_sql(sql, tuple(digests))
        return {digest: (partner_id, number) for digest, partner_id, number in rows}

    def _close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _column_order(column: str) -> int:
    return COLUMNS.index(column) if column in COLUMNS else len(COLUMNS)


# --- the confirmation: writing in bulk ----------------------------------------------------


class _Changed(Exception):
    """A row the preview counted as good can no longer be imported."""


class _BulkInsert:
    """INSERT of many rows through the session's connection (its transaction, its tenant
    scope: Row-Level Security applies on PostgreSQL) without per-row statement overhead.
    Each row gives the values of `columns`; the values every row shares (`constants`:
    the tenant, the actor, the time…) are given once per statement, not once per row.
    SQLite: INSERTs of up to
    ROWS_PER_INSERT rows each (VALUES (…), (…), …, the constants as numbered parameters
    every row names): the sqlite3 module releases the GIL
    once per statement, so a thread preparing the next batch meanwhile runs freely —
    with executemany it would take the GIL back after every single row and, against a
    busy thread, wait for it each time (measured: 4 times slower). PostgreSQL: COPY of
    the batch into a temporary table of the rows' columns, then
    one INSERT … SELECT into the real table, the constants as its parameters — COPY
    straight into a table with Row-Level
    Security is not allowed, and executemany costs the server (an executor run per row)
    and the application about twice as much per row (measured: 46 against 24 µs of
    server time, 13 against 6 µs of ours per member row). The INSERT checks the policies,
    foreign keys and unique indexes as any other. With `deferred_order`, the rows wait
    in the temporary table (on SQLite too) until `finish` moves them all at once, sorted
    by that column. Rows are lists in `columns` order of
    values already in the form the driver takes for the column (`convert`, which applies
    the column's SQLAlchemy type conversion, or built so by the caller: converting each
    value of 100,000 rows through the types cost more than building it right)."""

    def __init__(self, table, columns: tuple[str, ...], constants: dict | None = None,
                 *, deferred_order: str | None = None):
        self.connection = db.session.connection()
        dialect = self.connection.dialect
        self.processors = {c: table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
                           for c in (*columns, *(constants or ()))}
        constants = {c: self.convert(c, value) for c, value in (constants or {}).items()}
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(c) for c in (*columns, *constants))
        varying = ", ".join(quote(c) for c in columns)
        self.copy = dialect.name == "postgresql"
        # Staged: the rows go into a temporary table of their columns (no constraints),
        # and from there into the real one with one INSERT … SELECT — after each batch,
        # or, `deferred_order` given, once at the end (`finish`) in that order.
        self.deferred = deferred_order is not None
        staged = self.copy or self.deferred
        staging = quote(f"import_{table.name}")
        if self.copy:
            # Dropped when the transaction ends.
            self.connection.exec_driver_sql(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS "
                f"SELECT {varying} FROM {quote(table.name)} WITH NO DATA")
            self.copy_sql = f"COPY {staging} ({varying}) FROM STDIN"
            # Each constant cast to its column's type (a parameter's type is not inferred
            # from the column it goes to in a SELECT list).
            shared = [f"CAST(%(c{i})s AS {table.c[c].type.compile(dialect=dialect)})"
                      for i, c in enumerate(constants)]
            self.params = {f"c{i}": value for i, value in enumerate(constants.values())}
            self.empty_sql = f"TRUNCATE {staging}"
        else:
            if staged:
                # SQLite's temporary tables live in the connection's own temp database;
                # one left by an import that failed is emptied first.
                staging = f"temp.{staging}"
                self.connection.exec_driver_sql(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} AS "
                    f"SELECT {varying} FROM {quote(table.name)} WHERE 0")
                self.connection.exec_driver_sql(f"DELETE FROM {staging}")
                self.empty_sql = f"DELETE FROM {staging}"
            # ?1 … ?k: the constants; then each row's values, numbered on (into a staging
            # table: the row values alone, the constants come with the INSERT … SELECT).
            self.params = tuple(constants.values())
            shared = [f"?{i + 1}" for i in range(len(constants))]
            self.width, self.shared = len(columns), [] if staged else shared
            self.insert_sql = (f"INSERT INTO {staging} ({varying}) VALUES " if staged else
                               f"INSERT INTO {quote(table.name)} ({names}) VALUES ")
            # SQLite takes at most 32,766 parameters in a statement.
            self.rows_per_insert = max(1, min(ROWS_PER_INSERT,
                                              (32766 - len(self.shared)) // max(1, len(columns))))
            self._sql_for: dict[int, str] = {}
        if staged:
            order = f" ORDER BY {quote(deferred_order)}" if self.deferred else ""
            self.sql = (f"INSERT INTO {quote(table.name)} ({names}) "
                        f"SELECT {', '.join([varying, *shared])} FROM {staging}{order}")

    def _insert_sql(self, rows: int) -> str:
        sql = self._sql_for.get(rows)
        if sql is None:
            number = itertools.count(len(self.shared) + 1)
            sql = self._sql_for[rows] = self.insert_sql + ", ".join(
                "({})".format(", ".join([*(f"?{next(number)}" for _ in range(self.width)),
                                         *self.shared]))
                for _ in range(rows))
        return sql

    def convert(self, column: str, value):
        process = self.processors[column]
        return value if process is None or value is None else process(value)

    def payload(self, rows: list[list]) -> list[list] | bytes:
        """What `__call__` takes for `rows`: on PostgreSQL their COPY text, built here,
        by the thread that prepares the batches, so that the one inserting them only
        sends it and the server starts sooner (with psycopg's write_row, row by row, that
        thread also waited for the GIL held by the preparing one while the server had
        nothing to do); elsewhere the rows themselves."""
        if not self.copy:
            return rows
        text = _copy_text
        return "".join(["\t".join([text(value) for value in row]) + "\n"
                        for row in rows]).encode()

    def __call__(self, rows: list[list] | bytes) -> None:
        if not rows:
            return
        if self.copy:
            dbapi = self.connection.connection.dbapi_connection  # psycopg, same transaction
            with dbapi.cursor() as cursor, cursor.copy(self.copy_sql) as copy:
                if isinstance(rows, bytes):
                    copy.write(rows)
                else:
                    for row in rows:
                        copy.write_row(row)
        else:
            step, params = self.rows_per_insert, () if self.deferred else self.params
            for start in range(0, len(rows), step):
                part = rows[start:start + step]
                self.connection.exec_driver_sql(
                    self._insert_sql(len(part)), (*params, *itertools.chain.from_iterable(part)))
        if self.copy and not self.deferred:
            self._move()

    def finish(self) -> None:
        """Deferred rows: into the real table now, in their order."""
        if self.deferred:
            self._move()

    def _move(self) -> None:
        # Through SQLAlchemy: a unique violation is its IntegrityError on both databases.
        self.connection.exec_driver_sql(self.sql, self.params)
        self.connection.exec_driver_sql(self.empty_sql)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    """A value in PostgreSQL's COPY text format (tab-separated): NULL as \\N; in text,
    backslash, tab, newline and carriage return escaped; bytes as bytea's hex form."""
    if value is None:
        return "\\N"
    kind = value.__class__
    if kind is str:
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(_COPY_ESCAPES)
        return value
    if kind is bytes:
        return "\\\\x" + value.hex()
    if kind is bool:
        return "t" if value else "f"
    return str(value)  # int, date (ISO), UUID


# SQLite: rows in one INSERT statement (see _BulkInsert) — a whole batch where the
# parameter limit allows: each statement takes the GIL back from the preparing thread,
# which may hold it for up to the interpreter's switch interval (see _SwitchInterval).
ROWS_PER_INSERT = 1000
# SQLite page cache of the connection while an import of many rows writes (KiB). Measured
# on 100,000 rows at a million members (2026-12-07): into a new partner 2 to 64 MB made
# no difference; into a partner already holding 100,000 members, 16 MB confirmed in
# 8.1-8.3 s, 32 MB in 6.9-7.5 s, 64 MB in 6.9-7.2 s — and 64 MB took the import's peak
# RSS to 286-291 MB (an .xlsx as Excel saves it), 32 MB to 249-250.
IMPORT_PAGE_CACHE_KB = 32 * 1024


@contextmanager
def _large_page_cache(connection, rows: int):
    """SQLite: a larger page cache while many rows are written. Each member goes into
    the partner's indexes of members (NIK digest, name, phone…) at a random place: with
    SQLite's default 2 MB cache, pages of those indexes are evicted and read again (and
    dirty ones spilled) over and over once the partner has many members (the registry's
    rows, platform-wide, go in sorted at the end: `_Writer`). The usual size (and
    memory) comes back afterwards."""
    if connection.dialect.name != "sqlite" or rows <= BATCH:
        yield
        return
    previous = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{IMPORT_PAGE_CACHE_KB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous)}")


class _SwitchInterval:
    """While imports write with two threads, the interpreter's switch interval is
    shortened (for the whole process: it is global; back to what it was when the last
    of them ends). Each time the inserting thread comes back from the database (a COPY,
    an INSERT) it needs the GIL, which the thread preparing the next batch holds; it
    asks, and gets it at that thread's next switch — by default up to 5 ms later, and
    meanwhile the database has nothing to do. Measured on 100,000 rows: 1 to 3 s less
    wall time for the writing on both databases at 0.5 ms; the cost is more frequent
    switches between busy threads, which other threads of the process only gain from."""

    INTERVAL = 0.0005

    def __init__(self):
        self.lock = threading.Lock()
        self.users = 0
        self.saved = 0.0

    @contextmanager
    def __call__(self, inserter: _Inserter):
        if inserter.thread is None:
            yield
            return
        with self.lock:
            if self.users == 0:
                self.saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self.saved, self.INTERVAL))
            self.users += 1
        try:
            yield
        finally:
            with self.lock:
                self.users -= 1
                if self.users == 0:
                    sys.setswitchinterval(self.saved)


def _threads_may_share(connection) -> bool:
    """A second thread may use this connection while the first waits (not so for an
    in-memory SQLite database, which lives in one thread's connection)."""
    if connection.dialect.name != "sqlite":
        return True
    return connection.engine.url.database not in (None, "", ":memory:")


class _Inserter:
    """Runs the inserts of prepared batches in a second thread, on the transaction's
    connection, while the calling thread prepares the next batch: the database's work
    (SQLite's B-trees — the sqlite3 module releases the GIL while a statement runs —,
    PostgreSQL's round trips and server time) overlaps with the Python work. Until
    `close`, only that thread uses the connection. Not `threaded`: each batch is
    inserted at once, in the calling thread."""

    def __init__(self, threaded: bool):
        self.error: BaseException | None = None
        self.thread = None
        if threaded:
            self.queue: queue.Queue = queue.Queue(maxsize=1)
            self.thread = threading.Thread(target=self._loop, name="import-insert",
                                           daemon=True)
            self.thread.start()

    def submit(self, insert) -> None:
        if self.error is not None:
            raise self.error
        if self.thread is None:
            insert()
        else:
            self.queue.put(insert)

    def _loop(self) -> None:
        while (insert := self.queue.get()) is not None:
            if self.error is None:  # after a failure, only drain the queue
                try:
                    insert()
                except BaseException as err:  # noqa: BLE001 — handed to the caller
                    self.error = err

    def close(self, quietly: bool = False) -> None:
        """Wait until every batch submitted is inserted; re-raise the first failure
        (unless `quietly`: the caller is already failing)."""
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
            self.thread = None
        if self.error is not None and not quietly:
            raise self.error


_MEMBER_COLUMNS = (
    "tenant_id", "id", "member_number", "full_name", "name_key", "nik_digest", "nik_encrypted",
    "nik_masked", "nik_mismatch_confirmed", "kk_encrypted", "kk_masked", "birth_date", "sex",
    "phone", "address", "province_code", "regency_code", "district_code", "village_code",
    "group_id", "is_coordinator", "beneficiary_name", "beneficiary_relation",
    "beneficiary_phone", "consent_at", "consent_version", "consent_by_id", "created_at",
    "created_by_id", "updated_at")
_REGISTRY_COLUMNS = ("member_number", "nik_digest", "partner_id", "member_id", "created_at")
# What differs from one imported row to the next (the rest is the same for all of them:
# `_Writer` gives it once per statement).
_MEMBER_ROW = (
    "id", "member_number", "full_name", "name_key", "nik_digest", "nik_encrypted",
    "nik_masked", "kk_encrypted", "kk_masked", "birth_date", "sex", "phone", "address",
    "province_code", "regency_code", "district_code", "village_code", "group_id",
    "beneficiary_name", "beneficiary_relation", "beneficiary_phone")
_REGISTRY_ROW = ("member_number", "nik_digest", "member_id")
_ENROLLMENT_ROW = ("id", "member_id", "product_version_id")
_AUDIT_ROW = ("entity_id", "after")  # `after` as its JSON text, see _AUDIT_AFTER

# The audit row of an imported member: the text json.dumps (what the JSON column's type
# uses) writes for the dict of `members._audit_view`'s keys, import id, row number and
# enrollment, in this order — written with the json module's own string encoder, a third
# of the cost of building the dict and encoding it (tests compare it with json.dumps).
_json_string = json.encoder.encode_basestring_ascii
_AUDIT_AFTER = (
    '{"full_name": %s, "birth_date": %s, "sex": %s, "phone": %s, "address": %s, '
    '"province_code": %s, "regency_code": %s, "district_code": %s, "village_code": %s, '
    '"group_id": %s, "beneficiary_name": %s, "beneficiary_relation": %s, '
    '"beneficiary_phone": %s, "nik": %s, "kk": %s, "nik_mismatch_confirmed": false, '
    '"member_number": %s, "import_id": %s, "row": %d')
_AUDIT_ENROLLMENT = ('%s, "enrollment": {"id": "%s", "product": %s, "version": %d, '
                     '"status": %s}}')


def _staged_batches(staged: Path, sha256: str, digest) -> Iterator[list[list]]:
    """The lists of rows a preview staged (updating `digest` with the bytes read): after
    `_STAGE_MAGIC`, frames of a length and a marshalled list of rows; or, staged by an
    earlier version, lines of JSON — a list of rows, or a single row. marshal reads only
    what this module wrote: the file must have the SHA-256 the preview recorded before
    any of it is read (the caller compares `digest` at the end too); else _Changed."""
    if _sha256(staged) != sha256:
        raise _Changed("the staged rows were altered")
    with open(staged, "rb") as f:
        head = f.read(len(_STAGE_MAGIC))
        if head == _STAGE_MAGIC:
            digest.update(head)
            while size := f.read(_STAGE_FRAME.size):
                data = f.read(_STAGE_FRAME.unpack(size)[0])
                digest.update(size)
                digest.update(data)
                yield marshal.loads(data)  # noqa: S302 — checked above
            return
        f.seek(0)
        for line in f:
            digest.update(line)
            rows = json.loads(line)
            yield [rows] if rows and not isinstance(rows[0], list) else rows


_quick_switches = _SwitchInterval()


class _Writer:
    """Writes the staged rows of an import that the preview approved, in the caller's
    transaction, in one pass over the staged rows:

    1. their member numbers are taken at once (as many as the preview counted);
    2. each batch is checked again against what may have changed since the preview —
       the partner's groups and products — and prepared (ids, encryption, one audit row
       per member) while `_Inserter` writes the previous one with bulk INSERTs —
       members, registry entries, audit rows — on the transaction's connection;
    3. on SQLite the registry entries go in at the end, in NIK-digest order, and the
       enrollments with their batch's members; on PostgreSQL the registry entries go
       with their batch, the enrollments after all members (see `_flush_enrollments`).

    A NIK registered meanwhile (here or at another partner) is not looked up again: the
    unique constraints of the registry and of members refuse it (IntegrityError), as
    they would for one registered by a transaction that commits while this one runs.
    Whatever goes wrong — that, a changed group or product, a staged file that is not
    the one the preview wrote —, the caller's savepoint takes back everything written."""

    def __init__(self, actor, partner: Partner, imp: MemberImport, approved_bad: set[int],
                 ip: str | None = None):
        if not tenancy.current_scope().allows(partner.id):  # the ORM wall, for Core
            raise tenancy.TenantScopeError("Import into a partner outside the scope")
        self.actor, self.partner, self.imp = actor, partner, imp
        self.approved_bad = approved_bad
        self.checker = RowChecker(partner, {})
        self.versions = {code: (p.current.id, p.current.version)
                         for code, p in self.checker.products.items()}
        self.products_ok: dict[tuple[str, str], bool] = {}
        self.inserted = 0
        self.enrollments: list[list] = []
        now, actor_id = utcnow(), getattr(actor, "id", None)
        self.actor_id = actor_id
        self.consent_version = current_app.config["CONSENT_VERSION"]
        # The NIK's encryption at rest (`nik_rules.encrypt`), a batch at a time.
        self.encrypt_many = nik_rules.cipher().encrypt_many
        # The values every row shares, given once per statement.
        m = self.insert_members = _BulkInsert(Member.__table__, _MEMBER_ROW, {
            "tenant_id": partner.id, "nik_mismatch_confirmed": False, "is_coordinator": False,
            "consent_at": now, "consent_version": self.consent_version,
            "consent_by_id": actor_id, "created_at": now, "created_by_id": actor_id,
            "updated_at": now})
        # SQLite: the registry's rows go in at the end, in the order of their NIK digest:
        # its index of every NIK on the platform then takes them in one sweep instead of
        # at random places all along the import, while the members' pages compete for the
        # page cache (a quarter of the writing time, measured at a million members).
        # PostgreSQL gained nothing from it (the server's work per row is the same, and
        # it overlaps with the preparing thread when it goes with each batch).
        sqlite = m.connection.dialect.name == "sqlite"
        self.insert_registry = _BulkInsert(MemberRegistry.__table__, _REGISTRY_ROW, {
            "partner_id": partner.id, "created_at": now},
            deferred_order="nik_digest" if sqlite else None)
        self.insert_enrollments = _BulkInsert(Enrollment.__table__, _ENROLLMENT_ROW, {
            "tenant_id": partner.id, "status": EnrollmentStatus.PENDING_PAYMENT,
            "enrolled_at": now, "enrolled_by_id": actor_id, "cancelled_at": None})
        self.insert_audit = _BulkInsert(AuditEvent.__table__, _AUDIT_ROW, {
            "created_at": now, "actor_id": actor_id,
            "actor_label": f"user:{actor_id}" if actor is not None else "system",
            "partner_id": partner.id, "action": "member.import", "entity_type": "Member",
            "before": None, "ip_address": ip})
        self.m_sex = {sex.value: m.convert("sex", sex) for sex in Sex}
        # Staged group ids (their text) in the column's form.
        self.groups = {str(g): m.convert("group_id", g) for g in self.checker.groups.values()}
        self.births: dict[str, object] = {}  # staged birth date → the column's form
        # Ids in the form the Uuid columns take: what the type makes of a UUID (SQLite: its
        # 32 hex digits), else its text, which PostgreSQL reads as well as the object.
        probe = tenancy.new_id()
        self.hex_ids = m.convert("id", probe) == probe.hex
        self.enroll_at_end = m.connection.dialect.name == "postgresql"

    def _batches(self, staged: Path, digest) -> Iterator[list[list]]:
        """The staged rows the preview approved, a batch at a time."""
        approved_bad = self.approved_bad
        for rows in _staged_batches(staged, self.imp.staged_sha256, digest):
            batch = [values for values in rows
                     if values[0] not in approved_bad]  # the others: never imported
            if batch:
                yield batch

    def run(self, staged: Path, progress=import_jobs.no_progress) -> int:
        count = self.imp.good_rows
        numbers_ = iter(numbers.take_member_numbers(self.partner.id, count))
        digest = hashlib.sha256()
        connection = self.insert_members.connection
        inserter = _Inserter(threaded=count > BATCH and _threads_may_share(connection))
        try:
            with _large_page_cache(connection, count), _quick_switches(inserter):
                for batch in self._batches(staged, digest):
                    self._check_again(batch)
                    inserter.submit(self._prepare(batch, numbers_))
                    progress(self.inserted)
                inserter.close()
        except BaseException:
            inserter.close(quietly=True)
            raise
        if digest.hexdigest() != self.imp.staged_sha256:
            raise _Changed("the staged rows were altered")
        if self.inserted != count:
            raise _Changed("the count differs")
        progress(self.inserted)
        self.insert_registry.finish()
        self._flush_enrollments()
        return self.inserted

    def _check_again(self, batch: list[list]) -> None:
        """Check staged rows against what may have changed since the preview: the
        partner's groups and products (an MOU, an age limit)."""
        groups, problem, products_ok = self.groups, self.checker.product_problem, self.products_ok
        for values in batch:
            group_id, code = values[12], values[17]
            if group_id is not None and group_id not in groups:
                raise _Changed("a group is gone")
            if code is not None:
                key = (code, values[4])
                ok = products_ok.get(key)
                if ok is None:
                    ok = products_ok[key] = not problem(code, date.fromisoformat(values[4]))
                if not ok:
                    raise _Changed("a product changed")

    def _ids(self, count: int) -> list[tuple[str, object]]:
        """`count` new ids: (text, the Uuid columns' form)."""
        out = []
        for value in tenancy.new_id_values(count):
            h = f"{value:032x}"
            text = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            out.append((text, h if self.hex_ids else text))
        return out

    def _prepare(self, batch: list[list], numbers_: Iterator[str]):
        """The rows of a batch, ready to insert; returns the function that inserts them."""
        m_sex, q = self.m_sex, _json_string
        import_ref = _json_string(str(self.imp.id))
        members_, registry, audit = [], [], []
        mask, name_key = nik_rules.mask, members.name_key
        groups, versions, births = self.groups, self.versions, self.births
        pending = _json_string(str(EnrollmentStatus.PENDING_PAYMENT))
        birth_form = self.insert_members.convert
        # NIK and KK of the whole batch: two calls, one system call each for the nonces.
        niks = self.encrypt_many([values[1] for values in batch])
        kks = self.encrypt_many([values[16] for values in batch])
        # One id per member and per enrollment (at most): one system call for them all.
        ids = iter(self._ids(2 * len(batch)))
        for values, nik_token, kk_token in zip(batch, niks, kks, strict=True):
            (row, nik, digest, name, birth, sex, phone, address, province, regency, district,
             village, group_id, beneficiary, relation, beneficiary_phone, kk, code) = values
            try:
                number = next(numbers_)
            except StopIteration:
                raise _Changed("more staged rows than counted") from None
            member_text, member_id = next(ids)
            nik_masked = mask(nik)
            kk_masked = mask(kk) if kk else None
            try:
                birth_value = births[birth]
            except KeyError:
                birth_value = births[birth] = birth_form("birth_date", date.fromisoformat(birth))
            members_.append([
                member_id, number, name, name_key(name), digest, nik_token, nik_masked,
                kk_token, kk_masked, birth_value, m_sex[sex], phone, address, province,
                regency, district, village, groups[group_id] if group_id else None,
                beneficiary, relation, beneficiary_phone])
            registry.append([number, digest, member_id])
            # What the audit log may hold of a member: `members._audit_view`'s choice (the
            # staged birth date and group id are already its text), as JSON text.
            after = _AUDIT_AFTER % (
                q(name), q(birth), q(sex), q(phone) if phone is not None else "null",
                q(address), q(province) if province is not None else "null",
                q(regency) if regency is not None else "null",
                q(district) if district is not None else "null",
                q(village) if village is not None else "null",
                q(group_id) if group_id is not None else "null", q(beneficiary),
                q(relation), q(beneficiary_phone) if beneficiary_phone is not None else "null",
                q(nik_masked), q(kk_masked) if kk_masked is not None else "null", q(number),
                import_ref, row)
            if code is not None:
                version_id, version = versions[code]
                enrollment_text, enrollment_id = next(ids)
                self.enrollments.append([enrollment_id, member_id, version_id])
                after = _AUDIT_ENROLLMENT % (after, enrollment_text, q(code), version, pending)
            else:
                after += "}"
            audit.append([member_text, after])

        enrollments = []
        if not self.enroll_at_end:
            enrollments, self.enrollments = self.enrollments, []

        count = len(members_)
        members_ = self.insert_members.payload(members_)
        registry = self.insert_registry.payload(registry)
        audit = self.insert_audit.payload(audit)

        def insert() -> None:
            self.insert_members(members_)
            self.insert_registry(registry)
            self.insert_audit(audit)
            self.insert_enrollments(enrollments)
            self.inserted += count

        return insert

    def _flush_enrollments(self) -> None:
        """The enrollments kept for the end (PostgreSQL), once all members are in. Each
        enrollment's foreign key is checked with a query on members that is planned once
        per connection: planned while members (without statistics yet, as in a new
        database) holds only a few rows, it can pick an index that scans all of the
        partner's members for every check — quadratic. Planned now, with the import's
        members present, it picks the primary key. (SQLite checks a foreign key through
        the primary key always: there they go in with their batch.)"""
        for start in range(0, len(self.enrollments), BATCH):
            self.insert_enrollments(self.enrollments[start:start + BATCH])
        self.enrollments = []


# --- the domain functions ----------------------------------------------------------------


def staged_path(imp: MemberImport) -> Path:
    return upload_dir() / str(imp.tenant_id) / f"{imp.id}.rows.jsonl"


def upload(actor, partner: Partner, stream, file_name: str, *,
           confirm_when_clean: bool = False) -> MemberImport:
    """Store an uploaded sheet and preview it. Raises UnreadableFile (nothing kept) if
    the file cannot be used at all.

    A file of `import_jobs.inline_rows()` rows or more is only stored here: a background
    job checks it once the caller has committed (status UPLOADED, CHECKING, then
    PREVIEWED — or REJECTED if it turns out unusable). With `confirm_when_clean` (the
    API's confirm=true) that job goes on to import the file if no row has an error."""
    members._require_active(partner)
    tenant_dir = upload_dir() / str(partner.id)
    temporary, size, sha256 = _store(stream, tenant_dir)
    result = None
    try:
        file_format = sniff(temporary)
        imp = MemberImport(id=tenancy.new_id(), tenant_id=partner.id,
                           status=ImportStatus.UPLOADED, file_name=_clean_name(file_name),
                           file_format=file_format, file_size=size, file_sha256=sha256,
                           created_by_id=getattr(actor, "id", None), failure="",
                           confirm_when_clean=confirm_when_clean)
        about, total = estimate_rows(temporary, file_format)
        if about < import_jobs.inline_rows():
            result = _Preview(partner, imp).run(temporary, staged_path(imp))
        os.replace(temporary, stored_path(imp))
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if result is not None:
        _set_preview(imp, result)
    else:
        _delete_after_rollback(stored_path(imp))
        import_jobs.queue(imp, ImportStatus.UPLOADED, actor, total=total)
    db.session.add(imp)
    db.session.flush()
    discard_stale_files(partner)
    return imp


def estimate_rows(path: Path, file_format: str) -> tuple[int, int | None]:
    """(About how many member rows a stored file holds — enough to choose between the
    request and a background job —; the same if it can serve as the total of a progress
    bar, else None.) A CSV's lines are counted (never fewer than its rows); an .xlsx says
    how many rows its sheet spans if the program that wrote it did (Excel and LibreOffice
    do), else the size of its sheet tells roughly."""
    if file_format == "csv":
        lines, last = 0, b"\n"
        with open(path, "rb") as f:
            while chunk := f.read(1024 * 1024):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        rows = max(lines + (last != b"\n") - 1, 0)
        return rows, rows
    best, exact = 0, None
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not (info.filename.startswith("xl/worksheets/")
                    and info.filename.endswith(".xml")):
                continue
            with archive.open(info) as f:
                match = _DIMENSION.search(f.read(4096))
            if match:
                rows, known = max(int(match.group(1) or 1) - 1, 0), True
            else:
                rows, known = info.file_size // _XLSX_BYTES_PER_ROW, False
            if rows >= best:
                best, exact = rows, rows if known else None
    return best, exact


# <dimension ref="A1:N5001"/> near the start of a sheet: the cells it spans.
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension ref="[A-Z]+\d+(?::[A-Z]+(\d+))?"')
# Bytes of sheet XML per row when a writer leaves out <dimension>: rows of the template
# take 150 (shared strings, the required columns only) to 750 (inline strings, all).
_XLSX_BYTES_PER_ROW = 150


def discard_stale_files(partner: Partner | None, older_than: timedelta = KEEP_FILES) -> int:
    """Delete the files of the partner's imports (every partner's the scope shows, for
    None — `flask imports purge`) that were never confirmed and are older than
    `older_than` (they hold personal data): such an import can no longer be confirmed,
    the user uploads the sheet again. Returns how many files were deleted."""
    cutoff = utcnow() - older_than
    stmt = (select(MemberImport.tenant_id, MemberImport.id, MemberImport.file_format)
            .where(MemberImport.created_at < cutoff,
                   MemberImport.status != ImportStatus.COMMITTED))
    if partner is not None:
        stmt = stmt.where(MemberImport.tenant_id == partner.id)
    stale = db.session.execute(stmt).all()
    gone = 0
    for tenant_id, import_id, file_format in stale:
        stub = SimpleNamespace(tenant_id=tenant_id, id=import_id, file_format=file_format)
        for path in (stored_path(stub), staged_path(stub)):
            if path.exists():
                path.unlink(missing_ok=True)
                gone += 1
    return gone


def confirm(actor, partner: Partner, imp: MemberImport) -> ConfirmResult:
    """Write the rows the preview counted as good, all in one transaction.

    If one of them can no longer be imported (its NIK was registered meanwhile, its group
    or product changed…), nothing is written: the file is checked again, the preview is
    refreshed and the result says so (`changed`). The caller commits either way.

    With `import_jobs.inline_rows()` good rows or more, a background job writes them once
    the caller has committed (`queued`; status IMPORTING, then COMMITTED or FAILED)."""
    members._require_active(partner)
    # One confirmation at a time: lock the import row (PostgreSQL) and read it fresh.
    imp = import_jobs.locked(imp)
    if imp.status == ImportStatus.COMMITTED:
        raise Conflict(_("This import has already been done."))
    if import_jobs.is_running(imp):
        raise Conflict(_("This import is running already.")
                       if imp.status == ImportStatus.IMPORTING
                       else _("This file is still being checked."))
    # A confirmation whose job stopped (its process died) may be confirmed again.
    if imp.status not in (ImportStatus.PREVIEWED, ImportStatus.FAILED, ImportStatus.IMPORTING):
        raise DomainError(_("This import has not been checked yet."))
    if imp.good_rows == 0:
        raise DomainError(_("There are no rows without errors to import."))
    _require_files(imp)
    if imp.good_rows >= import_jobs.inline_rows():
        import_jobs.queue(imp, ImportStatus.IMPORTING, actor, total=imp.good_rows)
        db.session.flush()
        return ConfirmResult(imp, 0, changed=False, queued=True)
    return _write_rows(actor, partner, imp,
                       ip=request.remote_addr if has_request_context() else None)


def recheck(actor, partner: Partner, imp: MemberImport) -> MemberImport:
    """Check an uploaded file again after its check stopped (an error on our side, or
    its process died): a background job, as for a large upload."""
    members._require_active(partner)
    imp = import_jobs.locked(imp)
    if import_jobs.phase(imp) != import_jobs.CHECK:
        raise Conflict(_("This file has been checked already."))
    if import_jobs.is_running(imp):
        raise Conflict(_("This file is still being checked."))
    _require_files(imp, staged=False)
    import_jobs.queue(imp, ImportStatus.UPLOADED, actor,
                      total=estimate_rows(stored_path(imp), imp.file_format)[1])
    db.session.flush()
    return imp


def check_job(actor, partner: Partner, imp: MemberImport, token: str, progress) -> None:
    """The background check of a stored file (`import_jobs` runs it, in the partner's
    scope, and commits): the preview of `upload`. A file that turns out unusable is
    REJECTED and not kept. Then, for the API's confirm=true, the import of a clean file
    is the next job."""
    members._require_active(partner)
    _require_files(imp, staged=False)
    path = stored_path(imp)
    try:
        result = _Preview(partner, imp, progress).run(path, staged_path(imp))
    except UnreadableFile as err:
        imp = import_jobs.hold(imp, token)
        import_jobs.finish(imp, progress.done)
        imp.status = ImportStatus.REJECTED
        imp.failure = str(err.message)
        _delete_after_commit(path)
        db.session.flush()
        return
    imp = import_jobs.hold(imp, token)
    import_jobs.finish(imp, result.total)
    _set_preview(imp, result)
    if imp.confirm_when_clean and imp.error_rows == 0:
        import_jobs.queue(imp, ImportStatus.IMPORTING, actor, total=imp.good_rows)
    db.session.flush()


def import_job(actor, partner: Partner, imp: MemberImport, token: str, progress,
               ip: str | None = None) -> None:
    """The background writing of a confirmed import (`import_jobs` runs it, in the
    partner's scope, and commits): `confirm`'s one transaction."""
    members._require_active(partner)
    _require_files(imp)
    if db.engine.dialect.name == "sqlite":
        progress.aside = False  # the writing holds SQLite's database-wide lock
    _write_rows(actor, partner, imp, ip=ip, token=token, progress=progress)


def _require_files(imp: MemberImport, staged: bool = True) -> None:
    paths = (stored_path(imp), staged_path(imp)) if staged else (stored_path(imp),)
    if not all(path.exists() for path in paths):
        raise DomainError(_("The uploaded file is no longer available. Upload it again."),
                          "file")


def _write_rows(actor, partner: Partner, imp: MemberImport, *, ip: str | None,
                token: str | None = None, progress=import_jobs.no_progress) -> ConfirmResult:
    """Write the approved staged rows in one transaction (a savepoint in the caller's);
    a job (`token`) finishes only while it still holds the import."""
    path, staged = stored_path(imp), staged_path(imp)
    approved_bad = {row for row, _column, _index in (imp.errors or {}).get("rows", [])}
    try:
        with db.session.begin_nested():
            inserted = _Writer(actor, partner, imp, approved_bad, ip).run(staged, progress)
            if inserted != imp.good_rows:
                raise _Changed("the count differs")
    except (_Changed, IntegrityError):
        # Something changed since the preview (an IntegrityError: a NIK was registered by
        # another transaction while this one ran). Nothing was written: check again.
        if _sha256(path) != imp.file_sha256:
            raise DomainError(_("The uploaded file is no longer available. Upload it again."),
                              "file") from None
        result = _Preview(partner, imp, lambda _done: progress(0)).run(path, staged)
        if token is not None:
            imp = import_jobs.hold(imp, token)
            import_jobs.finish(imp, 0)
        return _refused(imp, result, approved_bad)
    if token is not None:
        imp = import_jobs.hold(imp, token)
        import_jobs.finish(imp, inserted)
    imp.status = ImportStatus.COMMITTED
    imp.imported_rows = inserted
    imp.committed_at = utcnow()
    imp.committed_by_id = getattr(actor, "id", None)
    imp.failure = ""
    record(actor, "member_import.commit", imp, partner_id=partner.id,
           after={"file_name": imp.file_name, "rows": imp.total_rows,
                  "imported": inserted, "skipped": imp.error_rows})
    db.session.flush()
    # The members are in the database now: the file and its staged rows go.
    _delete_after_commit(path)
    _delete_after_commit(staged)
    return ConfirmResult(imp, inserted, changed=False)


@dataclass
class ConfirmResult:
    imp: MemberImport
    imported: int
    changed: bool
    message: str = ""
    queued: bool = False  # a background job writes the rows (see `confirm`)


def _refused(imp: MemberImport, result: PassResult, approved_bad: set[int]) -> ConfirmResult:
    lost = max(len(result.bad - approved_bad), 1)
    _set_preview(imp, result)
    imp.status = ImportStatus.FAILED
    imp.failure = ngettext(
        "Nothing was imported: since the preview, %(num)d row can no longer be imported "
        "(for example its NIK was registered meanwhile). Check the updated preview and "
        "confirm again.",
        "Nothing was imported: since the preview, %(num)d rows can no longer be imported "
        "(for example their NIKs were registered meanwhile). Check the updated preview and "
        "confirm again.", lost)
    db.session.flush()
    return ConfirmResult(imp, 0, changed=True, message=imp.failure)


def _set_preview(imp: MemberImport, result: PassResult) -> None:
    messages: dict[str, int] = {}
    rows = []
    for number, column, message in result.errors:
        index = messages.setdefault(message, len(messages))
        rows.append([number, column, index])
    imp.errors = {"messages": list(messages), "rows": rows}
    imp.staged_sha256 = result.staged_sha256
    imp.total_rows = result.total
    imp.good_rows = result.good
    imp.error_rows = len(result.bad)
    imp.status = ImportStatus.PREVIEWED
    imp.previewed_at = utcnow()


def _clean_name(name: str | None) -> str:
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    return name.strip()[:255] or "-"


# --- reading imports -------------------------------------------------------------------


def get(partner: Partner, import_id: uuid.UUID) -> MemberImport:
    """One of the partner's own imports (LookupError → 404 otherwise: another partner's,
    also a child's seen from its parent, answers like one that does not exist)."""
    imp = db.session.scalar(select(MemberImport).where(MemberImport.tenant_id == partner.id,
                                                       MemberImport.id == import_id))
    if imp is None:
        raise LookupError(import_id)
    return imp


def recent(partner: Partner, limit: int = 20) -> list[MemberImport]:
    return list(db.session.scalars(
        select(MemberImport).where(MemberImport.tenant_id == partner.id)
        .order_by(MemberImport.created_at.desc()).limit(limit)))


def progress(imp: MemberImport) -> dict:
    """Where the background job of an import stands (see `import_jobs`): its phase
    ("check" or "import"; None when no job is due), rows done and total (None if not
    known), whether it is running, or stalled — its process gone, nothing of its work
    saved: it may be run again —, and when it started, last showed life and finished."""
    running, stalled = import_jobs.is_running(imp), import_jobs.stalled(imp)
    return {"phase": import_jobs.phase(imp) if imp.job_token else None,
            "done": imp.progress_done, "total": imp.progress_total,
            "running": running, "stalled": stalled,
            "started_at": imp.job_started_at, "updated_at": imp.job_heartbeat_at,
            "finished_at": imp.job_finished_at}


def row_errors(imp: MemberImport) -> Iterator[dict]:
    """Every problem found, in row order: {"row", "column", "message"}."""
    data = imp.errors or {}
    messages = data.get("messages", [])
    for number, column, index in data.get("rows", []):
        yield {"row": number, "column": column, "message": messages[index]}


def error_page(imp: MemberImport, page: int = 1, per_page: int = 100) -> Page:
    rows = (imp.errors or {}).get("rows", [])
    total = len(rows)
    page = max(1, min(page, max(1, -(-total // per_page))))
    start = (page - 1) * per_page
    items = list(itertools.islice(row_errors(imp), start, start + per_page))
    return Page(items, page, per_page, total)


def summary(imp: MemberImport, *, with_errors: bool = True) -> dict:
    """The preview as plain data (the API's answer)."""
    out = {
        "import_id": imp.id, "status": imp.status, "file_name": imp.file_name,
        "total_rows": imp.total_rows, "good_rows": imp.good_rows,
        "error_rows": imp.error_rows, "imported_rows": imp.imported_rows,
        "failure": imp.failure or None, "created_at": imp.created_at,
        "progress": progress(imp),
    }
    if with_errors:
        out["errors"] = list(row_errors(imp))
    return out


# --- the template -----------------------------------------------------------------------


def column_help() -> list[tuple[str, str, str]]:
    """(column, required?, what to write) for the instructions, in the user's language."""
    required, optional = _("required"), _("optional")
    return [
        ("nama_lengkap", required, _("Full name as on the ID card (KTP).")),
        ("nik", required, _("The 16-digit NIK of the ID card. Keep this column formatted as "
                            "Text: Excel loses the last digits of a long number.")),
        ("no_kk", optional, _("The 16-digit family card (KK) number, as Text.")),
        ("tanggal_lahir", required, _("Birth date: YYYY-MM-DD (e.g. 1985-03-14) or "
                                      "DD-MM-YYYY, or an Excel date.")),
        ("jenis_kelamin", required, _("L for male, P for female.")),
        ("no_hp", optional, _("Mobile number, e.g. 0812 3456 7890.")),
        ("alamat", optional, _("Address (street, RT/RW).")),
        ("kode_desa", optional, _("The 10-digit Kemendagri village code, e.g. 7372021001 "
                                  "(Labukkang); the district, regency and province follow "
                                  "from it.")),
        ("kelompok", optional, _("The name of one of your groups (it must exist already).")),
        ("nama_ahli_waris", optional, _("Name of the beneficiary.")),
        ("hubungan_ahli_waris", optional, _("Relation of the beneficiary, e.g. suami, istri, "
                                            "anak.")),
        ("hp_ahli_waris", optional, _("Mobile number of the beneficiary.")),
        ("persetujuan", required, _("Write “ya” once the member has agreed to the processing "
                                    "of their data.")),
        ("kode_produk", optional, _("A product code to enroll the member at once, e.g. BKM.")),
    ]


def template_csv() -> bytes:
    """The CSV template: the column names (UTF-8 with BOM, so that Excel reads it)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(COLUMNS)
    return out.getvalue().encode("utf-8-sig")


def template_xlsx(partner: Partner) -> bytes:
    """The Excel template: sheet 'Peserta' with the column names, NIK/KK/phone/village
    columns formatted as Text, and a sheet 'Petunjuk' of instructions with the partner's
    groups and product codes."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = DATA_SHEET
    sheet.append(list(COLUMNS))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.cell(row=1, column=index).font = bold
        sheet.column_dimensions[letter].width = max(14, len(column) + 4)
        if column in TEXT_COLUMNS:
            sheet.column_dimensions[letter].number_format = "@"
            for row in range(2, 1002):  # Text also for the first thousand cells themselves
                sheet.cell(row=row, column=index).number_format = "@"
        elif column == "tanggal_lahir":
            sheet.column_dimensions[letter].number_format = "yyyy-mm-dd"
    for column, choices in (("jenis_kelamin", '"L,P"'), ("persetujuan", '"ya"')):
        letter = get_column_letter(COLUMNS.index(column) + 1)
        validation = DataValidation(type="list", formula1=choices, allow_blank=True)
        validation.add(f"{letter}2:{letter}100000")
        sheet.add_data_validation(validation)

    guide = workbook.create_sheet(_("Instructions")[:31])
    guide.column_dimensions["A"].width = 24
    guide.column_dimensions["B"].width = 12
    guide.column_dimensions["C"].width = 90
    guide.append([_("How to fill in this sheet")])
    guide["A1"].font = Font(bold=True, size=13)
    for line in (
        _("Write one member per row in the sheet “%(sheet)s”, from row 2. Do not change "
          "the column names in row 1.", sheet=DATA_SHEET),
        _("The NIK, KK, phone and village code columns are formatted as Text. Keep them so: "
          "a 16-digit number in a Number cell loses its last digits and is refused."),
        _("Upload the file on the Import page. Nothing is saved until you have seen the "
          "check of every row and confirmed."),
    ):
        guide.append([line])
    guide.append([])
    guide.append([_("Column"), _("Required"), _("What to write")])
    for cell in guide[guide.max_row]:
        cell.font = bold
    for row in column_help():
        guide.append(list(row))
    groups = list(db.session.scalars(select(Group.name).where(Group.tenant_id == partner.id)
                                     .order_by(Group.name)))
    products = [f"{p.code} — {p.name}" for p in members.offered_products(partner)]
    for title, values in ((_("Your groups"), groups), (_("Your products"), products)):
        guide.append([])
        guide.append([title])
        guide[guide.max_row][0].font = bold
        for value in values or [_("(none yet)")]:
            guide.append([value])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
