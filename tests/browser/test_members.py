"""Registering a member in a real browser: a wrong NIK is shown next to its field, the
corrected form saves, and the member page shows the NIK masked."""

from __future__ import annotations

import re

import pytest

from tests.helpers import Factory, sign_in

pytestmark = pytest.mark.browser

SLUG = "ylp2em-browser"
ADMIN = "admin@ylp2em-browser.example.org"


def test_register_a_member_after_correcting_the_nik(live_app, live_server, page):
    base = live_server
    with live_app.app_context():
        make = Factory()
        make.partner(slug=SLUG, admin_email=ADMIN)
        nik = make.nik()  # a man's NIK for 14-03-1985; a woman's birth day counts +40
        nik = nik[:6] + "54" + nik[8:]
    masked = nik[:6] + "******" + nik[-4:]

    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"JS error: {err}"))
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))

    sign_in(page, base, ADMIN, f"/p/{SLUG}/")

    # The workspace navigation leads to the member list and its registration form.
    page.click(f"header nav a[href='/p/{SLUG}/peserta']")
    page.wait_for_url(f"{base}/p/{SLUG}/peserta")
    page.click(f"main a[href='/p/{SLUG}/peserta/baru']")
    page.wait_for_url(f"{base}/p/{SLUG}/peserta/baru")

    # The partner's province and city are chosen already; the pickers cascade.
    assert page.input_value("#province_code") == "73"
    assert page.input_value("#regency_code") == "7372"
    page.select_option("#district_code", "737202")
    page.wait_for_selector("select#village_code option[value='7372021001']", state="attached")
    page.select_option("#village_code", "7372021001")

    page.fill("#full_name", "Sitti Aminah")
    page.fill("#nik", nik[:-1])  # one digit short
    page.fill("#birth_date", "1985-03-14")
    page.select_option("#sex", "P")
    page.fill("#phone", "0812 4200 7788")
    page.fill("#address", "Jl. Bau Massepe No. 12")
    page.fill("#beneficiary_name", "Abdul Haris")
    page.fill("#beneficiary_relation", "suami")
    page.check("#consent")
    page.click("form.card button[type=submit]")

    # Refused: the message is next to the NIK field, and what was typed is kept.
    page.wait_for_selector("#nik-error")
    assert re.search(r"16", page.inner_text("#nik-error"))
    assert page.locator(".field.has-error").count() == 1
    assert page.input_value("#full_name") == "Sitti Aminah"
    page.wait_for_selector("select#village_code option[value='7372021001']", state="attached")
    assert page.input_value("#village_code") == "7372021001"

    page.fill("#nik", nik)
    page.check("#consent")
    page.click("form.card button[type=submit]")
    page.wait_for_url(re.compile(rf"/p/{SLUG}/peserta/\d{{4}}-\d{{6}}-\d$"))
    number = page.url.rsplit("/", 1)[1]
    assert number in page.inner_text("main p.flash")
    assert page.inner_text("h1") == "Sitti Aminah"
    assert page.inner_text("code.nik") == masked
    assert nik not in page.content()
    assert "Labukkang" in page.inner_text("main")

    # The export streams from a real server (where the request's own context has ended
    # before the body is sent), scoped to this workspace and with the NIK masked.
    csv_text = page.request.get(f"{base}/p/{SLUG}/peserta/ekspor.csv").text()
    assert csv_text.lstrip("\ufeff").startswith("No. Peserta,")
    assert f"{number},Sitti Aminah,{masked}," in csv_text and nik not in csv_text
    xlsx = page.request.get(f"{base}/p/{SLUG}/peserta/ekspor.xlsx")
    assert xlsx.ok and xlsx.body()[:2] == b"PK"

    assert problems == []
