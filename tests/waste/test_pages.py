"""The waste bank pages of the workspace: price list, category history, deposit form and
deposit page; who sees and does what."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.auth.permissions import Role
from bungkesmas.auth.services import user_by_email
from bungkesmas.contributions.models import EntryMethod, LedgerEntry
from bungkesmas.extensions import db
from bungkesmas.members.models import Member
from bungkesmas.partners.models import PartnerType
from bungkesmas.timeutil import local_today
from bungkesmas.waste import services as waste
from bungkesmas.waste.models import WasteDeposit, WastePrice


@pytest.fixture
def bank(make):
    parent = make.partner(name="YLP2EM Uji", admin_email="admin-induk@contoh.id")
    partner = make.partner(org_type=PartnerType.WASTE_BANK, name="Bank Sampah Uji",
                           admin_email="admin-bs@contoh.id", parent=parent)
    officer = make.staff(partner, Role.PARTNER_OFFICER, email="kader-bs@contoh.id")
    today = local_today(partner)
    enrollment = make.enrollment(partner, enrolled_on=today - timedelta(days=60))
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        number = db.session.scalar(select(Member.member_number).where(
            Member.id == enrollment.member_id))
        pet = waste.create_category(None, partner, "Plastik PET", "plastic")
        cans = waste.create_category(None, partner, "Kaleng aluminium", "metal")
        waste.add_price(None, partner, pet, 2500, today - timedelta(days=30))
        waste.add_price(None, partner, cans, 12000, today - timedelta(days=30))
        ids = {"pet": str(pet.id), "cans": str(cans.id)}
        db.session.commit()
    tenancy.activate(tenancy.Scope.nobody())
    return {"partner": partner, "slug": partner.slug, "officer": officer, "number": number,
            "today": today, "parent": parent, **ids}


def html_of(response) -> str:
    return response.get_data(as_text=True)


def test_the_admin_keeps_the_price_list_and_its_history(client, login_as, bank):
    login_as("admin-bs@contoh.id")
    base = f"/p/{bank['slug']}/bank-sampah"
    response = client.post(f"{base}/kategori", data={"name": "Kardus", "material": "paper"})
    assert response.status_code == 302
    page = html_of(client.get(f"{base}/harga"))
    assert "Kardus" in page and "Rp2.500" in page and "Rp12.000" in page
    with tenancy.everything():
        kardus = db.session.scalar(select(waste.WasteCategory.id).where(
            waste.WasteCategory.name == "Kardus"))
    tomorrow = bank["today"] + timedelta(days=1)
    for price, day in (("1700", bank["today"]), ("1800", tomorrow)):
        response = client.post(f"{base}/harga", data={
            "category_id": str(kardus), "price_per_kg": price, "effective_from": day.isoformat()})
        assert response.status_code == 302, html_of(response)
    history = html_of(client.get(f"{base}/kategori/{kardus}"))
    assert history.index("Rp1.800") < history.index("Rp1.700")   # newest first
    page = html_of(client.get(f"{base}/harga"))
    assert "Rp1.700" in page and "Rp1.800" in page   # in force, and the next change


def test_a_bad_price_is_shown_next_to_its_field_and_not_saved(client, login_as, bank):
    login_as("admin-bs@contoh.id")
    response = client.post(f"/p/{bank['slug']}/bank-sampah/harga", data={
        "category_id": bank["pet"], "price_per_kg": "2.500,50",
        "effective_from": bank["today"].isoformat()})
    assert response.status_code == 422
    assert 'id="price_per_kg-error"' in html_of(response)
    response = client.post(f"/p/{bank['slug']}/bank-sampah/harga", data={
        "category_id": bank["pet"], "price_per_kg": "3000",
        "effective_from": (bank["today"] - timedelta(days=1)).isoformat()})
    assert response.status_code == 422
    assert 'id="effective_from-error"' in html_of(response)
    with tenancy.everything():
        assert db.session.scalar(select(func.count()).select_from(WastePrice)) == 2


def test_an_officer_records_deposits_but_does_not_set_prices(client, login_as, bank):
    login_as("kader-bs@contoh.id")
    base = f"/p/{bank['slug']}/bank-sampah"
    assert client.get(f"{base}/harga").status_code == 200
    response = client.post(f"{base}/harga", data={
        "category_id": bank["pet"], "price_per_kg": "1", "effective_from": bank["today"]})
    assert response.status_code == 403
    assert "New price" not in html_of(client.get(f"{base}/harga"))


def lines(**filled) -> dict:
    """The five lines of the form as a browser sends them: empty ones included.
    `filled`: line index (as l0, l3) -> (category id, weight)."""
    data = {}
    for n in range(5):
        category, weight = filled.get(f"l{n}", ("", ""))
        data[f"lines-{n}-category_id"], data[f"lines-{n}-weight_kg"] = category, weight
    return data


def _form(client, url) -> dict:
    page = html_of(client.get(url))
    key = re.search(r'name="submission_key" type="hidden" value="([^"]+)"', page).group(1)
    return {"submission_key": key}


def test_a_deposit_form_credits_the_member_and_shows_the_deposit(client, login_as, bank):
    login_as("kader-bs@contoh.id")
    url = f"/p/{bank['slug']}/bank-sampah/setoran/baru?member={bank['number']}"
    page = html_of(client.get(url))
    assert bank["number"] in page and "lines-4-weight_kg" in page   # five empty lines
    assert "rounded" in page or "dibulatkan" in page                  # the rounding rule
    data = {**_form(client, url), "member_number": bank["number"],
            "deposited_on": bank["today"].isoformat(),
            "lines-0-category_id": bank["pet"], "lines-0-weight_kg": "3,25",
            "lines-2-category_id": bank["cans"], "lines-2-weight_kg": "0.5"}
    response = client.post(url, data=data)
    assert response.status_code == 302, html_of(response)
    # (The posted lines have a gap, lines-0 and lines-2: each is recorded once.)
    # A double click: the same form again records nothing more.
    again = client.post(url, data=data)
    assert again.status_code == 302 and again.location == response.location
    detail = html_of(client.get(response.location))
    assert "Rp8.125" in detail and "Rp6.000" in detail and "Rp14.125" in detail
    assert 'id="receipt-link"' in detail
    with tenancy.everything():
        assert db.session.scalar(select(func.count()).select_from(WasteDeposit)) == 1
        entry = db.session.scalar(select(LedgerEntry).where(
            LedgerEntry.method == EntryMethod.WASTE))
    assert entry.amount == 14_125
    receipt = client.get(f"/p/{bank['slug']}/kuitansi/{entry.receipt_number}")
    assert receipt.status_code == 200 and "Rp14.125" in html_of(receipt)
    listing = html_of(client.get(f"/p/{bank['slug']}/bank-sampah/setoran"))
    assert bank["number"] in listing and "Rp14.125" in listing


def test_a_bad_line_is_shown_next_to_that_line_and_nothing_is_recorded(client, login_as, bank):
    login_as("kader-bs@contoh.id")
    url = f"/p/{bank['slug']}/bank-sampah/setoran/baru"
    response = client.post(url, data={
        **_form(client, url), "member_number": bank["number"],
        "deposited_on": bank["today"].isoformat(),
        **lines(l0=(bank["pet"], "2"), l3=(bank["cans"], "1,005"))})
    assert response.status_code == 422
    page = html_of(response)
    assert 'id="lines-3-weight_kg-error"' in page and 'id="lines-0-weight_kg-error"' not in page
    future = client.post(url, data={
        **_form(client, url), "member_number": bank["number"],
        "deposited_on": (bank["today"] + timedelta(days=1)).isoformat(),
        **lines(l0=(bank["pet"], "2"))})
    assert future.status_code == 422 and 'id="deposited_on-error"' in html_of(future)
    with tenancy.everything():
        assert db.session.scalar(select(func.count()).select_from(WasteDeposit)) == 0
        assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_more_lines_can_be_added_without_javascript(client, login_as, bank):
    login_as("kader-bs@contoh.id")
    url = f"/p/{bank['slug']}/bank-sampah/setoran/baru"
    response = client.post(url, data={
        **_form(client, url), "member_number": bank["number"], "more_lines": "1",
        **lines(l0=(bank["pet"], "2"))})
    assert response.status_code == 200
    page = html_of(response)
    assert "lines-7-weight_kg" in page and 'value="2"' in page


def test_the_parent_partner_looks_at_the_waste_bank_but_changes_nothing(client, login_as, bank):
    login_as("admin-induk@contoh.id")
    base = f"/p/{bank['slug']}/bank-sampah"
    assert client.get(f"{base}/harga").status_code == 200
    assert client.get(f"{base}/setoran").status_code == 200
    assert client.get(f"{base}/setoran/baru").status_code == 403
    assert client.post(f"{base}/kategori", data={"name": "Kaca", "material": "glass"}
                       ).status_code == 403


def test_a_partner_that_is_not_a_waste_bank_has_no_waste_pages(client, login_as, bank):
    login_as("admin-induk@contoh.id")
    slug = bank["parent"].slug
    for path in ("harga", "setoran", "setoran/baru"):
        assert client.get(f"/p/{slug}/bank-sampah/{path}").status_code == 404
    assert "bank-sampah" not in html_of(client.get(f"/p/{slug}/"))


def test_the_member_page_of_a_waste_bank_offers_paying_with_waste(client, login_as, bank):
    login_as("kader-bs@contoh.id")
    page = html_of(client.get(f"/p/{bank['slug']}/peserta/{bank['number']}"))
    assert 'id="waste-deposit-link"' in page
    with tenancy.everything():
        assert user_by_email("kader-bs@contoh.id") is not None
