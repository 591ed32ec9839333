"""A member checks their status in a real browser, with JavaScript off as on the
cheapest phones: an active, a lapsed and an unknown member at /cek; then the QR code's
address (/cek/<token>) shows the status without typing, until the card is revoked."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.helpers import Factory, sign_in

pytestmark = pytest.mark.browser

BORN = date(1985, 3, 14)


@pytest.fixture
def members(live_app):
    """An active and a lapsed member of one partner; their numbers, NIK and card token."""
    from sqlalchemy import select

    from bungkesmas import tenancy
    from bungkesmas.contributions import services as ledger
    from bungkesmas.extensions import db
    from bungkesmas.members.models import Member
    from bungkesmas.selfservice.services import card_token
    from bungkesmas.timeutil import local_today

    with live_app.app_context():
        make = Factory()
        partner = make.partner(slug="mitra-cek-browser", name="Yayasan Cek Peramban")
        product = make.product(partner, code="CEKB", waiting_days=0)
        out = {}
        for name, enrolled_on in (("active", local_today() - timedelta(days=20)),
                                  ("lapsed", local_today() - timedelta(days=800))):
            data = make.member_data(birth_date=BORN)
            from bungkesmas.members import services as members

            with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
                number = members.register(None, partner, data).member_number
            db.session.commit()
            enrollment = make.enrollment(partner, product, member_number=number,
                                         enrolled_on=enrolled_on)
            ledger.record_payment(None, enrollment, "cash", 150_000, enrolled_on)
            db.session.commit()
            with tenancy.everything():
                member = db.session.scalar(select(Member).where(Member.member_number == number))
                out[name] = {"number": number, "nik": data["nik"], "token": card_token(member)}
        db.session.remove()
    return out


@pytest.fixture
def phone(browser):
    """A small screen with JavaScript switched off."""
    context = browser.new_context(locale="id-ID", java_script_enabled=False,
                                  viewport={"width": 360, "height": 640})
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))
    try:
        yield page
    finally:
        context.close()
    assert not problems, problems


def check(page, base: str, identifier: str, born: date) -> None:
    page.goto(f"{base}/cek")
    page.fill("#identifier", identifier)
    page.fill("#birth_date", born.isoformat())
    page.click("form.card button[type=submit]")
    page.wait_for_load_state()


def test_active_lapsed_and_unknown_members_check_their_status(live_server, members, phone):
    base = live_server

    check(phone, base, members["active"]["number"], BORN)
    assert phone.url == f"{base}/cek"  # answered in reply to the POST: nothing in the URL
    answer = phone.inner_text("#jawaban")
    assert phone.inner_text("#jawaban .status-text").startswith("Aktif sampai ")
    assert "Yayasan Cek Peramban" in answer and "Bungkesmas" in answer
    assert "Pembayaran terakhir" in answer and "Rp150.000" in answer
    assert members["active"]["number"] not in phone.content()

    check(phone, base, members["lapsed"]["nik"], BORN)
    assert phone.inner_text("#jawaban .status-text") == "Tidak aktif"
    assert members["lapsed"]["nik"] not in phone.content()

    check(phone, base, members["active"]["number"], BORN + timedelta(days=1))
    assert phone.locator("#jawaban").count() == 0
    assert "Tidak ada peserta" in phone.inner_text("#tidak-ditemukan")


def test_the_card_qr_address_shows_the_status_until_the_card_is_revoked(
        live_app, live_server, members, phone):
    base = live_server
    token = members["active"]["token"]
    phone.goto(f"{base}/cek/{token}")
    assert phone.inner_text("#jawaban .status-text").startswith("Aktif sampai ")
    assert phone.locator("#identifier").count() == 0  # nothing to type

    from sqlalchemy import select

    from bungkesmas import tenancy
    from bungkesmas.extensions import db
    from bungkesmas.members.models import Member
    from bungkesmas.partners.models import Partner
    from bungkesmas.selfservice.services import revoke_cards

    with live_app.app_context():
        with tenancy.everything():
            member = db.session.scalar(select(Member).where(
                Member.member_number == members["active"]["number"]))
            partner = db.session.get(Partner, member.tenant_id)
            revoke_cards(None, partner, member)
            db.session.commit()
        db.session.remove()
    response = phone.goto(f"{base}/cek/{token}")
    assert response.status == 404
    assert phone.inner_text("h1") == "Kartu tidak berlaku lagi"


def test_the_admin_cancels_the_enrollment_and_the_member_sees_it(
        live_app, live_server, members, page):
    """On the member page (the form opens in place), an empty reason is refused next to
    the field; with a reason the enrollment is cancelled: the status check says so and
    the member's card (its last open enrollment) stops working."""
    base, number = live_server, members["active"]["number"]
    from sqlalchemy import select

    from bungkesmas import tenancy
    from bungkesmas.extensions import db
    from bungkesmas.partners.models import Partner

    with live_app.app_context():
        with tenancy.everything():  # the partner's admin signed up with its contact address
            admin = db.session.scalar(select(Partner.contact_email).where(
                Partner.slug == "mitra-cek-browser"))
        db.session.remove()
    problems: list[str] = []
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))
    sign_in(page, base, admin, "/p/mitra-cek-browser/")

    asked: list[str] = []  # the page asks before an irreversible action (app.js)
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.goto(f"{base}/p/mitra-cek-browser/peserta/{number}")
    page.click("details.cancel-enrollment summary")
    page.click("details.cancel-enrollment button[type=submit]")
    page.wait_for_url("**/batal")  # the page again, answered to the POST (422)
    error = page.locator("details.cancel-enrollment[open] p.error")
    assert "wajib diisi" in error.inner_text()

    page.fill("details.cancel-enrollment textarea", "Pindah ke luar daerah")
    page.click("details.cancel-enrollment button[type=submit]")
    page.wait_for_url(f"{base}/p/mitra-cek-browser/peserta/{number}")
    assert "Kepesertaan telah dibatalkan." in page.inner_text("main")
    assert asked == ["Batalkan kepesertaan ini?"] * 2
    assert page.locator("details.cancel-enrollment").count() == 0  # nothing left to cancel

    check(page, base, number, BORN)
    assert page.inner_text("#jawaban .status-text") == "Kepesertaan dibatalkan"
    response = page.goto(f"{base}/cek/{members['active']['token']}")
    assert response.status == 404
    assert not problems, problems
