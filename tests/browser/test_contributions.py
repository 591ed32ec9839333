"""Recording a contribution in a real browser: a cash payment → its receipt → the member
is active; reversing it → the member is back to pending payment.

The product used here has no waiting period (0 days), so a payment received today makes
the member active at once; the demo product's 30 days' waiting is covered by the domain
tests."""

from __future__ import annotations

import re

import pytest

from tests.helpers import Factory, sign_in

pytestmark = pytest.mark.browser

SLUG = "mitra-iuran-browser"
ADMIN = "admin-iuran-browser@contoh.id"


def test_cash_payment_receipt_active_then_reversed_back_to_pending(live_app, live_server, page):
    base = live_server
    with live_app.app_context():
        make = Factory()
        partner = make.partner(slug=SLUG, admin_email=ADMIN, name="Bank Sampah Uji Iuran")
        enrollment = make.enrollment(partner, waiting_days=0)
        from sqlalchemy import select

        from bungkesmas import tenancy
        from bungkesmas.extensions import db
        from bungkesmas.members.models import Member

        with tenancy.everything():
            number = db.session.scalar(select(Member.member_number).where(
                Member.id == enrollment.member_id))
        db.session.remove()

    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"JS error: {err}"))
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))

    sign_in(page, base, ADMIN, f"/p/{SLUG}/")

    member_url = f"{base}/p/{SLUG}/peserta/{number}"
    page.goto(member_url)
    status = "#iuran .account h3 .badge"
    assert page.inner_text(status) == "Menunggu pembayaran"
    # The amount due and today's date are filled in; cash is the first method.
    assert page.input_value("form.payment #amount") == "150000"
    assert page.input_value("form.payment #method") == "cash"
    page.click("form.payment button[type=submit]")

    page.wait_for_url(re.compile(rf"/p/{SLUG}/kuitansi/KW-\d{{4}}-\d{{4}}-\d{{6}}$"))
    receipt = page.inner_text("main")
    assert "Rp150.000" in receipt and "Seratus lima puluh ribu rupiah" in receipt
    assert "Bank Sampah Uji Iuran" in receipt and number in receipt
    pdf = page.request.get(page.url + "/pdf")
    assert pdf.ok and pdf.body()[:4] == b"%PDF"

    page.click(f"main a[href='/p/{SLUG}/peserta/{number}']")
    page.wait_for_url(member_url)
    assert page.inner_text(status) == "Aktif"
    assert page.inner_text("#iuran .covered-until") != "—"

    # Reverse the payment: a reason is required, and the page asks for confirmation.
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#iuran table.ledger tr.payment details summary")
    page.fill("#iuran form.reverse input[name=reason]", "Salah catat: uang belum diterima")
    page.click("#iuran form.reverse button[type=submit]")
    page.wait_for_selector("main p.flash")
    assert page.url == member_url
    assert page.inner_text(status) == "Menunggu pembayaran"
    assert "Salah catat: uang belum diterima" in page.inner_text("#iuran")

    assert problems == []
