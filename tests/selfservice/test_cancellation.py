"""Cancelling an enrollment: the partner admin ends it with a reason; the status check
says so, no contribution can be recorded for it any more, the money already recorded
stays, the counts follow, it is audited — and when it was the member's last open
enrollment, the member's printed cards stop working."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.coverage import Status
from bungkesmas.contributions.models import LedgerEntry
from bungkesmas.errors import Conflict, DomainError
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Enrollment, EnrollmentStatus, Member
from bungkesmas.selfservice import services
from bungkesmas.timeutil import local_today
from tests.helpers import login
from tests.selfservice.conftest import ADMIN, SLUG


def _member(someone) -> Member:
    return db.session.scalar(select(Member).where(Member.id == someone.member_id))


def _enrollments(someone) -> list[Enrollment]:
    return list(db.session.scalars(select(Enrollment).where(
        Enrollment.member_id == someone.member_id).order_by(Enrollment.enrolled_at)))


def _admin():
    from bungkesmas.auth import services as auth

    with tenancy.everything():
        return auth.user_by_email(ADMIN)


def _cancel(partner, someone, reason="Pindah ke luar daerah", enrollment=None, actor=None):
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        enrollment = enrollment or _enrollments(someone)[0]
        done = members.cancel_enrollment(actor or _admin(), partner, _member(someone),
                                         enrollment.id, reason)
        db.session.commit()
        return done


def test_a_cancelled_enrollment_shows_as_cancelled_and_keeps_its_money(app, partner, active):
    token = services.card_token(_in(partner, lambda: _member(active)))
    paid = _in(partner, lambda: db.session.scalar(
        select(func.sum(LedgerEntry.amount)).where(LedgerEntry.member_id == active.member_id)))
    enrollment = _cancel(partner, active)
    assert enrollment.status == EnrollmentStatus.CANCELLED and enrollment.cancelled_at
    answer = services.check_status(services.parse_member_number(active.number),
                                   active.birth_date)
    assert answer.status == Status.CANCELLED and answer.amount_due is None
    assert answer.text == "Kepesertaan dibatalkan"
    # The ledger is untouched: the money paid is still there, no row added or removed.
    assert _in(partner, lambda: db.session.scalar(
        select(func.sum(LedgerEntry.amount)).where(LedgerEntry.member_id == active.member_id))
    ) == paid
    # Its last open enrollment: the printed cards stop working.
    assert services.check_card(token) is None


def test_the_cancellation_is_audited_with_its_reason(app, partner, active):
    _cancel(partner, active, reason="  Meninggal   dunia ")
    with tenancy.everything():
        events = {e.action: e for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(("enrollment.cancel", "member.cards_revoke"))))}
    event = events["enrollment.cancel"]
    assert event.partner_id == partner.id and event.actor_label.startswith("user:")
    assert event.before == {"status": "pending_payment"}
    assert event.after["status"] == "cancelled" and event.after["reason"] == "Meninggal dunia"
    assert event.after["member"] == active.number and event.after["cards_revoked"] is True
    assert events["member.cards_revoke"].after == {"card_version": 2}


def test_no_contribution_is_recorded_for_a_cancelled_enrollment(app, partner, active):
    enrollment = _cancel(partner, active)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        enrollment = db.session.get(Enrollment, (partner.id, enrollment.id))
        with pytest.raises(DomainError, match="dibatalkan"):
            ledger.record_payment(None, enrollment, "cash", 150_000, local_today())


def test_the_counts_by_status_follow_the_cancellation(app, partner, active, pending):
    with tenancy.everything():
        before = ledger.status_counts()
    _cancel(partner, pending)
    with tenancy.everything():
        after = ledger.status_counts()
    assert after[Status.CANCELLED] == before[Status.CANCELLED] + 1
    assert after[Status.PENDING_PAYMENT] == before[Status.PENDING_PAYMENT] - 1
    assert after[Status.ACTIVE] == before[Status.ACTIVE]


def test_cards_stay_valid_while_another_enrollment_is_open(app, make, partner, product, active):
    other = make.product(partner, code="LAIN", waiting_days=0)
    second = make.enrollment(partner, other, member_number=active.number,
                             enrolled_on=local_today() - timedelta(days=1))
    db.session.commit()
    token = services.card_token(_in(partner, lambda: _member(active)))
    first = _in(partner, lambda: [e for e in _enrollments(active) if e.id != second.id][0])
    _cancel(partner, active, enrollment=first)
    answer = services.check_card(token)
    assert answer is not None and answer.status != Status.CANCELLED


@pytest.mark.parametrize(("reason", "message"), [
    ("", "Tuliskan alasan"),
    ("   ", "Tuliskan alasan"),
    ("x" * 501, "500"),
])
def test_a_cancellation_needs_a_short_reason(app, partner, active, reason, message):
    with pytest.raises(DomainError, match=message) as raised:
        _cancel(partner, active, reason=reason)
    assert raised.value.field == "reason"
    db.session.rollback()
    assert _in(partner, lambda: _enrollments(active)[0].status) == EnrollmentStatus.PENDING_PAYMENT


def test_an_enrollment_is_cancelled_once(app, partner, active):
    enrollment = _cancel(partner, active)
    with pytest.raises(Conflict):
        _cancel(partner, active, enrollment=enrollment)


def _in(partner, read):
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        return read()


# --- the member page -------------------------------------------------------------------


def _url(someone, enrollment_id) -> str:
    return f"/p/{SLUG}/peserta/{someone.number}/kepesertaan/{enrollment_id}/batal"


def _field(enrollment_id) -> str:
    return f"batal-{enrollment_id.hex[:12]}-reason"


def test_the_admin_cancels_from_the_member_page(client, partner, active):
    login(client, ADMIN)
    enrollment_id = _in(partner, lambda: _enrollments(active)[0].id)
    page = client.get(f"/p/{SLUG}/peserta/{active.number}").get_data(as_text=True)
    assert _url(active, enrollment_id) in page and _field(enrollment_id) in page
    response = client.post(_url(active, enrollment_id), data={_field(enrollment_id): ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{_field(enrollment_id)}-error"' in html and "wajib diisi" in html
    response = client.post(_url(active, enrollment_id),
                           data={_field(enrollment_id): "Pindah ke luar daerah"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Kepesertaan telah dibatalkan." in page  # the flash
    assert _url(active, enrollment_id) not in page  # nothing left to cancel
    assert _in(partner, lambda: _enrollments(active)[0].status) == EnrollmentStatus.CANCELLED


def test_an_officer_cannot_cancel(client, make, partner, active):
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    login(client, officer.email)
    enrollment_id = _in(partner, lambda: _enrollments(active)[0].id)
    page = client.get(f"/p/{SLUG}/peserta/{active.number}").get_data(as_text=True)
    assert _url(active, enrollment_id) not in page
    assert client.post(_url(active, enrollment_id),
                       data={_field(enrollment_id): "alasan"}).status_code == 403
    assert _in(partner, lambda: _enrollments(active)[0].status) == EnrollmentStatus.PENDING_PAYMENT


def test_another_partner_cannot_cancel_ours(client, make, partner, active):
    make.partner(slug="mitra-lain", admin_email="admin-lain@contoh.id")
    login(client, "admin-lain@contoh.id")
    enrollment_id = _in(partner, lambda: _enrollments(active)[0].id)
    for url in (_url(active, enrollment_id).replace(SLUG, "mitra-lain"),
                _url(active, enrollment_id)):
        assert client.post(url, data={_field(enrollment_id): "alasan"}).status_code == 404
    assert _in(partner, lambda: _enrollments(active)[0].status) == EnrollmentStatus.PENDING_PAYMENT


def test_an_unknown_enrollment_is_not_found(client, partner, active, pending):
    login(client, ADMIN)
    others = _in(partner, lambda: _enrollments(pending)[0].id)  # another member's
    assert client.post(_url(active, others), data={_field(others): "alasan"}).status_code == 404
    assert _in(partner, lambda: _enrollments(pending)[0].status) == EnrollmentStatus.PENDING_PAYMENT
