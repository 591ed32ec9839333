"""The member and group pages of the partner workspace."""

from __future__ import annotations

import csv
import io
import re
import threading
import uuid
from datetime import date
from html import unescape

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder, run_wsgi_app

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.extensions import db
from bungkesmas.members import export
from bungkesmas.members import services as members
from bungkesmas.members.models import Enrollment, Group, Member
from tests.helpers import login

SLUG = "ylp2em-uji"
BASE = f"/p/{SLUG}"
ADMIN = "admin-uji@contoh.id"
FIELD_ERROR = re.compile(r'<p class="error" id="([\w-]+)-error">(.*?)</p>', re.S)


@pytest.fixture
def partner(make):
    partner = make.partner(slug=SLUG, admin_email=ADMIN)
    make.product(partner)
    return partner


@pytest.fixture
def admin(client, partner):
    client.get("/bahasa/en")
    login(client, ADMIN)
    return client


def field_errors(html: str) -> dict[str, str]:
    return {name: unescape(text) for name, text in FIELD_ERROR.findall(html)}


def form_data(make, **overrides) -> dict:
    data = make.member_data()
    out = {k: ("" if v is None else str(v)) for k, v in data.items() if k != "consent"}
    out.update(birth_date=data["birth_date"].isoformat(), consent="y", group_id="",
               product_id="")
    out.update(overrides)
    return {k: v for k, v in out.items() if v is not None}


def count(model, **where) -> int:
    with tenancy.everything():
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return db.session.scalar(stmt)


def member_row(number: str) -> Member:
    with tenancy.everything():
        member = db.session.scalar(select(Member).where(Member.member_number == number))
        db.session.expunge(member)
    return member


def add_group(partner, name="Kelompok Labukkang", village="7372021001"):
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        group_id = members.create_group(None, partner, name, village).id
    db.session.commit()
    return group_id


def enroll(partner, number, product_id):
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        members.enroll(None, partner, members.by_number(number), product_id)
    db.session.commit()


def product_id_of(partner) -> int:
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        return members.offered_products(partner)[0].id


# --- registering ------------------------------------------------------------------------


def test_the_form_starts_in_the_partners_region_and_lists_its_districts(admin):
    html = admin.get(f"{BASE}/peserta/baru").get_data(as_text=True)
    assert '<option selected value="73">' in html
    assert '<option selected value="7372">' in html
    assert '<option value="737202">Ujung</option>' in html  # the districts of Parepare
    assert "name=\"village_code\"" in html and "confirm_nik" not in html


def test_a_bad_nik_is_refused_next_to_the_field_and_nothing_is_saved(make, admin):
    response = admin.post(f"{BASE}/peserta/baru", data=form_data(make, nik="73720214039"))
    assert response.status_code == 422
    errors = field_errors(response.get_data(as_text=True))
    assert list(errors) == ["nik"] and "16 digits" in errors["nik"]
    assert count(Member) == 0 and count(AuditEvent, action="member.register") == 0


def test_a_mismatching_nik_is_saved_once_the_officer_confirms(make, admin):
    data = form_data(make, sex="P", birth_date="1990-01-02",
                     nik=make.nik(date(1991, 5, 6), "L"))
    response = admin.post(f"{BASE}/peserta/baru", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "does not match" in field_errors(html)["nik"]
    assert 'name="confirm_nik"' in html and "I checked the ID card" in html
    assert count(Member) == 0

    response = admin.post(f"{BASE}/peserta/baru", data={**data, "confirm_nik": "y"})
    assert response.status_code == 302
    number = response.location.rsplit("/", 1)[1]
    assert response.location.endswith(f"{BASE}/peserta/{number}")
    assert member_row(number).nik_mismatch_confirmed
    page = admin.get(response.location).get_data(as_text=True)
    assert number in page  # the flash names the new member number
    assert data["nik"] not in page and data["nik"][:6] + "******" + data["nik"][-4:] in page


def test_a_nik_held_by_another_partner_is_refused_without_its_data(make, admin):
    other = make.partner()
    data = form_data(make)
    make.member(other, nik=data["nik"], full_name="Siti Rahasia Lain")
    response = admin.post(f"{BASE}/peserta/baru", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "transfer" in field_errors(html)["nik"]
    assert "Siti Rahasia Lain" not in html and other.name not in html
    assert count(Member) == 1


def test_registering_with_a_product_enrolls_at_once_or_not_at_all(make, admin, partner):
    product = str(product_id_of(partner))
    too_old = form_data(make, birth_date="1950-01-02", nik=make.nik(date(1950, 1, 2), "P"),
                        product_id=product)
    response = admin.post(f"{BASE}/peserta/baru", data=too_old)
    assert response.status_code == 422
    assert "product_id" in field_errors(response.get_data(as_text=True))
    assert count(Member) == 0  # the registration was undone with the enrollment

    response = admin.post(f"{BASE}/peserta/baru", data=form_data(make, product_id=product))
    assert response.status_code == 302
    assert count(Enrollment) == 1


def test_an_officer_registers_a_member_into_a_group(make, client, partner):
    group_id = add_group(partner)
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    login(client, officer.email)
    response = client.post(f"{BASE}/peserta/baru", data=form_data(make, group_id=str(group_id)))
    assert response.status_code == 302
    assert member_row(response.location.rsplit("/", 1)[1]).group_id == group_id


def test_a_typed_village_code_with_dots_is_accepted(make, admin):
    response = admin.post(f"{BASE}/peserta/baru", data=form_data(
        make, village_code="73.72.02.1002"))
    assert response.status_code == 302
    assert member_row(response.location.rsplit("/", 1)[1]).village_code == "7372021002"


def test_a_village_outside_the_district_is_refused(make, admin):
    response = admin.post(f"{BASE}/peserta/baru", data=form_data(make, village_code="7372011001"))
    assert response.status_code == 422
    assert "village_code" in field_errors(response.get_data(as_text=True))


# --- the member page --------------------------------------------------------------------


def test_the_member_page_shows_the_masked_nik_and_its_history(make, admin, partner):
    data = make.member_data(full_name="Hasnah Daeng Caya")
    number = make.member(partner, **data)
    html = admin.get(f"{BASE}/peserta/{number}").get_data(as_text=True)
    assert "Hasnah Daeng Caya" in html
    assert data["nik"] not in html and member_row(number).nik_masked in html
    assert re.search(r"<td>Registered\s", html) and "later release" in html
    assert f"{BASE}/peserta/{number}/ubah" in html


def test_showing_the_nik_is_audited_and_shown_on_that_response_only(make, admin, partner):
    data = make.member_data()
    number = make.member(partner, **data)
    response = admin.post(f"{BASE}/peserta/{number}/nik")
    assert response.status_code == 200 and response.location is None
    assert data["nik"] in response.get_data(as_text=True)
    assert count(AuditEvent, action="member.reveal_nik") == 1
    again = admin.get(f"{BASE}/peserta/{number}").get_data(as_text=True)
    assert data["nik"] not in again and "Full NIK shown" in again


def test_an_officer_may_not_show_the_nik(make, client, partner):
    data = make.member_data()
    number = make.member(partner, **data)
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    login(client, officer.email)
    page = client.get(f"{BASE}/peserta/{number}").get_data(as_text=True)
    assert f"/peserta/{number}/nik" not in page
    response = client.post(f"{BASE}/peserta/{number}/nik")
    assert response.status_code == 403 and data["nik"] not in response.get_data(as_text=True)
    assert count(AuditEvent, action="member.reveal_nik") == 0


def test_enrolling_from_the_member_page(make, admin, partner):
    number = make.member(partner)
    product = str(product_id_of(partner))
    response = admin.post(f"{BASE}/peserta/{number}/daftar-produk", data={"product_id": product})
    assert response.status_code == 302
    html = admin.get(response.location).get_data(as_text=True)
    assert "Bungkesmas" in html and "Pending payment" in html
    again = admin.post(f"{BASE}/peserta/{number}/daftar-produk", data={"product_id": product})
    assert again.status_code == 422
    assert "already enrolled" in field_errors(again.get_data(as_text=True))["product_id"]
    assert count(Enrollment) == 1


def test_editing_keeps_the_nik_when_the_field_is_left_empty(make, admin, partner):
    data = make.member_data(phone="081311112222")
    number = make.member(partner, **data)
    form = admin.get(f"{BASE}/peserta/{number}/ubah").get_data(as_text=True)
    assert data["full_name"] in form and data["nik"] not in form
    before = member_row(number)
    response = admin.post(f"{BASE}/peserta/{number}/ubah", data=form_data(
        make, full_name=data["full_name"], nik="", birth_date=data["birth_date"].isoformat(),
        sex=data["sex"], phone="0813 9999 0000"))
    assert response.status_code == 302
    after = member_row(number)
    assert after.nik_digest == before.nik_digest and after.phone == "+6281399990000"
    history = admin.get(response.location).get_data(as_text=True)
    assert "Details changed" in history and "Phone" in history


def test_editing_with_a_new_nik_replaces_it(make, admin, partner):
    data = make.member_data()
    number = make.member(partner, **data)
    new_nik = make.nik(data["birth_date"], data["sex"])
    response = admin.post(f"{BASE}/peserta/{number}/ubah", data=form_data(
        make, full_name=data["full_name"], nik=new_nik, birth_date=data["birth_date"].isoformat(),
        sex=data["sex"]))
    assert response.status_code == 302
    assert member_row(number).nik_masked == new_nik[:6] + "******" + new_nik[-4:]


def test_an_unknown_or_other_partners_member_is_not_found(make, admin):
    other_number = make.member(make.partner())
    for path in (f"{BASE}/peserta/{other_number}", f"{BASE}/peserta/0001-000001-0",
                 f"{BASE}/peserta/bukan-nomor", f"{BASE}/peserta/{other_number}/ubah"):
        assert admin.get(path).status_code == 404, path
    assert admin.post(f"{BASE}/peserta/{other_number}/nik").status_code == 404


def test_the_history_shows_only_the_members_own_partners_events(make, client, partner):
    number = make.member(partner)
    target = make.partner(admin_email="admin-tujuan@contoh.id", slug="mitra-tujuan")
    with tenancy.everything():
        members.transfer(make.admin, [member_row(number).id], target)
    db.session.commit()
    login(client, "admin-tujuan@contoh.id")
    client.get("/bahasa/en")
    html = client.get(f"/p/mitra-tujuan/peserta/{number}").get_data(as_text=True)
    assert number in html and "No changes recorded" in html
    assert not re.search(r"<td>Registered\s", html)


# --- the list, search, filters and export ----------------------------------------------


@pytest.fixture
def listed(make, partner):
    """Three members: two in Labukkang's group (one enrolled), one in Ujung Sabbang."""
    group_id = add_group(partner)
    siti = make.member_data(full_name="Sitti Aminah", group_id=group_id, phone="081200001111")
    andi = make.member_data(full_name="Andi Baso", sex="L", group_id=group_id)
    besse = make.member_data(full_name="Besse Tenri", village_code="7372021002")
    numbers = {d["full_name"]: make.member(partner, **d) for d in (siti, andi, besse)}
    enroll(partner, numbers["Sitti Aminah"], product_id_of(partner))
    return {"group_id": group_id, "numbers": numbers, "niks": {
        d["full_name"]: d["nik"] for d in (siti, andi, besse)}}


def names_listed(html: str) -> set[str]:
    return {n for n in ("Sitti Aminah", "Andi Baso", "Besse Tenri") if n in html}


def test_the_list_searches_by_name_number_and_phone(admin, listed):
    def found(q):
        return names_listed(admin.get(f"{BASE}/peserta", query_string={"q": q})
                            .get_data(as_text=True))

    assert found("") == {"Sitti Aminah", "Andi Baso", "Besse Tenri"}
    assert found("sitti") == {"Sitti Aminah"}
    assert found("BES") == {"Besse Tenri"}
    assert found(listed["numbers"]["Andi Baso"]) == {"Andi Baso"}
    assert found("0812 0000 1111") == {"Sitti Aminah"}
    assert found("tidak ada") == set()


def test_the_search_box_posts_so_that_a_nik_stays_out_of_urls(admin, listed):
    nik = listed["niks"]["Besse Tenri"]
    response = admin.post(f"{BASE}/peserta", data={"q": nik})
    assert response.status_code == 302
    assert response.location.endswith(f"/peserta/{listed['numbers']['Besse Tenri']}")
    assert nik not in response.location
    unknown = admin.post(f"{BASE}/peserta", data={"q": "7372024403850999"})
    assert unknown.status_code == 200 and "No member with this NIK" in unknown.get_data(
        as_text=True)
    by_name = admin.post(f"{BASE}/peserta", data={"q": "andi", "status": "bogus"})
    assert by_name.status_code == 302 and by_name.location.endswith("/peserta?q=andi")


def test_the_list_filters_by_group_village_and_status(admin, listed):
    def found(**filters):
        return names_listed(admin.get(f"{BASE}/peserta", query_string=filters)
                            .get_data(as_text=True))

    assert found(group=str(listed["group_id"])) == {"Sitti Aminah", "Andi Baso"}
    assert found(village="7372021002") == {"Besse Tenri"}
    assert found(status="pending_payment") == {"Sitti Aminah"}
    assert found(status="not_enrolled") == {"Andi Baso", "Besse Tenri"}
    assert found(status="cancelled") == set()
    # Values not on offer are ignored, not an error.
    assert found(group=str(uuid.uuid4()), status="x") == {"Sitti Aminah", "Andi Baso",
                                                          "Besse Tenri"}


def test_the_list_pages_by_fifty(make, admin, partner):
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        for i in range(51):
            members.register(None, partner, make.member_data(full_name=f"Peserta {i:03d}"))
    db.session.commit()
    first = admin.get(f"{BASE}/peserta").get_data(as_text=True)
    second = admin.get(f"{BASE}/peserta", query_string={"page": 2}).get_data(as_text=True)
    assert "Peserta 049" in first and "Peserta 050" not in first
    assert "Peserta 050" in second and "Peserta 000" not in second
    assert "51 members" in first


def test_csv_export_follows_the_filter_and_holds_masked_niks_only(admin, listed):
    response = admin.get(f"{BASE}/peserta/ekspor.csv",
                         query_string={"group": str(listed["group_id"])})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == list(export.HEADERS)
    by_name = {r[1]: r for r in rows[1:]}
    assert set(by_name) == {"Sitti Aminah", "Andi Baso"}
    for name, row in by_name.items():
        nik = listed["niks"][name]
        assert row[2] == nik[:6] + "******" + nik[-4:]
    assert by_name["Sitti Aminah"][12] == "Menunggu pembayaran"
    assert by_name["Andi Baso"][12] == "Belum terdaftar"
    assert by_name["Sitti Aminah"][5] == "0812-0000-1111"
    for nik in listed["niks"].values():
        assert nik not in text
    assert count(AuditEvent, action="member.export") == 1


def test_the_csv_export_is_read_after_the_request_has_ended(app, admin, listed):
    """As under a WSGI server: the body is read after the request's context (and its
    database session) is gone. A thread of its own, as the test keeps a context open."""
    environ = EnvironBuilder(path=f"{BASE}/peserta/ekspor.csv").get_environ()
    admin._add_cookies_to_wsgi(environ)
    db.session.commit()
    result = {}

    def serve():
        body, status, _headers = run_wsgi_app(app, environ, buffered=False)
        try:
            result["status"], result["body"] = status, b"".join(body).decode()
        finally:
            body.close()

    thread = threading.Thread(target=serve)
    thread.start()
    thread.join(timeout=60)
    assert result["status"].startswith("200")
    assert {"Sitti Aminah", "Andi Baso", "Besse Tenri"} <= set(result["body"].split(","))


def test_xlsx_export_holds_masked_niks_only(admin, listed):
    response = admin.get(f"{BASE}/peserta/ekspor.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    content = response.get_data()
    response.close()  # what a WSGI server does: closes (and so deletes) the temporary file
    sheet = load_workbook(io.BytesIO(content)).active
    rows = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert tuple(rows[0]) == export.HEADERS
    assert {r[1] for r in rows[1:]} == {"Sitti Aminah", "Andi Baso", "Besse Tenri"}
    cells = " ".join(str(c) for row in rows for c in row)
    for nik in listed["niks"].values():
        assert nik not in cells and nik[:6] + "******" + nik[-4:] in cells


def test_export_needs_the_export_permission(make, client, partner, listed):
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    login(client, officer.email)
    assert client.get(f"{BASE}/peserta").status_code == 200
    assert "ekspor.csv" not in client.get(f"{BASE}/peserta").get_data(as_text=True)
    assert client.get(f"{BASE}/peserta/ekspor.csv").status_code == 403
    assert client.get(f"{BASE}/peserta/ekspor.xlsx").status_code == 403


def test_the_export_reads_members_in_chunks_without_losing_or_repeating_any(
        make, partner, monkeypatch):
    names = ["Ani", "Ani", "Ani", "Budi", "Cici", "Dedi", "Eka"]  # equal names straddle chunks
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        numbers = {members.register(None, partner, make.member_data(full_name=n)).member_number
                   for n in names}
        monkeypatch.setattr(export, "CHUNK", 2)
        pieces = list(export.csv_stream(members.search(partner, members.MemberFilter()),
                                        {partner.id: partner.name}, "Asia/Makassar"))
    db.session.rollback()
    assert len(pieces) > 3
    rows = list(csv.reader(io.StringIO("".join(pieces).lstrip("\ufeff"))))[1:]
    assert [r[1] for r in rows] == sorted(names)
    assert {r[0] for r in rows} == numbers


def test_a_formula_in_a_name_is_exported_as_text():
    assert export.safe_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert export.safe_cell("Sitti") == "Sitti" and export.safe_cell(None) is None


# --- groups -----------------------------------------------------------------------------


def test_groups_are_listed_with_counts_and_created(make, admin, partner, listed):
    html = admin.get(f"{BASE}/kelompok").get_data(as_text=True)
    assert "Kelompok Labukkang" in html
    assert re.search(r"Kelompok Labukkang</a></td>\s*<td>2</td>\s*<td>1</td>", html), html
    response = admin.post(f"{BASE}/kelompok", data={
        "name": "Kelompok Ujung Sabbang", "village_code": "7372021002", "meeting_day": "Kamis"})
    assert response.status_code == 302
    group_page = admin.get(response.location).get_data(as_text=True)
    assert "Kelompok Ujung Sabbang" in group_page and "Ujung Sabbang" in group_page
    duplicate = admin.post(f"{BASE}/kelompok", data={"name": "kelompok labukkang"})
    assert duplicate.status_code == 422 and "name" in field_errors(
        duplicate.get_data(as_text=True))
    assert count(Group) == 2


def test_a_group_page_lists_its_members_and_sets_the_coordinator(admin, listed):
    group_url = f"{BASE}/kelompok/{listed['group_id']}"
    html = admin.get(group_url).get_data(as_text=True)
    assert names_listed(html) == {"Sitti Aminah", "Andi Baso"}
    andi = member_row(listed["numbers"]["Andi Baso"])
    response = admin.post(f"{group_url}/koordinator", data={"coordinator": str(andi.id)})
    assert response.status_code == 302
    assert member_row(listed["numbers"]["Andi Baso"]).is_coordinator
    besse = member_row(listed["numbers"]["Besse Tenri"])  # not in the group
    refused = admin.post(f"{group_url}/koordinator", data={"coordinator": str(besse.id)})
    assert refused.status_code == 422
    assert member_row(listed["numbers"]["Andi Baso"]).is_coordinator


def test_an_unknown_or_other_partners_group_is_not_found(make, admin):
    other = make.partner()
    other_group = add_group(other, "Kelompok Lain")
    for group_id in (other_group, uuid.uuid4()):
        assert admin.get(f"{BASE}/kelompok/{group_id}").status_code == 404
        assert admin.post(f"{BASE}/kelompok/{group_id}/koordinator",
                          data={"coordinator": ""}).status_code == 404


# --- a parent partner and its children -------------------------------------------------


def test_a_parent_sees_its_childs_members_read_only(make, client, partner):
    child = make.partner(parent=partner, slug="anak-uji", admin_email="admin-anak@contoh.id")
    group_id = add_group(child, "Nasabah Bank Sampah")
    number = make.member(child, full_name="Nurbaya Anak", group_id=group_id)
    login(client, ADMIN)
    listing = client.get(f"{BASE}/peserta").get_data(as_text=True)
    assert "Nurbaya Anak" in listing
    page = client.get(f"{BASE}/peserta/{number}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"/peserta/{number}/ubah" not in html and f"/peserta/{number}/nik" not in html
    assert client.get(f"{BASE}/peserta/{number}/ubah").status_code == 403
    assert client.post(f"{BASE}/peserta/{number}/nik").status_code == 403
    assert client.post(f"{BASE}/kelompok/{group_id}/koordinator",
                       data={"coordinator": ""}).status_code == 403
    assert client.get(f"{BASE}/kelompok/{group_id}").status_code == 200
    # In the child's own workspace the parent's staff may look, not change.
    assert client.get("/p/anak-uji/peserta").status_code == 200
    assert client.get("/p/anak-uji/peserta/baru").status_code == 403
    assert client.get("/p/anak-uji/peserta/ekspor.csv").status_code == 403


def test_a_child_does_not_see_its_parents_members(make, client, partner):
    make.partner(parent=partner, slug="anak-uji", admin_email="admin-anak@contoh.id")
    number = make.member(partner, full_name="Milik Induk")
    login(client, "admin-anak@contoh.id")
    assert "Milik Induk" not in client.get("/p/anak-uji/peserta").get_data(as_text=True)
    assert client.get(f"/p/anak-uji/peserta/{number}").status_code == 404


def test_the_navigation_links_to_members_and_groups(admin):
    html = admin.get(f"{BASE}/").get_data(as_text=True)
    assert f'href="{BASE}/peserta"' in html and f'href="{BASE}/kelompok"' in html


# --- regions ----------------------------------------------------------------------------


def test_the_region_lookup_lists_children(client):
    regencies = client.get("/wilayah/73").get_json()
    assert {"code": "7372", "name": "Kota Parepare"} in regencies
    assert {"code": "737202", "name": "Ujung"} in client.get("/wilayah/7372").get_json()
    villages = client.get("/wilayah/737202")
    assert villages.status_code == 200 and "max-age" in villages.headers["Cache-Control"]
    assert {"code": "7372021001", "name": "Labukkang"} in villages.get_json()
    for code in ("7372021001", "99", "73x", "0" * 200):
        assert client.get(f"/wilayah/{code}").status_code == 404, code
