"""Online payment pages.

Public (no sign-in): the pay link `/bayar/<token>` with its "Bayar" button, the success
and cancel pages Stripe sends the member back to, and the webhook `/webhooks/stripe`
(exempt from CSRF — Stripe signs it instead — and from nothing else).
Provider: `/admin/pembayaran-online`, the list and its reconciliation (on the platform
blueprint, behind its gate). Partner: the member's pay link and the partner's list of
online payments (on the workspace blueprint, behind its gate)."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from bungkesmas.auth.permissions import Permission
from bungkesmas.extensions import csrf, db, limiter
from bungkesmas.forms import Form
from bungkesmas.members.models import EnrollmentStatus
from bungkesmas.payments import services
from bungkesmas.payments.models import PaymentStatus
from bungkesmas.platform import views as platform
from bungkesmas.selfservice import pages
from bungkesmas.tenants import views as workspace
from bungkesmas.tenants.members_views import _member_or_404, _own
from bungkesmas.web import CSP, run

log = logging.getLogger(__name__)

bp = Blueprint("payments", __name__, template_folder="templates")


class PayForm(Form):
    """The "Bayar" button: no fields, only the CSRF token."""


def status_label(status) -> str:
    return {
        PaymentStatus.CREATED: _("created"),
        PaymentStatus.PENDING: _("waiting for payment"),
        PaymentStatus.SUCCEEDED: _("paid"),
        PaymentStatus.FAILED: _("failed"),
        PaymentStatus.EXPIRED: _("expired"),
        PaymentStatus.REFUNDED: _("refunded"),
    }.get(status, str(status))


@bp.app_context_processor
def payment_helpers():
    return {"online_payment_status_label": status_label,
            "online_payments_enabled": services.online_enabled}


def _pay_page(link, token, form, status=200):
    """The pay page. Its form posts here and is answered with a redirect to Stripe's
    checkout page: the page's CSP must allow that origin as a form target."""
    response = make_response(pages.render("payments/pay.html", link=link, token=token,
                                          form=form), status)
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {services.checkout_origin()}")
    return response


def _unavailable():
    return pages.render("payments/unavailable.html"), 404


def _open_link(token: str):
    """(the pay link of `token`, None), or (None, the page to answer instead): online
    payment is off, or the token is not a valid link."""
    if not services.online_enabled():
        return None, _unavailable()
    link = services.open_pay_link(token)
    if link is None:
        return None, (pages.render("payments/invalid.html"), 404)
    return link, None


# --- the member's side (public) -------------------------------------------------------------


@bp.route("/bayar/<pay_token>")
def pay(pay_token: str):
    token = pay_token
    link, failure = _open_link(token)
    if failure:
        return failure
    return _pay_page(link, token, PayForm())


@bp.route("/bayar/<pay_token>", methods=["POST"])
@limiter.limit("10 per minute;60 per hour", "pay-address")
def pay_start(pay_token: str):
    """Create our payment record, then Stripe's checkout session, and send the member
    there (or back to the session they opened a moment ago)."""
    token = pay_token
    link, failure = _open_link(token)
    if failure:
        return failure
    form = PayForm()
    if not form.validate_on_submit() or link.problem:
        return _pay_page(link, token, form, 422)
    again = services.reusable_payment(link)
    if again is not None:
        return redirect(again.checkout_url, 303)
    payment = run(lambda: services.create_payment(link), form)
    if not payment:
        return _pay_page(link, token, form, 422)
    # Stripe puts its session id where {CHECKOUT_SESSION_ID} stands (kept unescaped).
    success = url_for("payments.success", pay_token=token, _external=True) + (
        "?session_id={CHECKOUT_SESSION_ID}")
    cancel = url_for("payments.cancel", pay_token=token, _external=True)
    opened = services.open_checkout(payment, link, success, cancel, str(get_locale() or "id"))
    db.session.commit()
    if not opened:
        form.form_errors.append(_("Online payment is not available right now. Please try "
                                  "again later or pay at your partner."))
        return _pay_page(link, token, form, 503)
    return redirect(payment.checkout_url, 303)


@bp.route("/bayar/<pay_token>/selesai")
def success(pay_token: str):
    token = pay_token
    link, failure = _open_link(token)
    if failure:
        return failure
    payment = services.payment_of_session(link, request.args.get("session_id", ""))
    receipt = services.receipt_of(payment) if payment is not None else None
    return pages.render("payments/success.html", link=link, token=token, payment=payment,
                        receipt=receipt)


@bp.route("/bayar/<pay_token>/batal")
def cancel(pay_token: str):
    token = pay_token
    link, failure = _open_link(token)
    if failure:
        return failure
    return pages.render("payments/cancel.html", link=link, token=token)


@bp.route("/webhooks/stripe", methods=["POST"])
@csrf.exempt
def stripe_webhook():
    """Stripe's events: the signature before anything else (without a webhook secret
    configured nothing verifies: 400); then at most one change per event id."""
    try:
        event = services.verify_event(request.get_data(), request.headers.get("Stripe-Signature"))
    except services.BadEvent as err:
        log.warning("Stripe webhook refused: %s", err)
        return jsonify(errors={"_schema": ["Not a valid, signed Stripe event."]}), 400
    try:
        outcome = services.handle_event(event)
        if outcome == "duplicate":
            db.session.rollback()
        else:
            db.session.commit()
    except services.RetryLater:
        db.session.rollback()
        return jsonify(errors={"_schema": ["Not ready for this event; send it again later."]}), 503
    except IntegrityError:
        # A concurrent delivery of this event (or another about the same payment) won;
        # answering an error makes Stripe send it again, and then it is a duplicate.
        db.session.rollback()
        return jsonify(errors={"_schema": ["Processed concurrently; send it again."]}), 409
    log.info("Stripe event %s (%s): %s", event["id"], event["type"], outcome)
    return jsonify(received=True, outcome=outcome)


# --- provider: list and reconciliation ------------------------------------------------------


@platform.bp.route("/pembayaran-online")
@platform.requires(Permission.ONLINE_PAYMENTS_VIEW)
def online_payments():
    status = request.args.get("status") or None
    problems_only = request.args.get("masalah") == "1"
    page = request.args.get("page", "1")
    number = int(page) if page.isdigit() and len(page) < 7 else 1
    return render_template(
        "payments/admin_list.html", page=services.listing_page(status, problems_only, number),
        check=services.reconciliation(), status=status, problems_only=problems_only,
        statuses=list(PaymentStatus), enabled=services.online_enabled())


# --- partner workspace: the member's pay link and the partner's list -----------------------


@workspace.bp.route("/peserta/<member_number>/tautan-bayar")
@workspace.requires(Permission.PAY_LINKS_SEND)
def member_pay_link(member_number: str):
    member = _member_or_404(member_number)
    _own(member)
    if not services.online_enabled():
        return render_template("payments/member_link.html", member=member, links=[],
                               enabled=False)
    from bungkesmas.contributions import services as ledger

    links = []
    for enrollment in member.enrollments:
        if enrollment.status == EnrollmentStatus.CANCELLED:
            continue
        url = services.pay_link_for(enrollment)
        due = ledger.coverage_of(enrollment).amount_due
        links.append({"enrollment": enrollment, "url": url, "amount_due": due,
                      "message": services.pay_message(url, member.full_name.split(" ")[0], due,
                                                      g.tenant.name)})
    return render_template("payments/member_link.html", member=member, links=links,
                           enabled=True, days=int(current_app.config["PAY_LINK_DAYS"]))


@workspace.bp.route("/pembayaran-online")
@workspace.requires(Permission.RECEIPTS_VIEW)
def partner_online_payments():
    page = request.args.get("page", "1")
    number = int(page) if page.isdigit() and len(page) < 7 else 1
    return render_template("payments/partner_list.html",
                           page=services.listing_page(None, False, number),
                           check=services.reconciliation())


def member_panel(member, own: bool) -> dict:
    """Template variables of the member page's online-payment panel."""
    return {"online_payments": services.payments_of_member(member),
            "can_send_pay_link": own and services.online_enabled()
            and Permission.PAY_LINKS_SEND in g.permissions}
