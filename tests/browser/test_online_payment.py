"""Paying a contribution online in a real browser: the member opens the pay link, presses
"Bayar", pays on the (fake) Stripe checkout page, comes back to our success page; once
the signed webhook is delivered the page shows the receipt and the payment is on the
member page of the partner."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests.helpers import Factory, sign_in
from tests.payments.fake_stripe import FakeStripe, sign

pytestmark = pytest.mark.browser

SLUG = "mitra-bayar-browser"
ADMIN = "admin-bayar-browser@contoh.id"


@pytest.fixture
def fake_stripe():
    fake = FakeStripe().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def online_live_app(live_app, fake_stripe):
    from tests.payments.conftest import online_config

    live_app.config.update(online_config(fake_stripe))
    return live_app


def _deliver(base: str, event: dict) -> int:
    body = json.dumps(event)
    request = urllib.request.Request(  # noqa: S310 - the local test server
        f"{base}/webhooks/stripe", data=body.encode(), method="POST",
        headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local server
        return response.status


def test_pay_button_to_faked_checkout_and_back_then_the_payment_is_on_the_member_page(
        online_live_app, live_server, fake_stripe, page):
    base = live_server
    with online_live_app.app_context():
        make = Factory()
        partner = make.partner(slug=SLUG, admin_email=ADMIN, name="Mitra Bayar Browser")
        enrollment = make.enrollment(partner, waiting_days=0)
        from sqlalchemy import select

        from bungkesmas import tenancy
        from bungkesmas.extensions import db
        from bungkesmas.members.models import Member
        from bungkesmas.payments.services import pay_token

        with tenancy.everything():
            number = db.session.scalar(select(Member.member_number).where(
                Member.id == enrollment.member_id))
            token = pay_token(enrollment)
        db.session.remove()

    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"JS error: {err}"))
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))

    pay_url = f"{base}/bayar/{token}"
    page.goto(pay_url)
    assert "Rp150.000" in page.inner_text(".amount-due")
    assert page.inner_text("#pay-button") == "Bayar Rp150.000"
    page.click("#pay-button")

    # Stripe's (faked) hosted checkout page, then back to ours.
    page.wait_for_url(re.compile(re.escape(fake_stripe.url) + r"/c/pay/cs_test_\w+$"))
    assert page.inner_text("#amount") == "IDR 150,000"
    session_id = page.url.rsplit("/", 1)[1]
    page.click("#fake-pay")
    page.wait_for_url(f"{pay_url}/selesai?session_id={session_id}")
    assert page.get_attribute("#pay-result", "data-status") == "pending"
    assert "sedang dikonfirmasi" in page.inner_text("#pay-result")

    # Stripe delivers the signed event; the page (which refreshes itself) shows the receipt.
    assert _deliver(base, fake_stripe.session_event(session_id)) == 200
    page.reload()
    assert page.get_attribute("#pay-result", "data-status") == "succeeded"
    result = page.inner_text("#pay-result")
    assert re.search(r"Rp150\.000 sudah dicatat: kuitansi KW-\d{4}-\d{4}-\d{6}", result), result

    # The partner sees it on the member page: the ledger row and the online payment.
    sign_in(page, base, ADMIN, f"/p/{SLUG}/")
    page.goto(f"{base}/p/{SLUG}/peserta/{number}")
    assert page.inner_text("#iuran .account h3 .badge") == "Aktif"
    ledger = page.inner_text("#iuran table.ledger")
    assert "Pembayaran online" in ledger and "Rp150.000" in ledger
    online = page.locator('#pembayaran-online tr[data-status="succeeded"]')
    assert online.count() == 1 and "dibayar" in online.inner_text()
    assert problems == []
