"""Online payment through Stripe Checkout.

* **Pay links.** `pay_link_for(enrollment)` gives a link `/bayar/<token>` that anyone
  holding it may open without signing in: the token is the partner and enrollment ids
  encrypted and authenticated with a key derived from the app's secret key (Fernet:
  AES-CBC + HMAC-SHA256, with its creation time), so it names no id in clear, cannot be
  guessed or altered, and expires after `PAY_LINK_DAYS`.
* **Checkout.** The pay page shows the amount due from the coverage engine; "Bayar"
  creates our `OnlinePayment` row first (committed), then a Checkout Session for exactly
  that amount, whose idempotency key and metadata name the row.
* **Webhook.** Events are verified (`stripe.Webhook.construct_event`, 5-minute
  tolerance) before anything else. Each processed event id is stored in `stripe_events`
  (unique) in the same transaction as what it changed; the payment row is locked and its
  state checked; the ledger row carries an idempotency key derived from the payment. So
  a duplicate, concurrent or late delivery records money exactly once.
* **Scope.** The webhook and the pay page run without a signed-in user: they enter the
  narrowest scope, the one partner that holds the payment (`Scope.tenants(id)`); only
  finding which partner that is for a refund (or a member moved since) reads across
  tenants, one indexed column.

Stripe calls go through the official library (`stripe.StripeClient`); its base address
is configurable (`STRIPE_API_BASE`) so that tests talk to a local fake.
"""

from __future__ import annotations

import base64
import json
import logging
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import stripe
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app, has_request_context, url_for
from flask_babel import gettext as _
from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from bungkesmas import tenancy
from bungkesmas.audit.services import record
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.models import EntryMethod, LedgerEntry
from bungkesmas.errors import DomainError
from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment, EnrollmentStatus, Member
from bungkesmas.paging import Page
from bungkesmas.partners.models import Partner, PartnerStatus
from bungkesmas.payments.models import (
    OPEN_STATUSES,
    OnlinePayment,
    PaymentStatus,
    StripeEvent,
)
from bungkesmas.timeutil import local_date, local_today, utcnow

log = logging.getLogger(__name__)

CURRENCY = "idr"
# Stripe takes amounts in the currency's minor unit, and IDR is not one of Stripe's
# zero-decimal currencies: it is a two-decimal currency in the API, so Rp150,000 is sent
# as 15000000 ("Minor units in API amounts" and the zero-decimal list,
# https://docs.stripe.com/currencies). Our amounts are whole rupiah, so every amount we
# send is a multiple of 100, as Stripe's special cases for currencies without usable
# fractions ask.
MINOR_UNITS = 100
WEBHOOK_TOLERANCE = 300  # seconds: older signed timestamps are refused (replays)
# A Checkout Session may expire between 30 minutes and 24 hours after its creation.
CHECKOUT_MINUTES = 60
# A pending session is offered again (instead of a new one) while it has this long left.
REUSE_MARGIN = timedelta(minutes=5)
STRIPE_TIMEOUT = 20  # seconds per request to Stripe
ACTOR_STRIPE = "stripe"  # audit label of changes made by Stripe's events
ACTOR_PUBLIC = "public"  # audit label of the pay-link page (no signed-in user)
TOKEN_MAX = 200
PER_PAGE = 50


class BadEvent(Exception):
    """A webhook request that is not a well-formed, correctly signed, fresh Stripe event."""


class RetryLater(Exception):
    """An event that cannot be processed now; Stripe delivers it again later."""


# --- configuration ------------------------------------------------------------------------


def online_enabled() -> bool:
    """Whether members can pay online: both Stripe secrets are configured."""
    config = current_app.config
    return bool(config.get("STRIPE_SECRET_KEY") and config.get("STRIPE_WEBHOOK_SECRET"))


def client() -> stripe.StripeClient:
    """The official library's client, pointed at STRIPE_API_BASE when set (a local fake)."""
    config = current_app.config
    base = config.get("STRIPE_API_BASE")
    return stripe.StripeClient(
        config["STRIPE_SECRET_KEY"], base_addresses={"api": base.rstrip("/")} if base else None,
        http_client=stripe.RequestsClient(timeout=STRIPE_TIMEOUT), max_network_retries=2)


def checkout_origin() -> str:
    """Where Stripe's hosted checkout pages are: checkout.stripe.com, or the fake's
    address when STRIPE_API_BASE points elsewhere."""
    base = current_app.config.get("STRIPE_API_BASE")
    if not base:
        return "https://checkout.stripe.com"
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"


def to_stripe_amount(rupiah: int) -> int:
    """Whole rupiah as Stripe's IDR amount (two decimals): 150000 -> 15000000."""
    return rupiah * MINOR_UNITS


def from_stripe_amount(amount) -> int | None:
    """Stripe's IDR amount as whole rupiah, or None if it is not a whole, positive one."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        return None
    return amount // MINOR_UNITS if amount % MINOR_UNITS == 0 else None


# --- pay links ------------------------------------------------------------------------------


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"bungkesmas pay link v1").derive(current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def pay_token(enrollment: Enrollment) -> str:
    """The opaque token of a pay link for `enrollment` (partner id + enrollment id,
    encrypted and authenticated, time-stamped)."""
    payload = struct.pack(">I", enrollment.tenant_id) + enrollment.id.bytes
    return _fernet().encrypt(payload).decode().rstrip("=")


def read_pay_token(token) -> tuple[int, uuid.UUID] | None:
    """(partner id, enrollment id) of a valid, unexpired token; None for anything else."""
    if not isinstance(token, str) or not 40 <= len(token) <= TOKEN_MAX or not token.isascii():
        return None
    ttl = int(current_app.config.get("PAY_LINK_DAYS", 14)) * 86400
    try:
        data = _fernet().decrypt(token + "=" * (-len(token) % 4), ttl=ttl)
    except (InvalidToken, ValueError, TypeError):
        return None
    if len(data) != 20:
        return None
    (tenant_id,) = struct.unpack(">I", data[:4])
    return tenant_id, uuid.UUID(bytes=data[4:])


def pay_link_for(enrollment: Enrollment) -> str | None:
    """The pay link of an enrollment (absolute URL), or None when online payment is off
    or the enrollment is cancelled. For the status page and the partner's member page."""
    if not online_enabled() or enrollment.status == EnrollmentStatus.CANCELLED:
        return None
    token = pay_token(enrollment)
    if has_request_context():
        return url_for("payments.pay", pay_token=token, _external=True)
    return current_app.config["BASE_URL"].rstrip("/") + f"/bayar/{token}"


@dataclass
class PayLink:
    """What the pay page shows, for one enrollment."""

    enrollment: Enrollment
    member: Member
    partner: Partner
    amount_due: int
    problem: str | None  # why it cannot be paid online now (translated), or None

    @property
    def first_name(self) -> str:
        return (self.member.full_name or "").split(" ")[0]

    @property
    def member_number_masked(self) -> str:
        number = self.member.member_number
        return "•" * max(0, len(number) - 4) + number[-4:]

    @property
    def product_name(self) -> str:
        return self.enrollment.product_version.product.name


def open_pay_link(token) -> PayLink | None:
    """The enrollment a pay-link token names, in the scope of its partner only (entered
    for the rest of the request); None if the token is not valid or the enrollment is
    gone (e.g. transferred to another partner since the link was made)."""
    found = read_pay_token(token)
    if found is None:
        return None
    tenant_id, enrollment_id = found
    tenancy.activate(tenancy.Scope.tenants(tenant_id))
    enrollment = db.session.get(Enrollment, (tenant_id, enrollment_id))
    if enrollment is None:
        return None
    member = db.session.get(Member, (tenant_id, enrollment.member_id))
    with tenancy.everything():
        partner = db.session.get(Partner, tenant_id)
    cover = ledger.coverage_of(enrollment)
    problem = None
    if partner.status != PartnerStatus.APPROVED:
        problem = _("%(name)s does not take payments at the moment. Ask your partner.",
                    name=partner.name)
    elif enrollment.status == EnrollmentStatus.CANCELLED:
        problem = _("This enrollment is cancelled: nothing can be paid for it.")
    elif cover.amount_due <= 0:
        problem = _("Nothing is due at the moment.")
    return PayLink(enrollment, member, partner, cover.amount_due, problem)


# --- checkout -------------------------------------------------------------------------------


def reusable_payment(link: PayLink) -> OnlinePayment | None:
    """A checkout this enrollment already opened for the same amount that is still open
    for a while: the member who clicks "Bayar" twice goes back to it."""
    return db.session.scalar(select(OnlinePayment).where(
        OnlinePayment.tenant_id == link.enrollment.tenant_id,
        OnlinePayment.enrollment_id == link.enrollment.id,
        OnlinePayment.status == PaymentStatus.PENDING,
        OnlinePayment.amount == link.amount_due,
        OnlinePayment.checkout_url.is_not(None),
        OnlinePayment.checkout_expires_at > utcnow() + REUSE_MARGIN)
        .order_by(OnlinePayment.created_at.desc()).limit(1))


def create_payment(link: PayLink) -> OnlinePayment:
    """Our record of an attempt to pay the amount due online (status created). The caller
    commits it before `open_checkout`, so that whatever Stripe does next finds it."""
    if not online_enabled():
        raise DomainError(_("Online payment is not available."))
    if link.problem:
        raise DomainError(link.problem)
    payment = OnlinePayment(
        id=tenancy.new_id(), tenant_id=link.enrollment.tenant_id, member_id=link.member.id,
        enrollment_id=link.enrollment.id, amount=link.amount_due,
        status=PaymentStatus.CREATED)
    db.session.add(payment)
    db.session.flush()
    record(None, "online_payment.created", payment, partner_id=payment.tenant_id,
           after=_audit_view(payment, link.member.member_number), actor_label=ACTOR_PUBLIC)
    return payment


def checkout_params(payment: OnlinePayment, link: PayLink, success_url: str,
                    cancel_url: str, locale: str = "id") -> dict:
    """The Checkout Session to create for `payment` (one line: the contribution)."""
    metadata = {"payment_id": str(payment.id), "partner_id": str(payment.tenant_id),
                "enrollment_id": str(payment.enrollment_id),
                "member_number": link.member.member_number}
    return {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": CURRENCY, "unit_amount": to_stripe_amount(payment.amount),
            "product_data": {"name": f"Iuran {link.product_name} · {link.member.member_number}"},
        }}],
        "client_reference_id": str(payment.id),
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "success_url": success_url,
        "cancel_url": cancel_url,
        "expires_at": int((datetime.now(UTC) + timedelta(minutes=CHECKOUT_MINUTES)).timestamp()),
        "locale": locale if locale in ("id", "en") else "auto",
    }


def open_checkout(payment: OnlinePayment, link: PayLink, success_url: str, cancel_url: str,
                  locale: str = "id") -> bool:
    """Create the Checkout Session for `payment` (idempotent: the key is derived from our
    row) and mark the payment pending; on Stripe's refusal or silence mark it failed and
    return False. Flushes; the caller commits either way."""
    params = checkout_params(payment, link, success_url, cancel_url, locale)
    try:
        session = client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": f"bungkesmas-checkout-{payment.id}"})
    except stripe.StripeError as err:
        # The error names no personal data (the request carried only ids and an amount).
        log.warning("Stripe refused the checkout session of online payment %s: %s %s",
                    payment.id, type(err).__name__, getattr(err, "code", None) or "")
        _change(payment, PaymentStatus.FAILED, actor_label=ACTOR_PUBLIC,
                problem=f"Checkout session not created: {type(err).__name__}"[:300])
        return False
    session = session.to_dict(for_json=True)
    expires = session.get("expires_at")
    _change(payment, PaymentStatus.PENDING, actor_label=ACTOR_PUBLIC,
            stripe_session_id=session["id"], checkout_url=session["url"],
            checkout_expires_at=_utc(expires) if isinstance(expires, int) else None)
    return True


def payment_of_session(link: PayLink, session_id) -> OnlinePayment | None:
    """The link's payment whose checkout session is `session_id` (the success page)."""
    if not _short_str(session_id, 255):
        return None
    return db.session.scalar(select(OnlinePayment).where(
        OnlinePayment.tenant_id == link.enrollment.tenant_id,
        OnlinePayment.enrollment_id == link.enrollment.id,
        OnlinePayment.stripe_session_id == session_id).limit(1))


def receipt_of(payment: OnlinePayment) -> str | None:
    """The receipt number of the ledger row a payment produced, if any."""
    if payment.ledger_entry_id is None:
        return None
    return db.session.scalar(select(LedgerEntry.receipt_number).where(
        LedgerEntry.tenant_id == payment.tenant_id, LedgerEntry.id == payment.ledger_entry_id))


# --- webhook ------------------------------------------------------------------------------


def verify_event(payload: bytes, signature: str | None) -> dict:
    """The event of a webhook request after checking its signature (with the webhook
    secret, at most WEBHOOK_TOLERANCE seconds old) and its shape; BadEvent otherwise."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    try:
        stripe.Webhook.construct_event(payload, signature or "", secret,
                                       tolerance=WEBHOOK_TOLERANCE)
    except stripe.SignatureVerificationError as err:
        raise BadEvent("signature") from err
    except (ValueError, TypeError, AttributeError, KeyError) as err:  # not JSON, not an event
        raise BadEvent("payload") from err
    event = json.loads(payload)
    data = event.get("data") if isinstance(event, dict) else None
    if not (isinstance(event, dict) and _short_str(event.get("id"), 255)
            and _short_str(event.get("type"), 100) and isinstance(event.get("created"), int)
            and not isinstance(event.get("created"), bool)
            and isinstance(data, dict) and isinstance(data.get("object"), dict)):
        raise BadEvent("shape")
    return event


def _short_str(value, most: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= most


def handle_event(event: dict) -> str:
    """Process one verified event; return what happened ("recorded", "duplicate", …).
    Flushes; the caller commits. Raises RetryLater when Stripe should deliver it again."""
    handler = _HANDLERS.get(event["type"])
    if handler is None:
        return "ignored"
    if db.session.scalar(select(StripeEvent.id).where(StripeEvent.event_id == event["id"])):
        return "duplicate"
    obj = event["data"]["object"]
    payment = _find_payment(event["type"], obj)
    if not _remember(event, payment):
        return "duplicate"
    if payment is None:
        log.warning("Stripe event %s (%s) is about an object we do not know: acknowledged",
                    event["id"], event["type"])
        return "unknown"
    payment = _lock(payment)
    return handler(payment, obj, event)


def _remember(event: dict, payment: OnlinePayment | None) -> bool:
    """Store the event id; False if another delivery stored it first (the unique key)."""
    row = StripeEvent(event_id=event["id"], event_type=event["type"],
                      created_at=_utc(event["created"]),
                      partner_id=payment.tenant_id if payment is not None else None,
                      payment_id=payment.id if payment is not None else None,
                      outcome="processed" if payment is not None else "unknown")
    db.session.add(row)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        return False
    return True


def _find_payment(event_type: str, obj: dict) -> OnlinePayment | None:
    """Our payment an event's object is about, with the session scoped to its partner."""
    if event_type.startswith("checkout.session."):
        return _payment_of_session(obj)
    return _payment_of_intent(obj.get("payment_intent"))


def _payment_of_session(session: dict) -> OnlinePayment | None:
    if session.get("object") != "checkout.session" or not _short_str(session.get("id"), 255):
        return None
    metadata = session.get("metadata") if isinstance(session.get("metadata"), dict) else {}
    payment = None
    try:
        tenant_id, payment_id = int(metadata["partner_id"]), uuid.UUID(metadata["payment_id"])
    except (KeyError, ValueError, TypeError):
        tenant_id = payment_id = None
    if tenant_id is not None and 0 < tenant_id < 2**31:
        tenancy.activate(tenancy.Scope.tenants(tenant_id))
        payment = db.session.get(OnlinePayment, (tenant_id, payment_id))
    if payment is None:
        # The member may have moved to another partner since (the row moved with them).
        payment = _moved(OnlinePayment.stripe_session_id == session["id"])
    if payment is None or payment.id != payment_id or payment.stripe_session_id not in (
            None, session["id"]):
        return None
    return payment


def _payment_of_intent(intent) -> OnlinePayment | None:
    if not _short_str(intent, 255):
        return None
    payment = _moved(OnlinePayment.stripe_payment_intent_id == intent)
    if payment is not None:
        return payment
    # Not known yet: the refund may have overtaken the completion event. Ask Stripe for
    # the intent's checkout session and record the payment from it first.
    return _payment_from_stripe(intent)


def _moved(condition) -> OnlinePayment | None:
    """The payment matching `condition` in whichever partner holds it: only its partner
    id is read across tenants, then the session is scoped to that partner."""
    with tenancy.everything():
        key = db.session.execute(select(OnlinePayment.tenant_id, OnlinePayment.id)
                                 .where(condition).limit(1)).first()
    if key is None:
        return None
    tenancy.activate(tenancy.Scope.tenants(key.tenant_id))
    return db.session.get(OnlinePayment, (key.tenant_id, key.id))


def _payment_from_stripe(intent: str) -> OnlinePayment | None:
    try:
        sessions = client().v1.checkout.sessions.list(
            params={"payment_intent": intent, "limit": 1})
    except stripe.StripeError as err:
        log.warning("Stripe could not list the checkout session of %s: %s", intent,
                    type(err).__name__)
        raise RetryLater(intent) from err
    found = [s.to_dict(for_json=True) for s in sessions.data]
    if not found:
        return None
    session = found[0]
    payment = _payment_of_session(session)
    if payment is None:
        return None
    payment = _lock(payment)
    if session.get("payment_status") == "paid" and payment.status not in (
            PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        _record_paid(payment, session, int(session.get("created") or 0) or None)
    return payment


def _lock(payment: OnlinePayment) -> OnlinePayment:
    """The payment again, row-locked, so that events about one payment take turns."""
    return db.session.execute(
        select(OnlinePayment).where(OnlinePayment.tenant_id == payment.tenant_id,
                                    OnlinePayment.id == payment.id)
        .with_for_update().execution_options(populate_existing=True)).scalar_one()


def _session_completed(payment: OnlinePayment, session: dict, event: dict) -> str:
    if session.get("payment_status") == "paid":
        return _record_paid(payment, session, event["created"])
    # An asynchronous method (e.g. a bank transfer): paid later, or not.
    if payment.status in OPEN_STATUSES:
        _change(payment, PaymentStatus.PENDING, stripe_session_id=session["id"],
                stripe_payment_intent_id=_intent_of(session))
        return "awaiting payment"
    return "no change"


def _session_paid(payment: OnlinePayment, session: dict, event: dict) -> str:
    return _record_paid(payment, session, event["created"])


def _session_failed(payment: OnlinePayment, session: dict, event: dict) -> str:
    if payment.status not in OPEN_STATUSES:
        return "no change"
    _change(payment, PaymentStatus.FAILED, problem="The payment failed at Stripe.")
    return "failed"


def _session_expired(payment: OnlinePayment, session: dict, event: dict) -> str:
    if payment.status not in OPEN_STATUSES:
        return "no change"
    _change(payment, PaymentStatus.EXPIRED)
    return "expired"


def _intent_of(session: dict) -> str | None:
    intent = session.get("payment_intent")
    if isinstance(intent, dict):  # expanded
        intent = intent.get("id")
    return intent if _short_str(intent, 255) else None


def _record_paid(payment: OnlinePayment, session: dict, created: int | None) -> str:
    """Record the money of a paid session in the ledger, once."""
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        return "no change"
    intent = _intent_of(session)
    paid = from_stripe_amount(session.get("amount_total"))
    changes = {"stripe_session_id": session["id"], "stripe_payment_intent_id": intent,
               "paid_at": _utc(created) if created else utcnow()}
    if session.get("currency") != CURRENCY or paid is None:
        _change(payment, PaymentStatus.SUCCEEDED, **changes,
                problem="Paid, but the amount or currency is not whole rupiah: not recorded.")
        return "not recorded"
    problem = "" if paid == payment.amount else (
        f"Paid Rp{paid:,} instead of the Rp{payment.amount:,} asked for.".replace(",", "."))
    enrollment = db.session.get(Enrollment, (payment.tenant_id, payment.enrollment_id))
    partner = db.session.get(Partner, payment.tenant_id)
    today = local_today(partner)
    received_on = min(local_date(_utc(created), partner), today) if created else today
    try:
        with db.session.begin_nested():
            if enrollment is None:
                raise LookupError("enrollment")
            received_on = max(received_on, ledger.enrolled_on(enrollment))
            entry = ledger.record_payment(
                None, enrollment, EntryMethod.ONLINE, paid, received_on,
                reference=intent or session["id"], key=f"stripe:{payment.id}",
                methods=(EntryMethod.ONLINE,))
    except (DomainError, LookupError) as err:
        message = str(getattr(err, "message", "") or "the enrollment is gone")
        _change(payment, PaymentStatus.SUCCEEDED, amount=paid, **changes,
                problem=f"Paid, but not recorded in the ledger: {message}"[:300])
        return "not recorded"
    _change(payment, PaymentStatus.SUCCEEDED, amount=paid, ledger_entry_id=entry.id,
            problem=problem, **changes)
    return "recorded"


def _charge_refunded(payment: OnlinePayment, charge: dict, event: dict) -> str:
    """A refund (in full: reverse the ledger row; in part: flag it for the provider)."""
    if payment.status == PaymentStatus.REFUNDED:
        return "no change"
    if payment.status != PaymentStatus.SUCCEEDED:
        _change(payment, payment.status,
                problem="Stripe reports a refund of a payment that never succeeded here.")
        return "unexpected refund"
    refunded = from_stripe_amount(charge.get("amount_refunded")) or 0
    if not charge.get("refunded"):
        if refunded == payment.refunded_amount:
            return "no change"
        _change(payment, PaymentStatus.SUCCEEDED, refunded_amount=refunded,
                problem=f"Refunded in part at Stripe (Rp{refunded:,}): correct the ledger "
                        f"by hand.".replace(",", "."))
        return "partial refund"
    refunded = refunded or payment.amount
    if payment.ledger_entry_id is None:
        _change(payment, PaymentStatus.REFUNDED, refunded_amount=refunded)
        return "refunded"
    entry = db.session.get(LedgerEntry, (payment.tenant_id, payment.ledger_entry_id))
    existing = ledger.reversal_of(entry) if entry is not None else None
    if existing is not None:  # reversed by hand already
        _change(payment, PaymentStatus.REFUNDED, refunded_amount=refunded,
                reversal_entry_id=existing.id)
        return "refunded"
    try:
        with db.session.begin_nested():
            if entry is None:
                raise LookupError("entry")
            reversal = ledger.reverse(None, entry, f"Refunded through Stripe ({charge.get('id')})"[
                :ledger.REASON_MAX], key=f"stripe-refund:{payment.id}")
    except (DomainError, LookupError) as err:
        message = str(getattr(err, "message", "") or "the ledger row is gone")
        _change(payment, PaymentStatus.REFUNDED, refunded_amount=refunded,
                problem=f"Refunded at Stripe, but the ledger row is not reversed: {message}"[
                    :300])
        return "not reversed"
    _change(payment, PaymentStatus.REFUNDED, refunded_amount=refunded,
            reversal_entry_id=reversal.id)
    return "reversed"


_HANDLERS = {
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": _session_paid,
    "checkout.session.async_payment_failed": _session_failed,
    "checkout.session.expired": _session_expired,
    "charge.refunded": _charge_refunded,
}
HANDLED_EVENTS = tuple(_HANDLERS)


def _change(payment: OnlinePayment, status: PaymentStatus, *, actor_label: str = ACTOR_STRIPE,
            **changes) -> None:
    """Set the payment's status and other columns, and audit it (actor: Stripe or the
    public pay page, never a user)."""
    before = {"status": str(payment.status), "problem": payment.problem or ""}
    payment.status = status
    for name, value in changes.items():
        setattr(payment, name, value)
    payment.updated_at = utcnow()
    db.session.flush()
    member_number = db.session.scalar(select(Member.member_number).where(
        Member.tenant_id == payment.tenant_id, Member.id == payment.member_id))
    record(None, f"online_payment.{status}", payment, partner_id=payment.tenant_id,
           before=before, after=_audit_view(payment, member_number), actor_label=actor_label)


def _audit_view(payment: OnlinePayment, member_number: str | None) -> dict:
    return {"status": str(payment.status), "amount": payment.amount, "member": member_number,
            "enrollment": str(payment.enrollment_id), "session": payment.stripe_session_id,
            "payment_intent": payment.stripe_payment_intent_id,
            "ledger_entry": str(payment.ledger_entry_id) if payment.ledger_entry_id else None,
            "reversal_entry": str(payment.reversal_entry_id) if payment.reversal_entry_id
            else None, "refunded_amount": payment.refunded_amount,
            "problem": payment.problem or ""}


def _utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)


# --- reading: lists and reconciliation ---------------------------------------------------


@dataclass(frozen=True)
class Reconciliation:
    """Succeeded (not refunded) online payments against the ledger's online rows
    (payments less their reversals), in the session's scope."""

    succeeded_total: int
    succeeded_count: int
    ledger_total: int
    problem_count: int

    @property
    def difference(self) -> int:
        return self.succeeded_total - self.ledger_total

    @property
    def ok(self) -> bool:
        return self.difference == 0


def reconciliation() -> Reconciliation:
    """The reconciliation check over the payments the session may see (the provider:
    all; a partner workspace: its own and its descendants')."""
    succeeded_total, succeeded_count = db.session.execute(
        select(func.coalesce(func.sum(OnlinePayment.amount), 0), func.count())
        .where(OnlinePayment.status == PaymentStatus.SUCCEEDED)).one()
    ledger_total = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .where(LedgerEntry.method == EntryMethod.ONLINE))
    problems = db.session.scalar(select(func.count()).select_from(OnlinePayment)
                                 .where(OnlinePayment.problem != ""))
    return Reconciliation(int(succeeded_total), int(succeeded_count), int(ledger_total),
                          int(problems))


@dataclass(frozen=True)
class PaymentRow:
    payment: OnlinePayment
    member_number: str | None
    partner_name: str
    receipt_number: str | None
    reversal_receipt_number: str | None


def listing(status: str | None = None, problems_only: bool = False,
            enrollment_ids: list[uuid.UUID] | None = None):
    """A select of the payments in scope, newest first, with what the list shows."""
    entry = LedgerEntry.__table__.alias("entry")
    reversal = LedgerEntry.__table__.alias("reversal")
    stmt = (
        select(OnlinePayment, Member.member_number, Partner.name, entry.c.receipt_number,
               reversal.c.receipt_number)
        .outerjoin(Member, and_(Member.tenant_id == OnlinePayment.tenant_id,
                                Member.id == OnlinePayment.member_id))
        .join(Partner, Partner.id == OnlinePayment.tenant_id)
        .outerjoin(entry, and_(entry.c.tenant_id == OnlinePayment.tenant_id,
                               entry.c.id == OnlinePayment.ledger_entry_id))
        .outerjoin(reversal, and_(reversal.c.tenant_id == OnlinePayment.tenant_id,
                                  reversal.c.id == OnlinePayment.reversal_entry_id))
        .order_by(OnlinePayment.created_at.desc(), OnlinePayment.id.desc()))
    if status in {s.value for s in PaymentStatus}:
        stmt = stmt.where(OnlinePayment.status == status)
    if problems_only:
        stmt = stmt.where(OnlinePayment.problem != "")
    if enrollment_ids is not None:
        stmt = stmt.where(OnlinePayment.enrollment_id.in_(enrollment_ids))
    return stmt


def listing_page(status: str | None, problems_only: bool, number: int,
                 per_page: int = PER_PAGE) -> Page:
    stmt = listing(status, problems_only)
    total = db.session.scalar(select(func.count()).select_from(
        stmt.with_only_columns(OnlinePayment.id).order_by(None).subquery()))
    number = max(1, number)
    rows = db.session.execute(stmt.limit(per_page).offset((number - 1) * per_page)).all()
    return Page([PaymentRow(*row) for row in rows], number, per_page, total)


def payments_of_member(member: Member, limit: int = 20) -> list[PaymentRow]:
    ids = [e.id for e in member.enrollments]
    if not ids:
        return []
    stmt = listing(enrollment_ids=ids).where(OnlinePayment.tenant_id == member.tenant_id)
    return [PaymentRow(*row) for row in db.session.execute(stmt.limit(limit)).all()]


def pay_message(link: str, first_name: str, amount: int, partner_name: str) -> str:
    """The SMS/WhatsApp text a partner sends with a pay link (in Indonesian: members
    read Indonesian, whatever the officer's interface language)."""
    from bungkesmas.contributions.terbilang import format_rupiah

    return (f"Bungkesmas: Yth. {first_name}, iuran Anda {format_rupiah(amount)}. "
            f"Bayar online di {link} — {partner_name}")
