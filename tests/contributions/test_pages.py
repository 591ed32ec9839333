"""Contributions in the partner workspace: the member page's panel, recording, reversing,
withdrawing, receipts (page and PDF), and today's status in the member list."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.auth.permissions import Role
from bungkesmas.contributions.models import EntryKind, LedgerEntry
from bungkesmas.extensions import db
from bungkesmas.timeutil import local_today
from tests.helpers import login

SLUG = "mitra-iuran"
BASE = f"/p/{SLUG}"
ADMIN = "admin-iuran@contoh.id"
FIELD_ERROR = re.compile(r'<p class="error" id="([\w-]+)-error">(.*?)</p>', re.S)
C = 150_000


@pytest.fixture
def partner(make):
    return make.partner(slug=SLUG, admin_email=ADMIN, name="Mitra Iuran Parepare")


@pytest.fixture
def enrollment(make, partner):
    """A member enrolled ten days ago in a product without a waiting period."""
    return make.enrollment(partner, enrolled_on=local_today() - timedelta(days=10),
                           waiting_days=0)


@pytest.fixture
def admin(client, partner):
    client.get("/bahasa/en")
    login(client, ADMIN)
    return client


def number_of(enrollment) -> str:
    from bungkesmas.members.models import Member

    with tenancy.everything():
        return db.session.scalar(select(Member.member_number).where(
            Member.id == enrollment.member_id))


def ledger_rows(kind=None) -> int:
    with tenancy.everything():
        stmt = select(func.count()).select_from(LedgerEntry)
        if kind:
            stmt = stmt.where(LedgerEntry.kind == kind)
        return db.session.scalar(stmt)


def payment(enrollment, **overrides) -> dict:
    data = {"enrollment_id": str(enrollment.id), "method": "cash", "amount": str(C),
            "received_on": local_today().isoformat(), "reference": "",
            "submission_key": "kunci-1"}
    data.update(overrides)
    return data


def errors(html: str) -> dict[str, str]:
    return {name: unescape(text) for name, text in FIELD_ERROR.findall(html)}


def test_the_member_page_offers_the_amount_due_and_today(admin, enrollment):
    html = admin.get(f"{BASE}/peserta/{number_of(enrollment)}").get_data(as_text=True)
    assert "Pending payment" in html and "Record a contribution" in html
    assert re.search(rf'<input[^>]*name="amount"[^>]*value="{C}"', html)
    assert f'value="{local_today().isoformat()}"' in html
    assert 'name="submission_key"' in html


def test_recording_cash_leads_to_the_receipt_and_the_member_is_active(admin, enrollment):
    number = number_of(enrollment)
    response = admin.post(f"{BASE}/peserta/{number}/iuran", data=payment(enrollment))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "/kuitansi/KW-" in response.location
    receipt = admin.get(response.location).get_data(as_text=True)
    assert "Rp150.000" in receipt and "Seratus lima puluh ribu rupiah" in receipt
    assert "Mitra Iuran Parepare" in receipt and number in receipt
    assert "Pays for cover period 1" in receipt
    page = admin.get(f"{BASE}/peserta/{number}").get_data(as_text=True)
    assert 'data-status="active"' in page
    pdf = admin.get(response.location + "/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")


def test_a_double_click_records_the_money_once(admin, enrollment):
    url = f"{BASE}/peserta/{number_of(enrollment)}/iuran"
    first = admin.post(url, data=payment(enrollment))
    second = admin.post(url, data=payment(enrollment))
    assert first.status_code == second.status_code == 302
    assert first.location == second.location
    assert ledger_rows(EntryKind.PAYMENT) == 1


@pytest.mark.parametrize("changes, field", [
    ({"amount": "0"}, "amount"),
    ({"amount": "-5000"}, "amount"),
    ({"amount": "150.000"}, "amount"),
    ({"amount": str(10 * C + 1)}, "amount"),
    ({"received_on": "2999-01-01"}, "received_on"),
    ({"method": "bank_transfer"}, "reference"),
])
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_recorded(
        admin, enrollment, changes, field):
    response = admin.post(f"{BASE}/peserta/{number_of(enrollment)}/iuran",
                          data=payment(enrollment, **changes))
    assert response.status_code == 422
    assert field in errors(response.get_data(as_text=True))
    assert ledger_rows() == 0


def test_a_reversal_needs_a_reason_and_the_partner_admin(client, admin, make, partner, enrollment):
    number = number_of(enrollment)
    admin.post(f"{BASE}/peserta/{number}/iuran", data=payment(enrollment))
    with tenancy.everything():
        entry_id = db.session.scalar(select(LedgerEntry.id).where(
            LedgerEntry.kind == EntryKind.PAYMENT))
    url = f"{BASE}/iuran/{entry_id}/batal"
    refused = admin.post(url, data={"reason": " ", "submission_key": "b-1"})
    assert refused.status_code == 422 and "reason" in errors(refused.get_data(as_text=True))
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    client.post("/logout")
    login(client, officer.email)
    assert client.post(url, data={"reason": "Salah catat", "submission_key": "b-2"}
                       ).status_code == 403
    client.post("/logout")
    login(client, ADMIN)
    response = client.post(url, data={"reason": "Salah catat", "submission_key": "b-3"})
    assert response.status_code == 302
    page = client.get(f"{BASE}/peserta/{number}").get_data(as_text=True)
    assert 'data-status="pending_payment"' in page and "Salah catat" in page
    assert ledger_rows(EntryKind.REVERSAL) == 2  # the payment's and its premium's


def test_savings_are_paid_out_up_to_the_free_balance(admin, enrollment):
    number = number_of(enrollment)
    admin.post(f"{BASE}/peserta/{number}/iuran", data=payment(enrollment, amount="200000"))
    url = f"{BASE}/peserta/{number}/tarik-tabungan"
    data = {"enrollment_id": str(enrollment.id), "method": "cash",
            "received_on": local_today().isoformat(), "submission_key": "t-1"}
    too_much = admin.post(url, data={**data, "amount": "60000"})
    assert too_much.status_code == 422
    assert "Rp50.000" in errors(too_much.get_data(as_text=True))["amount"]
    assert admin.post(url, data={**data, "amount": "50000"}).status_code == 302
    assert ledger_rows(EntryKind.WITHDRAWAL) == 1


def test_the_member_list_shows_and_filters_todays_status(admin, make, partner, enrollment):
    paid = number_of(enrollment)
    admin.post(f"{BASE}/peserta/{paid}/iuran", data=payment(enrollment))
    unpaid = number_of(make.enrollment(partner))
    html = admin.get(f"{BASE}/peserta").get_data(as_text=True)
    assert 'data-status="active"' in html and 'data-status="pending_payment"' in html
    active = admin.get(f"{BASE}/peserta?status=active").get_data(as_text=True)
    assert paid in active and unpaid not in active
    pending = admin.get(f"{BASE}/peserta?status=pending_payment").get_data(as_text=True)
    assert unpaid in pending and paid not in pending


def test_another_partners_receipt_is_not_found(admin, make):
    other = make.partner()
    enrollment = make.enrollment(other)
    from bungkesmas.contributions import services as ledger

    number = ledger.record_payment(None, enrollment, "cash", C, local_today()).receipt_number
    db.session.commit()
    assert admin.get(f"{BASE}/kuitansi/{number}").status_code == 404
    assert admin.get(f"{BASE}/kuitansi/{number}/pdf").status_code == 404
