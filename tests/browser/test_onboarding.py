"""The onboarding journey in a real browser: apply → approve → accept → invite staff."""

from __future__ import annotations

import re

import pytest

from tests.helpers import Factory, sign_in

pytestmark = pytest.mark.browser

PARTNER_PASSWORD = "sandi-mitra-baru-2024"
# Form e-mail validation refuses special-use domains such as .test; example.org is reserved
# for documentation (RFC 2606) and accepted.


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_apply_approve_accept_invite(live_app, live_server, page):
    base = live_server
    with live_app.app_context():
        admin_email = Factory().provider().email

    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"JS error: {err}"))
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))
    page.on("dialog", lambda d: d.accept())

    # 1. A new partner applies.
    org_name = "Yayasan Sehat Parepare"
    contact_email = "ketua@sehat-parepare.example.org"
    page.goto(f"{base}/daftar-mitra")
    page.fill("#name", org_name)
    page.select_option("#org_type", "ngo")
    page.select_option("#province_code", "73")
    page.select_option("#regency_code", "7372")
    page.fill("#address", "Jl. Bau Massepe No. 12, Parepare")
    page.fill("#contact_name", "Andi Rahmawati")
    page.fill("#contact_phone", "0812 3456 7890")
    page.fill("#contact_email", contact_email)
    page.fill("#expected_members", "250")
    page.fill("#expected_groups", "12")
    assert page.input_value("#referrer_id") == ""
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{base}/daftar-mitra/terima-kasih")
    assert page.locator("h1").count() == 1

    # 2. The provider admin signs in and opens the application.
    sign_in(page, base, admin_email, "/admin/partners")
    page.click(f"table.list a:text-is('{org_name}')")
    page.wait_for_url(re.compile(r"/admin/partners/\d+$"))
    partner_url = page.url
    contact = page.locator("dd", has_text=contact_email)
    assert "+6281234567890" in contact.inner_text()

    # 3. Approve, with the suggested workspace address.
    slug = page.input_value("#slug")
    assert slug.startswith("yayasan-sehat-parepare")
    page.click("button[name=do][value=approve]")
    page.wait_for_url(partner_url)
    assert page.locator("#slug").count() == 0  # approved: no approve form any more
    assert page.locator("dd", has_text=f"/p/{slug}/").count() == 1

    # 4. The invitation link, from the outbox.
    page.goto(f"{base}/admin/outbox")
    message = page.locator("article", has_text=contact_email).first
    match = re.search(r"https?://\S+/undangan/\S+", message.locator("pre").inner_text())
    assert match, message.inner_text()
    invitation_path = _path(match.group(0))

    # 5. The admin signs out with the button in the header.
    page.click("header form[action='/logout'] button[type=submit]")
    page.wait_for_url(f"{base}/login")
    assert page.locator("header form[action='/logout']").count() == 0

    # 6. The partner admin accepts the invitation and lands in the workspace.
    page.goto(f"{base}{invitation_path}")
    page.fill("#name", "Andi Rahmawati")
    page.fill("#password", PARTNER_PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{base}/p/{slug}/")
    assert page.locator("h1").inner_text() == org_name

    # 7. The team page: invite an officer, see the open invitation.
    page.click(f"header nav a[href='/p/{slug}/staf']")
    page.wait_for_url(f"{base}/p/{slug}/staf")
    page.fill("#name", "Budi Santoso")
    page.fill("#email", "budi.kader@sehat-parepare.example.org")
    page.select_option("#role", "partner_officer")
    page.click(f"form[action='/p/{slug}/staf/undang'] button[type=submit]")
    page.wait_for_url(f"{base}/p/{slug}/staf")
    invitation = page.locator("main li", has_text="budi.kader@sehat-parepare.example.org")
    assert invitation.count() == 1
    assert "Budi Santoso" in invitation.inner_text()

    assert problems == []
