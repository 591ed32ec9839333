"""The fast count of members by coverage status (`services.status_counts`, read from the
trigger-kept `enrollment_counts`) agrees with `status_of` over every enrollment: for a
mixed data set, on every day where a status changes, after transfers, cancellations,
reversals and bulk inserts, in every scope."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.auth.permissions import Role
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.coverage import Status
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Enrollment, EnrollmentStatus
from bungkesmas.timeutil import local_today

C = 150_000


def _pay(enrollment, amount, on):
    tenancy.enter_workspace(enrollment.tenant_id)
    entry = ledger.record_payment(None, enrollment, "cash", amount, on)
    db.session.commit()
    return entry


def _expected(day, partner_id=None) -> dict[Status, int]:
    with tenancy.everything():
        enrollments = db.session.scalars(select(Enrollment)).all()
        counted = Counter(ledger.status_of(e, day) for e in enrollments
                          if partner_id is None or e.tenant_id == partner_id)
    return {s: counted.get(s, 0) for s in Status}


def _fast(day, partner_id=None) -> dict[Status, int]:
    with tenancy.everything():
        return ledger.status_counts(day, partner_id)


def _changing_days() -> set:
    """Every day on which some enrollment's status changes, and the days either side."""
    with tenancy.everything():
        rows = db.session.execute(select(Enrollment.waiting_until, Enrollment.covered_until,
                                         Enrollment.grace_until)).all()
    days = {d for row in rows for d in row if d is not None}
    return {d + timedelta(days=k) for d in days for k in (-1, 0, 1)}


@pytest.fixture
def mixed(make):
    """Two partners with enrollments in every status, one product whose waiting period
    is longer than its term (so waiting ends after the cover does)."""
    today = local_today()
    a, b = make.partner(), make.partner()
    odd = make.product(a, code="ODD", term_months=1, waiting_days=60, grace_days=10)

    def enrolled(partner, days_ago, product=None):
        return make.enrollment(partner, product, enrolled_on=today - timedelta(days=days_ago))

    out = {"a": a, "b": b, "today": today, "enrollments": []}
    plans = [
        (a, 400, []),                                        # pending
        (a, 400, [(40_000, 300)]),                           # pending, with savings
        (a, 400, [(C, 3)]),                                  # waiting
        (a, 400, [(C, 100)]),                                # active
        (a, 400, [(C, 370)]),                                # grace
        (a, 400, [(C, 399)]),                                # lapsed
        (b, 800, [(C, 790), (C, 420)]),                      # lapsed, paid again: active
        (b, 800, [(C, 790), (2 * C, 700)]),                  # prepaid: active
        (b, 30, [(C, 0)]),                                   # waiting from today
        (b, 500, [(60_000, 480), (60_000, 470), (30_000, 460)]),  # instalments
    ]
    for partner, days_ago, payments in plans:
        e = enrolled(partner, days_ago)
        for amount, ago in payments:
            _pay(e, amount, today - timedelta(days=ago))
        out["enrollments"].append(e)
    # Waiting until after the cover ends: term 1 month, waiting 60 days.
    odd_one = make.enrollment(a, odd, enrolled_on=today - timedelta(days=20))
    _pay(odd_one, C, today - timedelta(days=15))
    out["enrollments"].append(odd_one)
    return out


def test_the_fast_count_agrees_with_status_of_on_every_day_a_status_changes(app, mixed):
    today = mixed["today"]
    assert {s for s, n in _expected(today).items() if n} >= {
        Status.PENDING_PAYMENT, Status.WAITING, Status.ACTIVE, Status.GRACE, Status.LAPSED}
    for day in sorted(_changing_days() | {today}):
        assert _fast(day) == _expected(day), day
        assert _fast(day, mixed["a"].id) == _expected(day, mixed["a"].id), day


def test_the_count_follows_cancellations_reversals_and_transfers(app, make, mixed):
    today, a, b = mixed["today"], mixed["a"], mixed["b"]
    active, grace = mixed["enrollments"][3], mixed["enrollments"][4]
    # Cancel an active enrollment and a pending one.
    pending = mixed["enrollments"][0]
    with tenancy.everything():
        for e in (active, pending):
            e = db.session.get(Enrollment, (e.tenant_id, e.id))
            e.status, e.cancelled_at = EnrollmentStatus.CANCELLED, datetime.combine(today, time(4))
        db.session.commit()
    # Reverse the payment of the enrollment in grace: pending again.
    tenancy.enter_workspace(a.id)
    payment = next(e for e in ledger.entries_of(grace) if e.kind == "payment")
    ledger.reverse(None, payment, "Salah catat")
    db.session.commit()
    # Move two members of `a` to `b` (the foreign keys cascade the new partner).
    moving = [mixed["enrollments"][2].member_id, mixed["enrollments"][5].member_id]
    with tenancy.everything():
        members.transfer(make.admin, moving, b, reason="Pindah mitra")
        db.session.commit()
    for day in (today, today + timedelta(days=40), today + timedelta(days=400)):
        assert _fast(day) == _expected(day)
        for partner in (a, b):
            assert _fast(day, partner.id) == _expected(day, partner.id)
    assert _fast(today)[Status.CANCELLED] == 2


def test_a_bulk_insert_and_a_bulk_update_are_counted(app, make, mixed):
    """Many rows in one statement (as an import writes them, or a COPY)."""
    today, a = mixed["today"], mixed["a"]
    source = mixed["enrollments"][3]
    with tenancy.everything():
        template = db.session.get(Enrollment, (source.tenant_id, source.id))
        member_ids = [db.session.get(Enrollment, (e.tenant_id, e.id)).member_id
                      for e in mixed["enrollments"][:6]]
        table = Enrollment.__table__
        db.session.execute(table.insert(), [{
            "tenant_id": a.id, "id": tenancy.new_id(), "member_id": member_id,
            "product_version_id": template.product_version_id, "status": "pending_payment",
            "enrolled_at": datetime.combine(today, time(4)), "balance": 0, "terms_funded": 0,
            "covered_until": template.covered_until if k % 2 else None,
            "grace_until": template.grace_until if k % 2 else None,
            "waiting_until": template.waiting_until if k % 2 else None,
        } for k, member_id in enumerate(member_ids)])
        db.session.execute(table.update().where(table.c.tenant_id == a.id,
                                                table.c.covered_until.is_(None))
                           .values(status="cancelled"))
        db.session.commit()
    for day in (today, today + timedelta(days=200)):
        assert _fast(day) == _expected(day)


def test_the_count_keeps_to_the_scope(app, mixed):
    today, a, b = mixed["today"], mixed["a"], mixed["b"]
    tenancy.enter_workspace(a.id)
    assert ledger.status_counts(today) == _expected(today, a.id)
    assert ledger.status_counts(today, b.id) == dict.fromkeys(Status, 0)
    tenancy.activate(tenancy.Scope.nobody())
    assert ledger.status_counts(today) == dict.fromkeys(Status, 0)


def test_the_provider_partners_page_shows_members_by_status(app, client, make, login_as, mixed):
    expected = _expected(mixed["today"])
    login_as(make.provider(Role.PROVIDER_STAFF))
    page = client.get("/admin/partners").get_data(as_text=True)
    for status, n in expected.items():
        assert f'data-status="{status}">{n}<' in page, status
