"""A waste deposit at Bank Sampah Labukkang in a real browser (the demo data): a weight
with three decimals is refused next to its line, the corrected deposit is valued with
the price list, credited to the member, and shows on the receipt and the member page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bungkesmas import demo, tenancy
from bungkesmas.extensions import db
from bungkesmas.members.models import Member

pytestmark = pytest.mark.browser

SLUG = "bank-sampah-labukkang"


def test_record_a_waste_deposit_and_see_the_receipt_and_the_balance(live_app, live_server, page):
    base = live_server
    with live_app.app_context():
        assert demo.load()
        with tenancy.everything():
            member = db.session.scalar(select(Member).where(Member.full_name == "Rusdi"))
            number = member.member_number
            balance_before = member.enrollments[0].balance

    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"JS error: {err}"))
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))

    page.goto(f"{base}/login")
    page.fill("#email", "admin@labukkang.demo")
    page.fill("#password", demo.DEMO_PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{base}/p/{SLUG}/")

    # The navigation leads to the waste bank; from there to a new deposit.
    page.click(f"header nav a[href='/p/{SLUG}/bank-sampah/setoran']")
    page.wait_for_url(f"{base}/p/{SLUG}/bank-sampah/setoran")
    page.click(f"main a[href='/p/{SLUG}/bank-sampah/setoran/baru']")
    page.wait_for_url(f"{base}/p/{SLUG}/bank-sampah/setoran/baru")
    assert page.locator("fieldset.deposit-line").count() == 5
    assert "dibulatkan" in page.inner_text("#deposit-form")   # the rounding rule, in Indonesian

    page.fill("#member_number", number)
    page.select_option("#lines-0-category_id", label="Botol plastik PET")
    page.fill("#lines-0-weight_kg", "2,5")
    page.select_option("#lines-1-category_id", label="Kardus")
    page.fill("#lines-1-weight_kg", "4,125")   # three decimals: refused
    page.click("#deposit-form button[type=submit]:not([name])")

    page.wait_for_selector("#lines-1-weight_kg-error")
    assert "2 desimal" in page.inner_text("#lines-1-weight_kg-error")
    assert page.locator(".field.has-error").count() == 1
    assert page.input_value("#lines-0-weight_kg") == "2,5"   # what was typed is kept

    page.fill("#lines-1-weight_kg", "4,12")
    page.click("#deposit-form button[type=submit]:not([name])")
    page.wait_for_url(re.compile(rf"{base}/p/{SLUG}/bank-sampah/setoran/[0-9a-f-]{{36}}$"))
    # 2,5 kg × Rp2.800 = Rp7.000; 4,12 kg × Rp1.500 = Rp6.180.
    assert page.inner_text("#deposit-total") == "Rp13.180"
    assert "Rp7.000" in page.inner_text("#deposit-lines")
    assert "Rp6.180" in page.inner_text("#deposit-lines")
    deposit_number = re.search(r"BS-\d{4}-\d{4}-\d{6}", page.inner_text("h1")).group(0)

    page.click("#receipt-link")
    page.wait_for_url(re.compile(rf"{base}/p/{SLUG}/kuitansi/KW-"))
    receipt = page.inner_text("main")
    assert "Rp13.180" in receipt
    assert "Tiga belas ribu seratus delapan puluh rupiah" in receipt
    assert deposit_number in receipt   # the reference: the deposit it pays with

    page.goto(f"{base}/p/{SLUG}/peserta/{number}")
    expected = f"Rp{balance_before + 13_180:,}".replace(",", ".")
    assert page.inner_text("#iuran .balance") == expected
    assert not problems, problems
