"""Importing members from a spreadsheet: the template, the preview of every row, the
confirmation that writes all good rows at once (or nothing), and the web pages."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
import zipfile
from datetime import date, datetime

import openpyxl
import pytest
from flask_babel import force_locale
from sqlalchemy import String, func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.services import user_by_email
from bungkesmas.errors import Conflict, DomainError
from bungkesmas.extensions import db
from bungkesmas.members import imports, numbers
from bungkesmas.members import nik as nik_rules
from bungkesmas.members import services as members
from bungkesmas.members.import_models import ImportStatus, MemberImport
from bungkesmas.members.models import Counter, Enrollment, Member, MemberRegistry
from bungkesmas.partners.models import PartnerStatus
from bungkesmas.products.models import ProductVersion
from tests.helpers import login

COLUMNS = imports.COLUMNS


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path):
    app.config["IMPORT_UPLOAD_DIR"] = str(tmp_path / "uploads")
    return tmp_path / "uploads"


# --- building sheets --------------------------------------------------------------------


def person(make, **overrides) -> dict:
    """One good row, as a partner types it: text cells, birth date as YYYY-MM-DD."""
    data = make.member_data(sex=overrides.pop("sex", "P"),
                            birth_date=overrides.pop("birth_date", date(1985, 3, 14)))
    row = {
        "nama_lengkap": data["full_name"], "nik": data["nik"], "no_kk": "",
        "tanggal_lahir": data["birth_date"].isoformat(), "jenis_kelamin": data["sex"],
        "no_hp": data["phone"], "alamat": data["address"], "kode_desa": "7372021001",
        "kelompok": "", "nama_ahli_waris": data["beneficiary_name"],
        "hubungan_ahli_waris": "suami", "hp_ahli_waris": "", "persetujuan": "ya",
        "kode_produk": "",
    }
    row.update(overrides)
    return row


def csv_bytes(rows, columns=COLUMNS, delimiter=",", encoding="utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows, columns=COLUMNS, sheet="Peserta") -> bytes:
    workbook = openpyxl.Workbook()
    ws = workbook.active
    ws.title = sheet
    ws.append(list(columns))
    for row in rows:
        ws.append([row.get(c) if row.get(c) != "" else None for c in columns])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- calling the domain -----------------------------------------------------------------


def upload(partner, data: bytes, name="peserta.csv", actor=None, locale="en") -> dict:
    """Upload in the partner's scope; what the preview says, read inside the scope."""
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)), force_locale(locale):
        imp = imports.upload(actor, partner, io.BytesIO(data), name)
        db.session.commit()
        return preview(partner, imp.id)


def preview(partner, import_id) -> dict:
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        imp = imports.get(partner, import_id)
        return {"id": imp.id, "status": imp.status, "total": imp.total_rows,
                "good": imp.good_rows, "bad": imp.error_rows, "imported": imp.imported_rows,
                "failure": imp.failure, "errors": list(imports.row_errors(imp))}


def confirm(partner, import_id, actor=None, locale="en"):
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)), force_locale(locale):
        result = imports.confirm(actor, partner, imports.get(partner, import_id))
        db.session.commit()
        return result.imported, result.changed, result.message


def errors_of(result, row=None) -> list[tuple[int, str, str]]:
    return [(e["row"], e["column"], e["message"]) for e in result["errors"]
            if row is None or e["row"] == row]


def count(model, partner_id=None, **where):
    with tenancy.everything():
        stmt = select(func.count()).select_from(model)
        if partner_id is not None:
            column = model.partner_id if hasattr(model, "partner_id") else model.tenant_id
            stmt = stmt.where(column == partner_id)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return db.session.scalar(stmt)


def written(partner_id) -> dict:
    return {"members": count(Member, partner_id), "registry": count(MemberRegistry, partner_id),
            "enrollments": count(Enrollment, partner_id),
            "audit": count(AuditEvent, partner_id, action="member.import")}


@pytest.fixture
def partner(make):
    partner = make.partner()
    make.product(partner)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        members.create_group(None, partner, "Kelompok Labukkang", "7372021001")
    db.session.commit()
    return partner


# --- reading and checking ---------------------------------------------------------------


def test_good_rows_are_counted_and_nothing_is_written_before_confirmation(make, partner):
    rows = [person(make), person(make, kelompok="kelompok labukkang", kode_produk="bkm"),
            person(make, no_kk="7372 0201 0101 0001", no_hp="", alamat="")]
    result = upload(partner, csv_bytes(rows))
    assert (result["total"], result["good"], result["bad"]) == (3, 3, 0)
    assert result["status"] == ImportStatus.PREVIEWED and result["errors"] == []
    assert written(partner.id) == {"members": 0, "registry": 0, "enrollments": 0, "audit": 0}
    assert count(Counter, partner.id) == 0


def test_every_bad_row_is_reported_with_its_row_column_and_reason(make, partner):
    other = make.nik(date(1990, 1, 2), "L")  # a man's NIK, born 2 January 1990
    rows = [
        person(make),                                                    # row 2: good
        person(make, nama_lengkap="A"),                                  # 3
        person(make, tanggal_lahir="31-02-1990"),                        # 4
        person(make, jenis_kelamin="X"),                                 # 5
        person(make, nik="737202540385001"),                             # 6: 15 digits
        person(make, nik="9999995403850001"),                            # 7: district
        person(make, no_hp="12345"),                                     # 8
        person(make, kode_desa="7372029999"),                            # 9
        person(make, kelompok="Kelompok Tidak Ada"),                     # 10
        person(make, persetujuan="tidak"),                               # 11
        person(make, kode_produk="XYZ"),                                 # 12
        person(make, kode_produk="BKM", birth_date=date(1940, 1, 1)),    # 13: too old
        person(make, nik=other),                                         # 14: mismatch
        person(make, no_kk="12345"),                                     # 15
        person(make, hubungan_ahli_waris="x" * 61),                      # 16
        person(make, nama_lengkap="B", jenis_kelamin="", persetujuan=""),  # 17: three
    ]
    result = upload(partner, csv_bytes(rows))
    assert (result["total"], result["good"], result["bad"]) == (16, 1, 15)
    expected = {
        3: ("nama_lengkap", "full name"), 4: ("tanggal_lahir", "YYYY-MM-DD"),
        5: ("jenis_kelamin", "L (male) or P"), 6: ("nik", "16 digits"),
        7: ("nik", "district code"), 8: ("no_hp", "phone number"),
        9: ("kode_desa", "not a known village"), 10: ("kelompok", "Kelompok Tidak Ada"),
        11: ("persetujuan", "consent"), 12: ("kode_produk", "code XYZ"),
        13: ("kode_produk", "ages"), 14: ("nik", "Check the ID card"),
        15: ("no_kk", "16 digits"), 16: ("hubungan_ahli_waris", "at most 60"),
    }
    for row, (column, reason) in expected.items():
        found = errors_of(result, row)
        assert [(r, c) for r, c, _m in found] == [(row, column)], (row, found)
        assert reason in found[0][2], (row, found)
    assert [c for _r, c, _m in errors_of(result, 17)] == [
        "nama_lengkap", "jenis_kelamin", "persetujuan"]
    assert errors_of(result, 2) == []
    # The NIK is never repeated in a message.
    assert not any(other in m or "9999995403850001" in m for _r, _c, m in errors_of(result))


def test_messages_are_in_the_users_language(make, partner):
    result = upload(partner, csv_bytes([person(make, nama_lengkap="A")]), locale="id")
    assert errors_of(result)[0][2] == "Isi nama lengkap sesuai KTP."


def test_the_same_nik_twice_in_the_file_names_both_rows(make, partner):
    twin = person(make)
    rows = [twin, person(make), {**person(make), "nik": twin["nik"]}, person(make)]
    result = upload(partner, csv_bytes(rows))
    assert (result["good"], result["bad"]) == (2, 2)
    assert errors_of(result, 2) == [(2, "nik", "The same NIK is also in row 4.")]
    assert errors_of(result, 4) == [(4, "nik", "The same NIK is also in row 2.")]


def test_a_nik_already_registered_here_or_elsewhere_is_refused_without_saying_where(
        make, partner):
    other = make.partner(name="Koperasi Rahasia Wajo")
    here = make.member_data()
    there = make.member_data()
    number_here = make.member(partner, **here)
    number_there = make.member(other, **there)
    rows = [person(make, nik=here["nik"], birth_date=here["birth_date"], sex=here["sex"]),
            person(make, nik=there["nik"], birth_date=there["birth_date"], sex=there["sex"]),
            person(make)]
    result = upload(partner, csv_bytes(rows))
    assert (result["good"], result["bad"]) == (1, 2)
    [(_, column, message_here)] = errors_of(result, 2)
    assert column == "nik" and number_here in message_here
    [(_, column, message_there)] = errors_of(result, 3)
    assert column == "nik" and "transfer" in message_there
    for secret in (number_there, other.name, "Rahasia"):
        assert secret not in message_there


@pytest.mark.parametrize("cell", [7372025403850001.0, 7372025403850001])
def test_a_nik_excel_stored_as_a_number_is_refused_with_the_reason(make, partner, cell):
    rows = [person(make), person(make, nik=cell), person(make, no_kk=7372020101010001)]
    result = upload(partner, xlsx_bytes(rows), name="peserta.xlsx")
    assert (result["good"], result["bad"]) == (1, 2)
    [(_, column, message)] = errors_of(result, 3)
    assert column == "nik" and "Excel" in message and "as Text" in message
    [(_, column, message)] = errors_of(result, 4)
    assert column == "no_kk" and "Excel" in message and "as Text" in message
    assert written(partner.id)["members"] == 0


def excel_saved_bytes(rows, columns=COLUMNS, sheet="Peserta") -> bytes:
    """A workbook as Excel saves it: text in the shared strings table (openpyxl, which
    `xlsx_bytes` uses, writes each text in its cell), dates as date cells with a date
    format, numbers as numbers."""
    import xlsxwriter

    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    ws = workbook.add_worksheet(sheet)
    as_date = workbook.add_format({"num_format": "dd/mm/yyyy"})
    ws.write_row(0, 0, list(columns))
    for r, row in enumerate(rows, start=1):
        for c, column in enumerate(columns):
            value = row.get(column)
            if isinstance(value, datetime):
                ws.write_datetime(r, c, value, as_date)
            elif isinstance(value, str) and value:
                ws.write_string(r, c, value)
            elif isinstance(value, int | float):
                ws.write_number(r, c, value)
    workbook.close()
    return out.getvalue()


def test_a_workbook_as_excel_saves_it_is_read_like_any_other(make, partner):
    """Shared strings, a date cell, a phone typed as a number, a NIK typed as a number."""
    rows = [person(make, nama_lengkap="Zoë Daéng", birth_date=date(1985, 3, 14),
                   tanggal_lahir=datetime(1985, 3, 14)),
            person(make, birth_date=date(1985, 3, 14), no_hp=81234567890),
            person(make, nik=7372025403850001)]
    data = excel_saved_bytes(rows)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "xl/sharedStrings.xml" in archive.namelist()
    result = upload(partner, data, name="peserta.xlsx")
    assert (result["good"], result["bad"]) == (2, 1), result["errors"]
    [(_, column, message)] = errors_of(result, 4)
    assert column == "nik" and "Excel" in message
    assert confirm(partner, result["id"])[:2] == (2, False)
    with tenancy.everything():
        assert set(db.session.scalars(select(Member.full_name))) >= {"Zoë Daéng"}
        assert "+6281234567890" in set(db.session.scalars(select(Member.phone)))


@pytest.mark.parametrize("nik", ["7.37203E+15", "7,37203E+15", "7372025403850000.0",
                                 "7372025403851230,00"])
def test_a_nik_that_went_through_a_number_in_a_csv_is_refused(make, partner, nik):
    result = upload(partner, csv_bytes([person(make, nik=nik), person(make)]))
    [(_, column, message)] = errors_of(result, 2)
    assert column == "nik" and "Excel" in message
    assert result["good"] == 1


def test_a_nik_column_where_every_nik_ends_in_zero_came_through_a_number(make, partner):
    """Excel keeps 15 significant digits: an exported number column ends every NIK in 0."""
    serials = iter(range(101, 999))

    def rounded(row):  # distinct NIKs, each ending in 0 (and never in 0000)
        return {**row, "nik": row["nik"][:12] + f"{next(serials):03d}0"}

    rows = [rounded(person(make)) for _ in range(imports.ZERO_RUN)]
    result = upload(partner, csv_bytes(rows))
    assert result["good"] == 0 and result["bad"] == imports.ZERO_RUN
    assert all("Excel" in m for _r, _c, m in errors_of(result))
    # A few NIKs that happen to end in 0 among others are fine.
    rows = [rounded(person(make)) for _ in range(3)] + [
        {**person(make), "nik": person(make)["nik"][:12] + f"{next(serials):03d}7"}
        for _ in range(3)]
    assert upload(partner, csv_bytes(rows))["bad"] == 0


def test_dates_semicolons_windows_encoding_and_excel_dates_are_understood(make, partner):
    rows = [person(make, nama_lengkap="Zoë Daéng", birth_date=date(1985, 3, 14),
                   tanggal_lahir="14-03-1985"),
            person(make, birth_date=date(1985, 3, 14), tanggal_lahir="14/03/1985")]
    result = upload(partner, csv_bytes(rows, delimiter=";", encoding="cp1252"))
    assert (result["good"], result["bad"]) == (2, 0), result["errors"]
    rows = [person(make, birth_date=date(1985, 3, 14),
                   tanggal_lahir=datetime(1985, 3, 14)),
            person(make, birth_date=date(1985, 3, 14), no_hp=81234567890)]
    result = upload(partner, xlsx_bytes(rows), name="x.xlsx")
    assert (result["good"], result["bad"]) == (2, 0), result["errors"]
    imported, changed, _ = confirm(partner, result["id"])
    assert (imported, changed) == (2, False)
    with tenancy.everything():
        phones = set(db.session.scalars(select(Member.phone)))
    assert "+6281234567890" in phones


def test_columns_in_another_order_left_out_or_cut_short_on_a_row_are_read(make, partner):
    first, second = person(make), person(make, nama_lengkap="  Siti   Aminah ")
    # Only the required columns, in another order, and an extra column nobody knows.
    columns = ("persetujuan", "catatan", "jenis_kelamin", "tanggal_lahir", "nik",
               "nama_lengkap")
    result = upload(partner, csv_bytes([first, second], columns=columns))
    assert (result["good"], result["bad"]) == (2, 0), result["errors"]
    assert confirm(partner, result["id"])[:2] == (2, False)
    with tenancy.everything():
        assert db.session.scalar(select(Member.full_name).where(
            Member.nik_masked == second["nik"][:6] + "******" + second["nik"][-4:])) == (
            "Siti Aminah")
    # Every column, but rows whose last cells an editor left out: the last one (empty
    # anyway), or the last two (so the consent is missing).
    cut_one, cut_two = person(make, kelompok="Kelompok Labukkang"), person(make)
    lines = csv_bytes([cut_one, cut_two]).decode("utf-8-sig").split("\r\n")
    lines[1] = lines[1].rsplit(",", 1)[0]
    lines[2] = lines[2].rsplit(",", 2)[0]
    result = upload(partner, "\r\n".join(lines).encode())
    assert (result["good"], result["bad"]) == (1, 1)
    assert [(r, c) for r, c, _m in errors_of(result)] == [(3, "persetujuan")]


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"%PDF-1.4 bukan spreadsheet", "column names"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel"),
    (b"\x00\x01\x02binary\x00", "not a CSV"),
    (b"PK\x03\x04 rusak", "damaged"),
    (b"nama;alamat\r\nSiti;Jl. X\r\n", "Missing: nama_lengkap, nik"),
    (",".join(COLUMNS).encode() + b"\r\n", "no member rows"),
])
def test_an_unreadable_file_is_refused_and_not_kept(make, partner, upload_dir, content, reason):
    with force_locale("en"), tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        with pytest.raises(imports.UnreadableFile) as err:
            imports.upload(None, partner, io.BytesIO(content), "peserta.xlsx")
        db.session.rollback()
    assert err.value.field == "file" and reason in str(err.value.message)
    assert count(MemberImport) == 0
    assert not [p for p in upload_dir.rglob("*") if p.is_file()]


def test_a_file_that_is_a_zip_but_not_a_workbook_is_refused(make, partner):
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("isi.txt", "bukan excel")
    with force_locale("en"), tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        with pytest.raises(imports.UnreadableFile, match="not a CSV or Excel"):
            imports.upload(None, partner, io.BytesIO(out.getvalue()), "a.xlsx")
        db.session.rollback()


def test_a_file_above_the_size_limit_is_refused(app, make, partner):
    app.config["IMPORT_MAX_BYTES"] = 2000
    with force_locale("en"), tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        with pytest.raises(imports.UnreadableFile, match="larger than"):
            imports.upload(None, partner, io.BytesIO(csv_bytes([person(make)] * 30)), "a.csv")
        db.session.rollback()


def test_a_file_above_the_row_limit_is_refused(app, make, partner):
    app.config["IMPORT_MAX_ROWS"] = 3
    with force_locale("en"), tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        with pytest.raises(imports.UnreadableFile, match="more than 3 rows"):
            imports.upload(None, partner,
                           io.BytesIO(csv_bytes([person(make) for _ in range(4)])), "a.csv")
        db.session.rollback()


# --- confirming -------------------------------------------------------------------------


def test_confirmation_writes_every_good_row_with_numbers_enrollments_and_audit(
        make, partner, upload_dir):
    admin = user_by_email(partner.contact_email)
    rows = [person(make, kelompok="Kelompok Labukkang", kode_produk="BKM",
                   no_kk="7372020101010001", hp_ahli_waris="0813 1111 2222"),
            person(make, nama_lengkap="X"),  # bad: skipped
            person(make, sex="L", birth_date=date(1970, 5, 6), kode_desa="73.72.02.1001"),
            person(make, kode_produk="BKM")]
    result = upload(partner, csv_bytes(rows), actor=admin)
    assert (result["good"], result["bad"]) == (3, 1)
    imported, changed, _ = confirm(partner, result["id"], actor=admin)
    assert (imported, changed) == (3, False)
    assert written(partner.id) == {"members": 3, "registry": 3, "enrollments": 2, "audit": 3}
    assert count(AuditEvent, partner.id, action="member_import.commit") == 1
    with tenancy.everything():
        stored = db.session.scalars(select(Member).order_by(Member.member_number)).all()
        assert [m.member_number for m in stored] == [
            numbers.format_number(partner.id, n) for n in (1, 2, 3)]
        assert all(numbers.is_valid(m.member_number) for m in stored)
        by_nik = {nik_rules.decrypt(m.nik_encrypted): m for m in stored}
        assert set(by_nik) == {rows[0]["nik"], rows[2]["nik"], rows[3]["nik"]}
        first = by_nik[rows[0]["nik"]]
        assert first.group.name == "Kelompok Labukkang"
        assert first.nik_masked == nik_rules.mask(rows[0]["nik"])
        assert nik_rules.decrypt(first.kk_encrypted) == "7372020101010001"
        assert first.beneficiary_phone == "+6281311112222"
        assert first.name_key == members.name_key(rows[0]["nama_lengkap"])
        assert (first.province_code, first.regency_code, first.district_code,
                first.village_code) == ("73", "7372", "737202", "7372021001")
        assert first.consent_by_id == first.created_by_id == admin.id
        assert first.consent_version and first.consent_at
        assert by_nik[rows[2]["nik"]].village_code == "7372021001"
        assert by_nik[rows[2]["nik"]].birth_date == date(1970, 5, 6)
        enrollment = db.session.scalar(select(Enrollment).where(
            Enrollment.member_id == first.id))
        assert enrollment.status == "pending_payment" and enrollment.enrolled_by_id == admin.id
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.entity_id == str(first.id)))
        assert event.action == "member.import" and event.actor_id == admin.id
        assert event.after["nik"] == first.nik_masked and rows[0]["nik"] not in str(event.after)
        # What registration records of a member, the import records too.
        view = members._audit_view(first)
        assert {k: event.after[k] for k in view} == view
        assert event.after["enrollment"]["product"] == "BKM"
        registry = db.session.get(MemberRegistry, first.member_number)
        assert registry.partner_id == partner.id and registry.member_id == first.id
    # Registering one more afterwards continues the numbering.
    assert make.member(partner) == numbers.format_number(partner.id, 4)
    after = preview(partner, result["id"])
    assert after["status"] == ImportStatus.COMMITTED and after["imported"] == 3
    # The file and its staged rows are gone; the import cannot be confirmed twice.
    assert not [p for p in upload_dir.rglob("*") if p.is_file()]
    with pytest.raises(Conflict):
        confirm(partner, result["id"])
    db.session.rollback()



def test_audit_rows_of_an_import_hold_the_json_of_the_members_audit_view(
        make, partner, upload_dir):
    """The import writes the audit row's JSON text itself: the very text json.dumps
    writes for the member's audit view, import id, row and enrollment — whatever the
    cells hold (quotes, backslashes, accents, control characters, empty optionals)."""
    rows = [person(make, nama_lengkap='Andi "Ancu" Lamappa \\ Daeng', kode_produk="BKM",
                   alamat="Jl. Sultan Hasanuddin\tNo. 7 — RT 01/RW 02 ✓", no_kk="",
                   no_hp="", kelompok="Kelompok Labukkang", hp_ahli_waris="0813 1111 2222"),
            person(make, nama_lengkap="Sitti Rahmawati", nama_ahli_waris="Hj. Bau Fatimah",
                   hubungan_ahli_waris="anak 'sulung'", kode_desa="", no_kk="7372020101010001"),
            person(make, nama_lengkap="Nur\u00e9 Wahyuni")]
    result = upload(partner, csv_bytes(rows))
    assert (result["good"], result["bad"]) == (3, 0)
    assert confirm(partner, result["id"]) == (3, False, "")
    with tenancy.everything():
        stored = db.session.scalars(select(Member).order_by(Member.member_number)).all()
        assert len(stored) == 3
        for row, member in enumerate(stored, start=2):
            enrollment = db.session.scalar(select(Enrollment).where(
                Enrollment.member_id == member.id))
            expected = {**members._audit_view(member), "nik_mismatch_confirmed": False,
                        "member_number": member.member_number,
                        "import_id": str(result["id"]), "row": row}
            if enrollment is not None:
                version = db.session.get(ProductVersion, enrollment.product_version_id)
                expected["enrollment"] = {"id": str(enrollment.id), "product": "BKM",
                                          "version": version.version,
                                          "status": "pending_payment"}
            text = db.session.scalar(
                select(func.cast(AuditEvent.__table__.c.after, String))
                .where(AuditEvent.entity_id == str(member.id)))
            assert text == json.dumps(expected)
        assert stored[0].full_name == 'Andi "Ancu" Lamappa \\ Daeng'


def test_a_nik_registered_between_preview_and_confirmation_imports_nothing(make, partner):
    rows = [person(make) for _ in range(5)]
    result = upload(partner, csv_bytes(rows))
    assert result["good"] == 5
    other = make.partner()
    meanwhile = rows[3]
    make.member(other, nik=meanwhile["nik"], birth_date=date.fromisoformat(
        meanwhile["tanggal_lahir"]), sex=meanwhile["jenis_kelamin"])
    imported, changed, message = confirm(partner, result["id"])
    assert (imported, changed) == (0, True) and "Nothing was imported" in message
    assert written(partner.id) == {"members": 0, "registry": 0, "enrollments": 0, "audit": 0}
    refreshed = preview(partner, result["id"])
    assert refreshed["status"] == ImportStatus.FAILED and refreshed["good"] == 4
    assert [(r, c) for r, c, _m in errors_of(refreshed)] == [(5, "nik")]
    # Confirming the refreshed preview imports the four others.
    assert confirm(partner, result["id"])[:2] == (4, False)
    assert written(partner.id)["members"] == 4


def test_a_failure_midway_leaves_no_half_import(make, partner, monkeypatch):
    """The writer does not look the registry up again: a NIK registered meanwhile is
    stopped by the database's unique constraint in the third batch, and the two batches
    written before go too."""
    monkeypatch.setattr(imports, "BATCH", 2)
    rows = [person(make) for _ in range(6)]
    result = upload(partner, csv_bytes(rows))
    other = make.partner()
    late = rows[5]
    make.member(other, nik=late["nik"], birth_date=date.fromisoformat(late["tanggal_lahir"]),
                sex=late["jenis_kelamin"])
    writes = []
    real = imports._BulkInsert.__call__

    def counting(self, batch):
        writes.append(len(batch))
        return real(self, batch)

    monkeypatch.setattr(imports._BulkInsert, "__call__", counting)
    imported, changed, _ = confirm(partner, result["id"])
    assert (imported, changed) == (0, True)
    assert len(writes) >= 8  # two batches were written (3 tables each) before the failure
    assert written(partner.id) == {"members": 0, "registry": 0, "enrollments": 0, "audit": 0}
    with tenancy.everything():
        assert db.session.scalar(select(Counter.value).where(
            Counter.tenant_id == partner.id)) in (None, 0)
    assert preview(partner, result["id"])["good"] == 5


def test_a_product_withdrawn_after_the_preview_imports_nothing(make, partner):
    from bungkesmas.products import services as products
    from bungkesmas.products.models import Product

    result = upload(partner, csv_bytes([person(make, kode_produk="BKM"), person(make)]))
    assert result["good"] == 2
    with tenancy.everything():
        product = db.session.scalar(select(Product).where(Product.code == "BKM"))
        products.set_enabled(make.admin, partner, product, False)
    db.session.commit()
    imported, changed, _ = confirm(partner, result["id"])
    assert (imported, changed) == (0, True)
    refreshed = preview(partner, result["id"])
    assert [(r, c) for r, c, _m in errors_of(refreshed)] == [(2, "kode_produk")]


def test_a_suspended_partner_cannot_import(make, partner):
    data = csv_bytes([person(make)])
    result = upload(partner, data)
    with tenancy.everything():
        partner.status = PartnerStatus.SUSPENDED
    db.session.commit()
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        with pytest.raises(DomainError):
            imports.upload(None, partner, io.BytesIO(data), "a.csv")
        with pytest.raises(DomainError):
            imports.confirm(None, partner, imports.get(partner, result["id"]))
    db.session.rollback()


def test_take_member_numbers_allocates_a_block_that_never_overlaps(make, partner):
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        first = numbers.take_member_numbers(partner.id, 3)
        single = numbers.next_member_number(partner.id)
        block = numbers.take_values(partner.id, "member_number", 2)
    db.session.commit()
    assert first == [numbers.format_number(partner.id, n) for n in (1, 2, 3)]
    assert single == numbers.format_number(partner.id, 4) and list(block) == [5, 6]


# --- isolation ---------------------------------------------------------------------------


def test_another_partner_cannot_see_or_confirm_an_import(app, client, make, partner):
    result = upload(partner, csv_bytes([person(make)]))
    other = make.partner(admin_email="admin-lain@contoh.id")
    child = make.partner(parent=partner)
    with tenancy.scoped(tenancy.Scope.tenants(other.id)), pytest.raises(LookupError):
        imports.get(other, result["id"])
    login(client, "admin-lain@contoh.id")
    for url in (f"/p/{other.slug}/impor/{result['id']}",
                f"/p/{partner.slug}/impor/{result['id']}"):
        assert client.get(url).status_code == 404
        assert client.post(f"{url}/konfirmasi").status_code == 404
    client.post("/logout")
    # A parent sees its child's members, but not its imports (nor the child its parent's).
    child_result = upload(child, csv_bytes([person(make)]))
    login(client, partner.contact_email)
    assert client.get(f"/p/{partner.slug}/impor/{child_result['id']}").status_code == 404
    assert client.get(f"/p/{child.slug}/impor/{child_result['id']}").status_code == 403
    assert written(partner.id)["members"] == written(child.id)["members"] == 0
    assert preview(partner, result["id"])["status"] == ImportStatus.PREVIEWED


# --- the pages -----------------------------------------------------------------------------


def _csrf_free_upload(client, slug, data: bytes, name="peserta.csv"):
    return client.post(f"/p/{slug}/impor", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_the_csv_template_round_trips(client, make, partner):
    login(client, partner.contact_email)
    response = client.get(f"/p/{partner.slug}/impor/template.csv")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    header = next(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert tuple(header) == COLUMNS
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    rows = [person(make, kode_produk="BKM", kelompok="Kelompok Labukkang") for _ in range(3)]
    for row in rows:
        writer.writerow([row[c] for c in header])
    response = _csrf_free_upload(client, partner.slug, out.getvalue().encode())
    assert response.status_code == 303
    page = client.get(response.location)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="good-rows">3<' in html
    assert rows[0]["nik"] not in html
    import_id = response.location.rsplit("/", 1)[1]
    response = client.post(f"/p/{partner.slug}/impor/{import_id}/konfirmasi")
    assert response.status_code == 303
    html = client.get(response.location).get_data(as_text=True)
    assert 'id="imported-rows">3<' in html
    assert written(partner.id) == {"members": 3, "registry": 3, "enrollments": 3, "audit": 3}


def test_the_excel_template_keeps_nik_as_text_explains_itself_and_round_trips(
        client, make, partner):
    login(client, partner.contact_email)
    response = client.get(f"/p/{partner.slug}/impor/template.xlsx")
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    sheet = workbook["Peserta"]
    assert tuple(c.value for c in sheet[1]) == COLUMNS
    for column in ("nik", "no_kk"):
        letter = openpyxl.utils.get_column_letter(COLUMNS.index(column) + 1)
        assert sheet[f"{letter}2"].number_format == "@"
        assert sheet.column_dimensions[letter].number_format == "@"
    guide = workbook.worksheets[1]
    text = " ".join(str(c.value) for row in guide.iter_rows() for c in row if c.value)
    assert "nik" in text and "Kelompok Labukkang" in text and "BKM" in text
    rows = [person(make, kode_produk="BKM"), person(make)]
    for offset, row in enumerate(rows, start=2):
        for index, column in enumerate(COLUMNS, start=1):
            value = row[column]
            if column == "tanggal_lahir":
                value = datetime.fromisoformat(value)
            sheet.cell(row=offset, column=index, value=value or None)
    out = io.BytesIO()
    workbook.save(out)
    # The file name says .csv: the content decides.
    response = _csrf_free_upload(client, partner.slug, out.getvalue(), name="salah-nama.csv")
    assert response.status_code == 303
    html = client.get(response.location).get_data(as_text=True)
    assert 'id="good-rows">2<' in html and 'id="error-rows">0<' in html
    import_id = response.location.rsplit("/", 1)[1]
    client.post(f"/p/{partner.slug}/impor/{import_id}/konfirmasi")
    assert written(partner.id)["members"] == 2


def test_the_preview_page_lists_every_problem_page_by_page(client, make, partner):
    rows = [person(make, persetujuan="") for _ in range(150)] + [person(make)]
    result = upload(partner, csv_bytes(rows))
    login(client, partner.contact_email)
    url = f"/p/{partner.slug}/impor/{result['id']}"
    first = client.get(url).get_data(as_text=True)
    second = client.get(url + "?page=2").get_data(as_text=True)
    assert first.count("<code>persetujuan</code>") == 100
    assert second.count("<code>persetujuan</code>") == 50
    rows_on = [int(n) for n in re.findall(r"<tr><td>(\d+)</td><td><code>", first + second)]
    assert rows_on == list(range(2, 152))
    assert client.get(url + "?page=999").status_code == 200
    assert 'id="good-rows">1<' in first


def test_the_upload_form_shows_why_a_file_is_refused(client, make, partner):
    login(client, partner.contact_email)
    response = client.post(f"/p/{partner.slug}/impor", data={},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and 'id="file-error"' in response.get_data(as_text=True)
    response = _csrf_free_upload(client, partner.slug, b"%PDF-1.4", name="a.pdf")
    assert response.status_code == 422
    assert count(MemberImport) == 0
    assert client.get(f"/p/{partner.slug}/impor").status_code == 200


def test_an_upload_may_be_larger_than_the_apps_body_limit_but_not_any_other_post(
        app, client, make, partner):
    login(client, partner.contact_email)
    limit = app.config["MAX_CONTENT_LENGTH"]
    rows = [person(make) for _ in range(200)]
    data = csv_bytes(rows)
    padding = b"\r\n" * ((limit - len(data)) // 2 + 1000)  # blank lines: skipped
    # Encoded here: the test client would spool a large body to a file it never closes.
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data + padding),
                                                           "peserta.csv")})
    assert len(body) > limit
    response = client.post(f"/p/{partner.slug}/impor", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    assert preview(partner, uuid.UUID(response.location.rsplit("/", 1)[1]))["good"] == 200
    response = client.post(f"/p/{partner.slug}/impor", data={"x": "y" * (limit + 1)})
    assert response.status_code == 413


def test_an_officer_may_import_but_a_parent_only_looks(client, make, partner):
    officer = make.staff(partner)
    login(client, officer.email)
    assert client.get(f"/p/{partner.slug}/impor").status_code == 200
    client.post("/logout")
    child = make.partner(parent=partner)
    login(client, partner.contact_email)
    assert client.get(f"/p/{child.slug}/impor").status_code == 403
    assert _csrf_free_upload(client, child.slug, csv_bytes([person(make)])).status_code == 403


def test_files_of_imports_never_confirmed_are_deleted_after_a_week(make, partner, upload_dir):
    old = upload(partner, csv_bytes([person(make)]))
    with tenancy.everything():
        imp = db.session.get(MemberImport, (partner.id, old["id"]))
        imp.created_at = imp.created_at - imports.KEEP_FILES - imports.timedelta(hours=1)
        db.session.commit()
    assert len([p for p in upload_dir.rglob("*") if p.is_file()]) == 2  # file, staged rows
    new = upload(partner, csv_bytes([person(make)]))  # any later upload tidies up
    assert len([p for p in upload_dir.rglob("*") if p.is_file()]) == 2
    with force_locale("en"), pytest.raises(DomainError, match="no longer available"):
        confirm(partner, old["id"])
    db.session.rollback()
    assert confirm(partner, new["id"])[:2] == (1, False)


@pytest.mark.parametrize("batched", [False, True], ids=["a-row-a-line", "a-batch-a-line"])
def test_rows_staged_as_json_by_earlier_versions_are_still_imported(make, partner, upload_dir,
                                                                    batched):
    """A preview made before rows were staged marshalled (JSON lines: one row per line at
    first, then one batch per line) can still be confirmed after the upgrade."""
    import hashlib

    result = upload(partner, csv_bytes([person(make) for _ in range(3)]))
    with tenancy.everything():
        imp = db.session.get(MemberImport, (partner.id, result["id"]))
        staged = imports.staged_path(imp)
        rows = [row for batch in imports._staged_batches(staged, imp.staged_sha256,
                                                         hashlib.sha256()) for row in batch]
        assert len(rows) == 3
        lines = [rows[:2], rows[2:]] if batched else rows
        old = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        staged.write_bytes(old)
        imp.staged_sha256 = hashlib.sha256(old).hexdigest()
        db.session.commit()
    assert confirm(partner, result["id"])[:2] == (3, False)


def test_altered_staged_rows_are_never_read_and_nothing_is_written(make, partner, upload_dir,
                                                                   monkeypatch):
    """The staged rows are unmarshalled only once their file has the SHA-256 recorded at
    the preview: altered, they are not read at all; the file is checked again."""
    result = upload(partner, csv_bytes([person(make) for _ in range(3)]))
    with tenancy.everything():
        staged = imports.staged_path(db.session.get(MemberImport, (partner.id, result["id"])))
    data = bytearray(staged.read_bytes())
    data[-1] ^= 1
    staged.write_bytes(bytes(data))

    def never(_data):
        raise AssertionError("altered staged rows were unmarshalled")

    monkeypatch.setattr(imports.marshal, "loads", never)
    assert confirm(partner, result["id"])[:2] == (0, True)
    assert written(partner.id) == {"members": 0, "registry": 0, "enrollments": 0, "audit": 0}
    monkeypatch.undo()
    # The check ran again from the uploaded file: the import can be confirmed now.
    assert preview(partner, result["id"])["good"] == 3
    assert confirm(partner, result["id"])[:2] == (3, False)


def test_the_purge_command_deletes_stale_import_files_of_every_partner(app, make, partner,
                                                                        upload_dir):
    from click.testing import CliRunner

    from bungkesmas.cli import imports_purge

    other = make.partner()
    old, recent = upload(partner, csv_bytes([person(make)])), upload(other, csv_bytes(
        [person(make)]))
    stale = upload(other, csv_bytes([person(make)]))
    with tenancy.everything():
        for owner, result in ((partner, old), (other, stale)):
            imp = db.session.get(MemberImport, (owner.id, result["id"]))
            imp.created_at = imp.created_at - imports.timedelta(days=3)
        db.session.commit()
    assert len([p for p in upload_dir.rglob("*") if p.is_file()]) == 6
    output = CliRunner().invoke(imports_purge, ["--days", "2"], obj=app.cli,
                                catch_exceptions=False).output
    assert "4 file(s)" in output
    with tenancy.everything():
        kept = {p.name.split(".")[0] for p in upload_dir.rglob("*") if p.is_file()}
    assert kept == {str(recent["id"])}


def test_imports_writing_with_two_threads_shorten_the_switch_interval_until_the_last_ends():
    import sys
    from types import SimpleNamespace

    switches = imports._SwitchInterval()
    threaded, alone = SimpleNamespace(thread=object()), SimpleNamespace(thread=None)
    before = sys.getswitchinterval()
    short = min(before, switches.INTERVAL)
    with switches(alone):
        assert sys.getswitchinterval() == before
    with switches(threaded):
        assert sys.getswitchinterval() == short
        with switches(threaded):  # a second import meanwhile
            assert sys.getswitchinterval() == short
        assert sys.getswitchinterval() == short
    assert sys.getswitchinterval() == before
    with pytest.raises(RuntimeError), switches(threaded):
        raise RuntimeError
    assert sys.getswitchinterval() == before
