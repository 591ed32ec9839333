"""Member list exports (CSV and Excel) of a filtered search, streamed in chunks.

The NIK is exported masked only. Members are read a chunk at a time by keyset (name key,
id — the order of `services.search`), so a list of 100,000 members never sits in memory
and no database cursor stays open between chunks.

The column headers and status words are fixed Indonesian, whatever the user's language:
the file is a data format that partners file, share and re-open, and it must not change
with the language setting of whoever downloaded it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from lokal import parse_phone
from openpyxl import Workbook
from sqlalchemy import and_, or_, select

from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment, Member
from bungkesmas.products.models import Product, ProductVersion
from bungkesmas.regions import region_name

CHUNK = 1000

HEADERS = ("No. Peserta", "Nama Lengkap", "NIK (disamarkan)", "Jenis Kelamin", "Tanggal Lahir",
           "No. HP", "Alamat", "Kelurahan/Desa", "Kecamatan", "Kelompok", "Koordinator",
           "Produk", "Status Kepesertaan", "Tanggal Daftar", "Mitra")

SEX = {"L": "Laki-laki", "P": "Perempuan"}
STATUS = {"pending_payment": "Menunggu pembayaran", "waiting": "Masa tunggu",
          "active": "Aktif", "grace": "Masa tenggang", "lapsed": "Tidak aktif",
          "cancelled": "Dibatalkan"}
NOT_ENROLLED = "Belum terdaftar"

# A cell that starts with one of these is a formula to a spreadsheet program.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def members_in_chunks(stmt, size: int | None = None) -> Iterator[list[Member]]:
    """The members selected by `stmt` (ordered by name key and id), `size` at a time."""
    size = size or CHUNK
    last = None
    while True:
        page = stmt
        if last is not None:
            page = page.where(or_(Member.name_key > last[0],
                                  and_(Member.name_key == last[0], Member.id > last[1])))
        members = list(db.session.scalars(page.limit(size)))
        if not members:
            return
        yield members
        if len(members) < size:
            return
        last = (members[-1].name_key, members[-1].id)


def enrollments_of(members: list[Member]) -> dict:
    """member id -> [(product name, version, today's status, covered until)], oldest
    first; one query for the whole page (the status comes from the coverage snapshot)."""
    from bungkesmas.contributions.services import status_expression
    from bungkesmas.timeutil import local_today

    out: dict = {}
    rows = db.session.execute(
        select(Enrollment.member_id, Product.name, ProductVersion.version,
               status_expression(local_today()), Enrollment.covered_until)
        .join(ProductVersion, ProductVersion.id == Enrollment.product_version_id)
        .join(Product, Product.id == ProductVersion.product_id)
        .where(Enrollment.member_id.in_([m.id for m in members]))
        .order_by(Enrollment.enrolled_at))
    for member_id, product, version, status, covered_until in rows:
        out.setdefault(member_id, []).append((product, version, status, covered_until))
    return out


def _national_phone(value: str | None) -> str:
    """0812-3456-7890, as people write it (and not a number a spreadsheet would mangle)."""
    if not value:
        return ""
    info = parse_phone(value)
    return info.national if info.valid else value


def rows(stmt, partner_names: dict[int, str], timezone: str) -> Iterator[list]:
    """One list of cell values per member, in the order of HEADERS."""
    zone = ZoneInfo(timezone)
    for members in members_in_chunks(stmt):
        enrollments = enrollments_of(members)
        for m in members:
            held = enrollments.get(m.id, [])
            registered = m.created_at.replace(tzinfo=UTC).astimezone(zone).date()
            yield [
                m.member_number, m.full_name, m.nik_masked, SEX.get(str(m.sex), str(m.sex)),
                m.birth_date, _national_phone(m.phone), m.address,
                region_name(m.village_code), region_name(m.district_code),
                m.group.name if m.group else "", "Ya" if m.is_coordinator else "",
                "; ".join(f"{name} v{version}" for name, version, _s, _c in held),
                "; ".join(STATUS.get(s, str(s)) for _n, _v, s, _c in held) or NOT_ENROLLED,
                registered, partner_names.get(m.tenant_id, ""),
            ]


def safe_cell(value):
    """Text a spreadsheet would run as a formula is kept as text."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_stream(stmt, partner_names: dict[int, str], timezone: str) -> Iterator[str]:
    """The CSV text in pieces: UTF-8 byte order mark (so Excel reads the names right),
    the header line, then a piece per chunk of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    yield "\ufeff" + _drain(buffer)
    count = 0
    for row in rows(stmt, partner_names, timezone):
        writer.writerow([safe_cell(v.isoformat() if hasattr(v, "isoformat") else v)
                         for v in row])
        count += 1
        if count % CHUNK == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def write_xlsx(stmt, partner_names: dict[int, str], timezone: str, fileobj) -> int:
    """Write the workbook to `fileobj` (a temporary file) in write-only mode, which keeps
    rows on disk, not in memory. Returns the number of members written."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Peserta")
    sheet.freeze_panes = "A2"
    sheet.append(list(HEADERS))
    count = 0
    for row in rows(stmt, partner_names, timezone):
        sheet.append([safe_cell(v) for v in row])
        count += 1
    workbook.save(fileobj)
    return count


def filename(slug: str, extension: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return f"peserta-{slug}-{stamp}.{extension}"
