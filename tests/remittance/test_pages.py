"""Remittance pages: the partner's /p/<slug>/setoran and the provider's /admin/setoran —
statements, closing a period, terms, money received, reversal, permissions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.contributions import services as ledger
from bungkesmas.extensions import db
from bungkesmas.remittance import services as remittance
from bungkesmas.remittance.models import RemittanceReceipt, RemittanceStatement
from bungkesmas.remittance.periods import Frequency, period_of
from bungkesmas.timeutil import local_today

C = 150_000


@pytest.fixture
def world(make):
    partner = make.partner(slug="mitra-setoran", admin_email="admin-hal@contoh.id")
    today = local_today()
    last = period_of(today, Frequency.MONTHLY).previous()
    remittance.update_settings(make.admin, partner, 1000, "monthly", 10)
    db.session.commit()
    enrollment = make.enrollment(partner, enrolled_on=today - timedelta(days=400))
    ledger.record_payment(None, enrollment, "cash", C, last.start + timedelta(days=1))
    ledger.record_payment(None, enrollment, "bank_transfer", 50_000,
                          last.start + timedelta(days=2), "BRI-9")
    db.session.commit()
    return {"make": make, "partner": partner, "today": today, "last": last}


def statements_count() -> int:
    with tenancy.everything():
        return db.session.scalar(select(func.count()).select_from(RemittanceStatement))


def receipts() -> list[RemittanceReceipt]:
    with tenancy.everything():
        return list(db.session.scalars(select(RemittanceReceipt)))


def close_as_provider(world):
    remittance.issue(None, world["partner"], world["last"])
    db.session.commit()
    return f"SET-{world['partner'].id:04d}-{world['last'].key}"


# --- the partner's pages -------------------------------------------------------------------


def test_the_partner_admin_sees_the_periods_and_closes_the_last_one(world, client, login_as):
    login_as("admin-hal@contoh.id")
    key = world["last"].key
    page = client.get("/p/mitra-setoran/setoran")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert key in html and "Rp180.000" in html  # 200 000 collected − 10 % fee
    statement = client.get(f"/p/mitra-setoran/setoran/{key}")
    html = statement.get_data(as_text=True)
    assert statement.status_code == 200 and 'id="close-period"' in html
    assert "Rp150.000" in html and "Rp50.000" in html and "Rp20.000" in html
    response = client.post(f"/p/mitra-setoran/setoran/{key}/tutup")
    number = f"SET-{world['partner'].id:04d}-{key}"
    assert response.status_code == 302 and response.location.endswith(
        f"/p/mitra-setoran/setoran/{number}")
    html = client.get(response.location).get_data(as_text=True)
    assert number in html and 'id="close-period"' not in html
    # Closing again changes nothing.
    client.post(f"/p/mitra-setoran/setoran/{key}/tutup")
    assert statements_count() == 1
    with tenancy.everything():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "remittance.statement.issue"))
    assert event.after["side"] == "partner"


def test_the_current_period_cannot_be_closed_yet(world, client, login_as):
    login_as("admin-hal@contoh.id")
    current = period_of(world["today"], Frequency.MONTHLY).key
    html = client.get(f"/p/mitra-setoran/setoran/{current}").get_data(as_text=True)
    assert 'id="close-period"' not in html
    response = client.post(f"/p/mitra-setoran/setoran/{current}/tutup", follow_redirects=True)
    assert response.status_code == 200 and statements_count() == 0


def test_officers_do_not_see_remittance_and_parents_only_look(world, client, login_as, make):
    officer = make.staff(world["partner"], Role.PARTNER_OFFICER)
    login_as(officer)
    assert client.get("/p/mitra-setoran/setoran").status_code == 403
    client.post("/logout")
    parent = make.partner(slug="mitra-induk", admin_email="admin-induk@contoh.id")
    with tenancy.everything():
        from bungkesmas.partners import services as partners

        partners.set_parent(make.admin, world["partner"], parent.id)
        db.session.commit()
    login_as("admin-induk@contoh.id")
    key = world["last"].key
    html = client.get(f"/p/mitra-setoran/setoran/{key}").get_data(as_text=True)
    assert "Rp200.000" in html and 'id="close-period"' not in html
    assert client.post(f"/p/mitra-setoran/setoran/{key}/tutup").status_code == 403
    assert statements_count() == 0


def test_another_partners_statement_is_not_found_in_the_workspace(world, client, login_as, make):
    number = close_as_provider(world)
    make.partner(slug="mitra-lain", admin_email="admin-lain@contoh.id")
    login_as("admin-lain@contoh.id")
    assert client.get(f"/p/mitra-lain/setoran/{number}").status_code == 404
    assert client.post(f"/p/mitra-lain/setoran/{number}/tutup").status_code == 404
    assert client.get("/p/mitra-lain/setoran/bukan-periode").status_code == 404


# --- the provider's pages ------------------------------------------------------------------


def test_the_provider_overview_lists_partners_and_filters_differences(world, client, make):
    make.partner(slug="mitra-sepi")
    from tests.helpers import login

    login(client, make.admin.email)
    month = world["last"].key
    html = client.get(f"/admin/setoran?periode={month}").get_data(as_text=True)
    assert world["partner"].name in html and "Rp180.000" in html
    filtered = client.get(f"/admin/setoran?periode={month}&selisih=1").get_data(as_text=True)
    assert world["partner"].name in filtered
    assert client.get("/admin/setoran?periode=bukan").status_code == 200


def test_the_provider_overview_pages_its_partners_and_totals_them_all(
        world, client, make, monkeypatch):
    monkeypatch.setattr("bungkesmas.platform.remittance_views.OVERVIEW_PER_PAGE", 1)
    make.partner(slug="mitra-sepi")
    from tests.helpers import login

    login(client, make.admin.email)
    month = world["last"].key
    pages = [client.get(f"/admin/setoran?periode={month}&page={n}").get_data(as_text=True)
             for n in (1, 2)]
    assert sum(world["partner"].name in html for html in pages) == 1
    without = next(html for html in pages if world["partner"].name not in html)
    assert "Rp180.000" in without  # the totals are those of all partners
    assert f"periode={month}" in pages[0] and "page=2" in pages[0]
    filtered = client.get(f"/admin/setoran?periode={month}&selisih=1&page=1").get_data(
        as_text=True)
    assert world["partner"].name in filtered and "page=2" not in filtered
    assert client.get(f"/admin/setoran?periode={month}&page=999").status_code == 200
    assert client.get(f"/admin/setoran?periode={month}&page=x").status_code == 200


def test_the_provider_sets_terms_records_money_and_reverses_it(world, client, make):
    from tests.helpers import login

    login(client, make.admin.email)
    base = "/admin/setoran/mitra-setoran"
    response = client.post(f"{base}/pengaturan", data={"fee_share_bp": "1250",
                                                       "frequency": "monthly", "due_day": "15"})
    assert response.status_code == 302
    # They apply where no MOU is in force (the factory's MOU started 30 days ago).
    terms = remittance.terms_on(world["partner"].id, world["today"] - timedelta(days=40))
    assert (terms.fee_share_bp, terms.due_day) == (1250, 15)
    bad = client.post(f"{base}/pengaturan", data={"fee_share_bp": "20000",
                                                  "frequency": "monthly", "due_day": "15"})
    assert bad.status_code == 422 and "has-error" in bad.get_data(as_text=True)

    # The statement page closes the period.
    key = world["last"].key
    html = client.get(f"{base}/{key}").get_data(as_text=True)
    assert 'id="close-period"' in html
    response = client.post(f"{base}/{key}/tutup")
    number = f"SET-{world['partner'].id:04d}-{key}"
    assert response.status_code == 302 and response.location.endswith(f"{base}/{number}")

    page = client.get(base).get_data(as_text=True)
    submission_key = re.search(r'name="submission_key" type="hidden" value="([^"]+)"',
                               page).group(1)
    form = {"statement": number, "amount": "175000", "received_on": world["today"].isoformat(),
            "bank_reference": "BRI-TRF-1", "submission_key": submission_key}
    assert client.post(f"{base}/terima", data=form).status_code == 302
    assert client.post(f"{base}/terima", data=form).status_code == 302  # a double click
    assert [r.amount for r in receipts()] == [175_000]
    html = client.get(f"{base}/{number}").get_data(as_text=True)
    assert "BRI-TRF-1" in html and "Rp175.000" in html

    future = {**form, "received_on": (world["today"] + timedelta(days=1)).isoformat(),
              "submission_key": "lain"}
    response = client.post(f"{base}/terima", data=future)
    assert response.status_code == 422
    assert 'id="received_on-error"' in response.get_data(as_text=True)
    assert len(receipts()) == 1

    receipt_id = receipts()[0].id
    assert client.post(f"{base}/terima/{receipt_id}/batal", data={"reason": ""}
                       ).status_code == 422
    assert client.post(f"{base}/terima/{receipt_id}/batal",
                       data={"reason": "Salah mitra"}).status_code == 302
    assert sorted(r.amount for r in receipts()) == [-175_000, 175_000]
    assert client.post(f"{base}/terima/{receipt_id}/batal",
                       data={"reason": "Salah mitra"}).status_code == 422
    assert len(receipts()) == 2


def test_provider_staff_look_but_do_not_change(world, client, make):
    from tests.helpers import login

    staff = make.provider(Role.PROVIDER_STAFF)
    login(client, staff.email)
    base = "/admin/setoran/mitra-setoran"
    assert client.get("/admin/setoran").status_code == 200
    html = client.get(base).get_data(as_text=True)
    assert 'id="receipt-form"' not in html and 'id="settings-form"' not in html
    assert client.post(f"{base}/pengaturan", data={"fee_share_bp": "0", "frequency": "monthly",
                                                   "due_day": "1"}).status_code == 403
    assert client.post(f"{base}/{world['last'].key}/tutup").status_code == 403
    assert statements_count() == 0


def test_partners_without_a_workspace_have_no_remittance_page(world, client, make):
    from tests.helpers import login

    applicant = make.applicant()
    login(client, make.admin.email)
    assert applicant.slug is None
    assert client.get("/admin/setoran/tidak-ada").status_code == 404
