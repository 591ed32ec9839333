"""Online payment through Stripe Checkout, offline: the official library talks to a local
fake Stripe (tests/payments/fake_stripe.py); webhook events are in Stripe's shape and
signed here with the test secret."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.contributions.models import EntryKind, EntryMethod, LedgerEntry
from bungkesmas.extensions import db
from bungkesmas.members.models import Member
from bungkesmas.partners.models import Partner, PartnerStatus
from bungkesmas.payments import services
from bungkesmas.payments.models import OnlinePayment, PaymentStatus, StripeEvent
from bungkesmas.timeutil import local_today
from tests.helpers import login
from tests.payments.fake_stripe import event, sign

C = 150_000
ADMIN = "admin-online@contoh.id"


@pytest.fixture
def world(make):
    partner = make.partner(admin_email=ADMIN, slug="mitra-online", name="Mitra Bayar Online")
    enrollment = make.enrollment(partner, enrolled_on=local_today() - timedelta(days=10),
                                 waiting_days=0)
    with tenancy.everything():
        member = db.session.get(Member, (partner.id, enrollment.member_id))
        number, name, enrollment_id = member.member_number, member.full_name, enrollment.id
    db.session.commit()
    tenancy.activate(tenancy.Scope.nobody())
    return {"partner": partner, "enrollment_id": enrollment_id, "number": number,
            "name": name, "make": make}


def _enrollment(world):
    from bungkesmas.members.models import Enrollment

    with tenancy.everything():
        return db.session.get(Enrollment, (world["partner"].id, world["enrollment_id"]))


def link_path(world) -> str:
    with tenancy.everything():
        url = services.pay_link_for(_enrollment(world))
    return urlsplit(url).path


def start_checkout(client, world) -> tuple[str, str]:
    """Press "Bayar" on the member's pay link; return (pay path, checkout session id)."""
    path = link_path(world)
    response = client.post(path)
    assert response.status_code == 303, response.get_data(as_text=True)
    session_id = response.headers["Location"].rsplit("/", 1)[1]
    return path, session_id


def payments() -> list[OnlinePayment]:
    with tenancy.everything():
        return list(db.session.scalars(select(OnlinePayment).order_by(OnlinePayment.created_at)))


def online_rows() -> list[LedgerEntry]:
    with tenancy.everything():
        return list(db.session.scalars(select(LedgerEntry).where(
            LedgerEntry.method == EntryMethod.ONLINE).order_by(LedgerEntry.recorded_at)))


def event_count() -> int:
    return db.session.scalar(select(func.count()).select_from(StripeEvent))


# --- switched off ---------------------------------------------------------------------------


def test_without_keys_online_payment_is_hidden_and_its_pages_say_it_is_not_available(
        app, client, world):
    with tenancy.everything():
        assert services.online_enabled() is False
        assert services.pay_link_for(_enrollment(world)) is None
    page = client.get("/bayar/anything-at-all-0123456789-0123456789-0123456789")
    assert page.status_code == 404 and 'id="online-unavailable"' in page.get_data(as_text=True)
    # Nothing verifies without a webhook secret.
    body = json.dumps(event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert client.post("/webhooks/stripe", data=body,
                       headers={"Stripe-Signature": sign(body)}).status_code == 400
    login(client, ADMIN)
    member_page = client.get(f"/p/mitra-online/peserta/{world['number']}").get_data(as_text=True)
    assert 'id="pay-link"' not in member_page
    link_page = client.get(f"/p/mitra-online/peserta/{world['number']}/tautan-bayar")
    assert link_page.status_code == 200 and "online-unavailable" in link_page.get_data(
        as_text=True)


def test_production_refuses_a_stripe_key_without_the_webhook_secret():
    from config import Config
    from tests.conftest import PRODUCTION_SECRETS

    with pytest.raises(RuntimeError, match="WEBHOOK_SECRET"):
        Config.validate({**PRODUCTION_SECRETS, "STRIPE_SECRET_KEY": "sk_live_x"})


# --- amounts and links ----------------------------------------------------------------------


def test_idr_goes_to_stripe_as_a_two_decimal_currency():
    assert services.to_stripe_amount(150_000) == 150_000_00
    assert services.from_stripe_amount(150_000_00) == 150_000
    assert services.from_stripe_amount(150_000_50) is None  # not whole rupiah
    assert services.from_stripe_amount(0) is None and services.from_stripe_amount("1") is None


def test_a_pay_link_names_no_id_in_clear_cannot_be_altered_and_expires(app, online, world):
    enrollment = _enrollment(world)
    token = link_path(world).rsplit("/", 1)[1]
    assert services.read_pay_token(token) == (world["partner"].id, enrollment.id)
    for clear in (str(enrollment.id), enrollment.id.hex, world["number"]):
        assert clear not in token
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    assert services.read_pay_token(tampered) is None
    assert services.read_pay_token("x" * 50) is None and services.read_pay_token(None) is None
    import struct

    old = services._fernet().encrypt_at_time(
        struct.pack(">I", enrollment.tenant_id) + enrollment.id.bytes,
        int(time.time()) - 15 * 86400).decode().rstrip("=")
    assert services.read_pay_token(old) is None  # older than PAY_LINK_DAYS (14)
    app.config["PAY_LINK_DAYS"] = 30
    assert services.read_pay_token(old) is not None


def test_the_pay_page_shows_first_name_masked_number_product_and_amount_due(
        app, client, online, world):
    body = client.get(link_path(world)).get_data(as_text=True)
    assert world["name"].split(" ")[0] in body and world["name"] not in body
    assert world["number"] not in body and world["number"][-4:] in body
    assert "Rp150.000" in body and 'id="pay-button"' in body
    assert "Mitra Bayar Online" in body
    # The members' own layout: no staff navigation, not even the sign-in link.
    assert "/login" not in body and "<nav>" in body and 'aria-current="true">ID<' in body


def test_an_invalid_link_answers_a_clear_page_not_an_error(app, client, online):
    response = client.get("/bayar/" + "A" * 120)
    assert response.status_code == 404 and 'id="link-invalid"' in response.get_data(as_text=True)
    assert client.post("/bayar/" + "A" * 120).status_code == 404


# --- checkout -------------------------------------------------------------------------------


def test_pay_creates_our_record_first_then_an_idr_checkout_session_keyed_by_it(
        app, client, online, world):
    _, session_id = start_checkout(client, world)
    [payment] = payments()
    assert payment.status == PaymentStatus.PENDING and payment.amount == C
    assert payment.stripe_session_id == session_id
    [create] = [r for r in online.requests if r["method"] == "POST"]
    assert create["headers"]["Idempotency-Key"] == f"bungkesmas-checkout-{payment.id}"
    params = dict(parse_qsl(create["body"]))
    assert params["line_items[0][price_data][currency]"] == "idr"
    assert params["line_items[0][price_data][unit_amount]"] == "15000000"
    assert params["mode"] == "payment"
    assert params["metadata[payment_id]"] == str(payment.id)
    assert params["metadata[enrollment_id]"] == str(world["enrollment_id"])
    assert params["metadata[member_number]"] == world["number"]
    assert params["success_url"].endswith("/selesai?session_id={CHECKOUT_SESSION_ID}")
    assert "/batal" in params["cancel_url"]
    with tenancy.everything():
        actions = [e.action for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.entity_id == str(payment.id)).order_by(AuditEvent.id))]
    assert actions == ["online_payment.created", "online_payment.pending"]


def test_pressing_pay_again_returns_to_the_open_session(app, client, online, world):
    _, first = start_checkout(client, world)
    _, second = start_checkout(client, world)
    assert first == second and len(payments()) == 1


def test_when_stripe_refuses_the_payment_is_failed_and_the_member_told(
        app, client, online, world):
    online.fail_next = 1
    response = client.post(link_path(world))
    assert response.status_code == 503
    assert "Pembayaran online sedang tidak tersedia" in response.get_data(as_text=True)
    [payment] = payments()
    assert payment.status == PaymentStatus.FAILED and "not created" in payment.problem


def test_the_success_and_cancel_pages(app, client, online, world, deliver):
    path, session_id = start_checkout(client, world)
    waiting = client.get(f"{path}/selesai?session_id={session_id}").get_data(as_text=True)
    assert 'data-status="pending"' in waiting and 'http-equiv="refresh"' in waiting
    online.complete(session_id)
    assert deliver(online.session_event(session_id)).status_code == 200
    done = client.get(f"{path}/selesai?session_id={session_id}").get_data(as_text=True)
    assert 'data-status="succeeded"' in done and "KW-" in done
    assert 'id="pay-again"' in client.get(f"{path}/batal").get_data(as_text=True)
    other = client.get(f"{path}/selesai?session_id=cs_test_other").get_data(as_text=True)
    assert 'data-status="unknown"' in other
    for page in (waiting, done, other):  # the members' own layout
        assert "/login" not in page


# --- webhook: recording ---------------------------------------------------------------------


def test_a_completed_checkout_records_the_contribution_with_a_receipt(
        app, client, online, world, deliver):
    _, session_id = start_checkout(client, world)
    session = online.complete(session_id)
    response = deliver(online.session_event(session_id))
    assert response.status_code == 200 and response.json["outcome"] == "recorded"
    [row] = online_rows()
    assert (row.kind, row.amount, row.external_reference) == (
        EntryKind.PAYMENT, C, session["payment_intent"])
    assert row.receipt_number.startswith("KW-") and row.recorded_by_id is None
    [payment] = payments()
    assert payment.status == PaymentStatus.SUCCEEDED and payment.ledger_entry_id == row.id
    assert payment.stripe_payment_intent_id == session["payment_intent"]
    assert _enrollment(world).covered_until is not None
    with tenancy.everything():
        audit = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "online_payment.succeeded"))
    assert audit.actor_label == "stripe" and audit.partner_id == world["partner"].id
    assert audit.before["status"] == "pending"


def test_a_delayed_method_is_recorded_when_it_succeeds_and_not_when_it_fails(
        app, client, online, world, deliver):
    _, first = start_checkout(client, world)
    online.complete(first, paid=False)
    assert deliver(online.session_event(first)).json["outcome"] == "awaiting payment"
    assert online_rows() == []
    assert deliver(online.session_event(
        first, "checkout.session.async_payment_succeeded")).json["outcome"] == "recorded"
    assert len(online_rows()) == 1
    # A second attempt whose delayed payment fails records nothing.
    world2 = {**world, "enrollment_id": world["make"].enrollment(
        world["partner"], enrolled_on=local_today() - timedelta(days=3)).id}
    db.session.commit()
    _, second = start_checkout(client, world2)
    online.complete(second, paid=False)
    deliver(online.session_event(second))
    response = deliver(online.session_event(second, "checkout.session.async_payment_failed"))
    assert response.json["outcome"] == "failed" and len(online_rows()) == 1
    assert payments()[1].status == PaymentStatus.FAILED


def test_an_expired_session_is_marked_expired(app, client, online, world, deliver):
    _, session_id = start_checkout(client, world)
    online.expire(session_id)
    assert deliver(online.session_event(session_id, "checkout.session.expired")).json[
        "outcome"] == "expired"
    assert payments()[0].status == PaymentStatus.EXPIRED and online_rows() == []


def test_a_full_refund_reverses_the_ledger_row(app, client, online, world, deliver):
    _, session_id = start_checkout(client, world)
    online.complete(session_id)
    deliver(online.session_event(session_id))
    response = deliver(online.refund_event(session_id))
    assert response.json["outcome"] == "reversed"
    payment_row, reversal = online_rows()
    assert reversal.kind == EntryKind.REVERSAL and reversal.reverses_id == payment_row.id
    assert reversal.amount == -C
    [payment] = payments()
    assert payment.status == PaymentStatus.REFUNDED and payment.reversal_entry_id == reversal.id
    assert payment.refunded_amount == C
    with tenancy.everything():
        assert services.reconciliation().ok


def test_a_partial_refund_is_flagged_for_the_provider_not_guessed(
        app, client, online, world, deliver):
    _, session_id = start_checkout(client, world)
    online.complete(session_id)
    deliver(online.session_event(session_id))
    response = deliver(online.refund_event(session_id, refunded_amount=50_000_00))
    assert response.json["outcome"] == "partial refund"
    [payment] = payments()
    assert payment.status == PaymentStatus.SUCCEEDED and payment.refunded_amount == 50_000
    assert "Refunded in part" in payment.problem and len(online_rows()) == 1


def test_money_that_cannot_be_recorded_is_flagged_and_shows_in_the_reconciliation(
        app, client, online, world, deliver):
    _, session_id = start_checkout(client, world)
    online.complete(session_id)
    with tenancy.everything():
        db.session.get(Partner, world["partner"].id).status = PartnerStatus.SUSPENDED
    db.session.commit()
    response = deliver(online.session_event(session_id))
    assert response.status_code == 200 and response.json["outcome"] == "not recorded"
    [payment] = payments()
    assert payment.status == PaymentStatus.SUCCEEDED and payment.ledger_entry_id is None
    assert "not recorded" in payment.problem
    with tenancy.everything():
        check = services.reconciliation()
    assert not check.ok and check.difference == C and check.problem_count == 1


# --- webhook: exactly once ------------------------------------------------------------------


def test_each_event_replayed_five_times_in_shuffled_order_records_each_payment_once(
        app, client, online, world, deliver):
    make, partner = world["make"], world["partner"]
    sessions = {}
    for name in ("card", "delayed", "refunded", "expired"):
        enrollment_id = make.enrollment(partner,
                                        enrolled_on=local_today() - timedelta(days=5)).id
        db.session.commit()
        sessions[name] = start_checkout(client, {**world, "enrollment_id": enrollment_id})[1]
    online.complete(sessions["card"])
    online.complete(sessions["delayed"], paid=False)
    online.complete(sessions["refunded"])
    online.expire(sessions["expired"])
    events = [
        online.session_event(sessions["card"]),
        online.session_event(sessions["delayed"]),
        online.session_event(sessions["delayed"], "checkout.session.async_payment_succeeded"),
        online.session_event(sessions["refunded"]),
        online.refund_event(sessions["refunded"]),
        online.session_event(sessions["expired"], "checkout.session.expired"),
    ]
    deliveries = [e for e in events for _ in range(5)]
    random.Random(20261122).shuffle(deliveries)
    outcomes = []
    for delivery in deliveries:
        response = deliver(delivery)
        assert response.status_code == 200, response.get_data(as_text=True)
        outcomes.append(response.json["outcome"])
    assert outcomes.count("duplicate") >= 24  # 6 events x 4 repeats (+ already-done ones)
    by_session = {p.stripe_session_id: p for p in payments()}
    status = {name: by_session[sid].status for name, sid in sessions.items()}
    assert status == {"card": "succeeded", "delayed": "succeeded", "refunded": "refunded",
                      "expired": "expired"}
    rows = online_rows()
    payments_made = [r for r in rows if r.kind == EntryKind.PAYMENT]
    assert len(payments_made) == 3  # one per paid session
    assert len([r for r in rows if r.kind == EntryKind.REVERSAL]) == 1
    assert event_count() == len(events)
    with tenancy.everything():
        assert services.reconciliation().ok


def test_a_refund_that_overtakes_its_completion_records_the_payment_then_reverses_it(
        app, client, online, world, deliver):
    _, session_id = start_checkout(client, world)
    online.complete(session_id)
    completed = online.session_event(session_id)
    assert deliver(online.refund_event(session_id)).json["outcome"] == "reversed"
    assert deliver(completed).json["outcome"] == "no change"
    assert [r.kind for r in online_rows()] == [EntryKind.PAYMENT, EntryKind.REVERSAL]


def test_events_about_objects_we_do_not_know_are_acknowledged_and_logged(
        app, client, online, world, deliver, caplog):
    stranger = {"id": "cs_test_stranger", "object": "checkout.session", "amount_total": 100,
                "currency": "usd", "metadata": {}, "payment_status": "paid",
                "payment_intent": "pi_test_stranger"}
    response = deliver(event("checkout.session.completed", stranger))
    assert response.status_code == 200 and response.json["outcome"] == "unknown"
    charge = {"id": "ch_test_x", "object": "charge", "amount": 100, "amount_refunded": 100,
              "currency": "usd", "payment_intent": "pi_test_unknown", "refunded": True,
              "metadata": {}}
    assert deliver(event("charge.refunded", charge)).json["outcome"] == "unknown"
    assert deliver(event("customer.created", {"id": "cus_1", "object": "customer"})).json[
        "outcome"] == "ignored"
    assert "object we do not know" in caplog.text
    assert payments() == [] and online_rows() == []


# --- webhook: what is refused ---------------------------------------------------------------


def test_tampered_wrong_secret_stale_and_malformed_deliveries_are_refused(
        app, client, online, world, deliver):
    _, session_id = start_checkout(client, world)
    online.complete(session_id)
    good = online.session_event(session_id)
    body = json.dumps(good)
    tampered = body.replace('"amount_total": 15000000', '"amount_total": 99900000')
    assert tampered != body
    refused = [
        deliver(good, payload=tampered, signature=sign(body)),  # body changed after signing
        deliver(good, secret="whsec_not_ours"),
        deliver(good, timestamp=int(time.time()) - 301),  # older than 5 minutes
        deliver(good, signature=""),
        deliver(good, signature="t=abc,v1=zz"),
        deliver(good, payload="not json", signature=sign("not json")),
        deliver(good, payload="[1, 2]", signature=sign("[1, 2]")),
        deliver(good, payload='{"id": "evt_1", "type": "checkout.session.completed"}',
                signature=sign('{"id": "evt_1", "type": "checkout.session.completed"}')),
    ]
    assert [r.status_code for r in refused] == [400] * len(refused)
    assert all(r.json["errors"]["_schema"] for r in refused)
    assert event_count() == 0 and online_rows() == []
    assert payments()[0].status == PaymentStatus.PENDING
    assert deliver(good, timestamp=int(time.time()) - 200).status_code == 200


def test_the_webhook_is_exempt_from_csrf_and_nothing_else(database, fake_stripe):
    from bungkesmas import create_app
    from tests.payments.conftest import online_config

    app = create_app(env="testing", config=database.config(
        WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=False, **online_config(fake_stripe)))
    try:
        with app.app_context():
            client = app.test_client()
            body = json.dumps(event("customer.created", {"id": "cus_1", "object": "customer"}))
            ok = client.post("/webhooks/stripe", data=body,
                             headers={"Stripe-Signature": sign(body)})
            assert ok.status_code == 200
            # The pay button's form is CSRF-protected as any other.
            assert client.post("/bayar/" + "A" * 120).status_code == 400
            huge = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
            assert client.post("/webhooks/stripe", data=huge,
                               headers={"Stripe-Signature": sign(huge)}).status_code == 413
    finally:
        with app.app_context():
            db.engine.dispose()


def test_concurrent_deliveries_of_one_event_record_the_money_once(
        app, client, online, world, pg_only):
    _, session_id = start_checkout(client, world)
    online.complete(session_id)
    body = json.dumps(online.session_event(session_id))
    other = json.dumps(online.session_event(session_id,
                                            "checkout.session.async_payment_succeeded"))
    db.session.commit()
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def post(payload):
        with app.app_context():
            test_client = app.test_client()
            barrier.wait()
            response = test_client.post("/webhooks/stripe", data=payload,
                                        headers={"Stripe-Signature": sign(payload)})
            statuses.append(response.status_code)
            db.session.remove()

    threads = [threading.Thread(target=post, args=(body if i % 2 else other,))
               for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(s in (200, 409) for s in statuses) and 200 in statuses
    assert len(online_rows()) == 1
    assert payments()[0].status == PaymentStatus.SUCCEEDED


# --- provider and partner pages ---------------------------------------------------------------


def test_the_provider_sees_every_payment_its_receipt_and_the_reconciliation(
        app, client, online, world, deliver, make):
    path, session_id = start_checkout(client, world)
    online.complete(session_id)
    deliver(online.session_event(session_id))
    online.fail_next = 1
    other_id = make.enrollment(world["partner"],
                               enrolled_on=local_today() - timedelta(days=2)).id
    db.session.commit()
    client.post(link_path({**world, "enrollment_id": other_id}))
    staff = make.provider(Role.PROVIDER_STAFF, email="staf-online@bungkesmas.id")
    login(client, staff.email)
    body = client.get("/admin/pembayaran-online").get_data(as_text=True)
    receipt = online_rows()[0].receipt_number
    assert receipt in body and world["number"] in body and "Mitra Bayar Online" in body
    assert 'data-ok="yes"' in body and 'data-status="failed"' in body
    failed_only = client.get("/admin/pembayaran-online?status=failed").get_data(as_text=True)
    assert receipt not in failed_only and "not created" in failed_only
    assert client.get("/admin/pembayaran-online?status=bogus&page=x").status_code == 200


def test_partner_staff_cannot_open_the_provider_list(app, client, online, world):
    login(client, ADMIN)
    assert client.get("/admin/pembayaran-online").status_code == 403


def test_a_partner_sends_a_pay_link_from_the_member_page(app, client, online, world, deliver):
    login(client, ADMIN)
    member_url = f"/p/mitra-online/peserta/{world['number']}"
    assert 'id="pay-link"' in client.get(member_url).get_data(as_text=True)
    page = client.get(f"{member_url}/tautan-bayar").get_data(as_text=True)
    link = re.search(r'class="pay-link-url" type="text" readonly value="([^"]+)"', page).group(1)
    assert "/bayar/" in link and "Rp150.000" in page and "Bayar online di" in page
    client.post("/logout")
    path = urlsplit(link).path
    response = client.post(path)
    session_id = response.headers["Location"].rsplit("/", 1)[1]
    online.complete(session_id)
    deliver(online.session_event(session_id))
    login(client, ADMIN)
    member_page = client.get(member_url).get_data(as_text=True)
    assert 'id="pembayaran-online"' in member_page and 'data-status="succeeded"' in member_page
    assert online_rows()[0].receipt_number in member_page
    listing = client.get("/p/mitra-online/pembayaran-online").get_data(as_text=True)
    assert 'data-ok="yes"' in listing and online_rows()[0].receipt_number in listing


def test_pay_links_and_payments_stay_with_their_partner(app, client, online, world, make):
    other = make.partner(admin_email="admin-lain@contoh.id", slug="mitra-lain")
    login(client, "admin-lain@contoh.id")
    assert client.get(
        f"/p/mitra-lain/peserta/{world['number']}/tautan-bayar").status_code == 404
    start_checkout(client, world)
    listing = client.get("/p/mitra-lain/pembayaran-online").get_data(as_text=True)
    assert world["number"] not in listing
    tenancy.enter_workspace(other.id)
    assert db.session.scalars(select(OnlinePayment)).all() == []
    tenancy.activate(tenancy.Scope.nobody())


def test_a_member_moved_to_another_partner_keeps_an_open_payment_recordable(
        app, client, online, world, deliver, make):
    _, session_id = start_checkout(client, world)
    target = make.partner(admin_email="admin-tujuan@contoh.id", slug="mitra-tujuan")
    make.active_mou(target)
    from bungkesmas.members import services as members

    with tenancy.everything():
        admin = make.admin
        members.transfer(admin, [_enrollment(world).member_id], target,
                         reason="pindah domisili")
    db.session.commit()
    online.complete(session_id)
    response = deliver(online.session_event(session_id))
    assert response.status_code == 200
    [payment] = payments()
    assert payment.tenant_id == target.id and payment.status == PaymentStatus.SUCCEEDED
