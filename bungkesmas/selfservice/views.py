"""The member's status check: /cek (form, POST only — the identifier and birth date never
go into a URL), /cek/<token> (the member card's QR code), and POST /api/v1/status.

The answer is rendered in reply to the POST itself (no redirect that would have to
carry the identifier), into a page that needs no JavaScript. Both routes share one rate
limit per address and one per identifier (a keyed hash of it, never the NIK)."""

from __future__ import annotations

import functools

from flask import Blueprint, current_app, g, request
from flask_smorest import Blueprint as ApiBlueprint

from bungkesmas import tenancy
from bungkesmas.errors import DomainError
from bungkesmas.extensions import csrf, db, limiter
from bungkesmas.members.models import Enrollment
from bungkesmas.payments import services as payments
from bungkesmas.ratelimit import remote_address
from bungkesmas.selfservice import pages, services
from bungkesmas.selfservice.forms import (
    StatusAnswerSchema,
    StatusEntry,
    StatusRequestSchema,
    read_status_form,
)

bp = Blueprint("selfservice", __name__, template_folder="templates")
api_blp = ApiBlueprint("status_api", __name__, url_prefix="/api/v1",
                       description="The member's own status check (no token needed).")


# --- rate limits -------------------------------------------------------------------------
# One limit per address and one per identifier (a keyed hash of it, never the NIK), shared
# by the page and the API; the card's address has its own (`bungkesmas.ratelimit`).


def _typed_identifier() -> services.Identifier | None:
    """The identifier of this request (form or JSON), parsed once; None if malformed."""
    if "status_identifier" not in g:
        identifier = None
        try:
            if request.is_json:
                body = request.get_json(silent=True)
                body = body if isinstance(body, dict) else {}
                number, nik = body.get("member_number"), body.get("nik")
                if isinstance(number, str) and number and not nik:
                    identifier = services.parse_member_number(number)
                elif isinstance(nik, str) and nik and not number:
                    identifier = services.parse_nik(nik)
            else:
                identifier = _status_entry().identifier
        except DomainError:
            identifier = None
        g.status_identifier = identifier
    return g.status_identifier


def _status_entry() -> StatusEntry:
    """The status form of this request, read once (for the limits and the page)."""
    if "status_entry" not in g:
        g.status_entry = read_status_form(request.form)
    return g.status_entry


def _limited(view):
    """A status check (POST) counts against the address's limit, then — when it names a
    well-formed identifier; a malformed one is refused before any lookup — against the
    identifier's: 429 once either is exceeded, before the view runs."""

    @functools.wraps(view)
    def limited(*args, **kwargs):
        if request.method == "POST":
            config = current_app.config
            checks = [(config["STATUS_RATE_LIMIT"], "status-address", remote_address())]
            identifier = _typed_identifier()
            if identifier is not None:
                checks.append((config["STATUS_IDENTIFIER_RATE_LIMIT"], "status-identifier",
                               identifier.rate_key()))
            limiter.hit_all(checks)
        return view(*args, **kwargs)

    return limited


def _card_limit() -> str:
    return current_app.config["CARD_RATE_LIMIT"]


# --- the page ----------------------------------------------------------------------------


def pay_url_for(answer: services.StatusAnswer | None) -> str | None:
    """Where the member pays online (the enrollment's pay link), or None: nothing due,
    or online payment not configured."""
    if (answer is None or not answer.amount_due or answer.enrollment_id is None
            or not payments.online_enabled()):
        return None
    with tenancy.scoped(tenancy.Scope.tenants(answer.tenant_id)):
        enrollment = db.session.get(Enrollment, (answer.tenant_id, answer.enrollment_id))
        return payments.pay_link_for(enrollment) if enrollment is not None else None


def _page(entry=None, answer=None, not_found=False, status=200, card=False):
    """The status check's page: `entry` (a StatusEntry) only when it is sent back with
    its errors."""
    page = pages.frame()
    blank_form = None if entry or card else pages.fragment("selfservice/_status_form.html",
                                                           page)
    return pages.render("selfservice/cek.html", page, entry=entry, blank_form=blank_form,
                        answer=answer, not_found=not_found, card=card,
                        not_found_message=services.not_found_message() if not_found else "",
                        pay_url=pay_url_for(answer) if answer else None), status


@bp.route("/cek", methods=["GET", "POST"])
@csrf.exempt
@_limited
def check():
    if request.method != "POST":
        return _page()
    entry = _status_entry()
    if entry.errors:
        return _page(entry, status=422)
    answer = services.check_status(entry.identifier, entry.birth_date)
    # What was typed is not written back into the page: the NIK stays out of the HTML,
    # and "not found" and "wrong birth date" pages are the same bytes.
    return _page(answer=answer, not_found=answer is None)


@bp.route("/cek/<card_token>")
@limiter.limit(_card_limit, "card-address", methods=["GET"])
def card(card_token: str):
    answer = services.check_card(card_token)
    if answer is None:
        return pages.render("selfservice/card_invalid.html"), 404
    return _page(answer=answer, card=True)


# --- the API -----------------------------------------------------------------------------


@api_blp.route("/status", methods=["POST"])
@_limited
@api_blp.doc(security=[])
@api_blp.arguments(StatusRequestSchema)
@api_blp.response(200, StatusAnswerSchema)
@api_blp.alt_response(404, description="No member with this identifier and birth date "
                                       "(the same answer whichever of them is wrong).")
@api_blp.alt_response(429, description="Too many checks from this address or for this "
                                       "identifier; try again later.")
def status(args):
    """The member's status by member number or NIK plus birth date (no token needed)."""
    # A malformed identifier raises DomainError: 422 naming the field (bungkesmas.web).
    if args.get("member_number"):
        identifier = services.parse_member_number(args["member_number"])
    else:
        identifier = services.parse_nik(args["nik"])
    answer = services.check_status(identifier, args["birth_date"])
    if answer is None:
        raise services.NotFound(services.not_found_message())
    return {
        "status": str(answer.status) if answer.status else None, "status_text": answer.text,
        "until": answer.until, "product": answer.product,
        "partner": {"name": answer.partner_name, "phone": answer.partner_phone,
                    "email": answer.partner_email},
        "last_payment_on": answer.last_payment_on, "amount_due": answer.amount_due,
        "due_on": answer.due_on, "pay_url": pay_url_for(answer),
    }

