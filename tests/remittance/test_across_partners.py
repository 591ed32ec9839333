"""The provider's overview across partners (`remittance.across_partners`): read for all
partners at once, it gives each partner the very statement its own page computes — issued
with receipts, open with adjustments, skipped, quarterly, under an MOU whose fee share
changes mid-period — in a number of queries that does not grow with the partners."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from bungkesmas import tenancy
from bungkesmas.contributions import services as ledger
from bungkesmas.extensions import db
from bungkesmas.partners.models import Partner
from bungkesmas.remittance import services as remittance
from bungkesmas.remittance.periods import Frequency, period_of
from bungkesmas.remittance.services import PeriodState
from bungkesmas.timeutil import local_today

C = 150_000


def pay(enrollment, amount, on):
    tenancy.enter_workspace(enrollment.tenant_id)
    ledger.record_payment(None, enrollment, "cash", amount, on, None)
    db.session.commit()


def close(partner, period):
    issued = remittance.issue(None, partner, period)
    db.session.commit()
    return issued


@pytest.fixture
def world(make):
    """Partners in every state a statement can be in, for the months before last, last
    and this one."""
    today = local_today()
    current = period_of(today, Frequency.MONTHLY)
    last, before_last = current.previous(), current.previous().previous()
    long_ago = today - timedelta(days=400)

    def member(partner):
        return make.enrollment(partner, enrolled_on=long_ago)

    # Issued last month: fully received (settled), and with less received (short).
    for short_by, reference in ((0, "BRI-1"), (1_000, "BRI-2")):
        partner = make.partner()
        pay(member(partner), C, last.start + timedelta(days=2))
        close(partner, before_last)
        issued = close(partner, last)
        remittance.record_receipt(make.admin, partner, issued.number,
                                  issued.due_to_provider - short_by, today, reference)
        db.session.commit()

    late = make.partner()  # a row for a closed period: an adjustment next
    enrollment = member(late)
    pay(enrollment, C, before_last.start + timedelta(days=1))
    close(late, before_last)
    pay(enrollment, 25_000, before_last.start + timedelta(days=5))
    pay(enrollment, 60_000, last.start + timedelta(days=1))

    skipping = make.partner()  # before_last never closed: skipped
    enrollment = member(skipping)
    pay(enrollment, C, last.start)
    close(skipping, last)
    pay(enrollment, 10_000, before_last.start + timedelta(days=3))

    quarterly = make.partner(mou=False)
    make.active_mou(quarterly, start_date=long_ago, fee_share_bp=1500,
                    remittance_frequency="quarterly", remittance_due_day=5)
    pay(member(quarterly), C, last.start + timedelta(days=4))

    under_mou = make.partner(mou=False)  # settings, then an MOU from mid-month
    remittance.update_settings(make.admin, under_mou, 1250, "monthly", 15)
    db.session.commit()
    make.active_mou(under_mou, start_date=last.start + timedelta(days=14), fee_share_bp=1000)
    enrollment = member(under_mou)
    pay(enrollment, 100_000, last.start)
    pay(enrollment, 100_003, last.start + timedelta(days=20))

    make.partner()  # no money at all
    tenancy.enter_workspace(None)
    return {"today": today, "months": (before_last, last, current), "make": make}


def one_by_one(month, today) -> dict[int, remittance.Statement]:
    """What each partner's own statement for the month is, read partner by partner."""
    out = {}
    for partner in db.session.scalars(select(Partner).where(Partner.slug.is_not(None))):
        issued = remittance._statement_covering(partner.id, month.start)
        if issued is not None:
            statement = remittance.from_issued(issued)
        else:
            statement = remittance.compute(
                partner.id, remittance.TermsBook(partner.id).period(month.start))
            if statement.state == PeriodState.SKIPPED:
                continue
        out[partner.id] = remittance.reconcile(statement, today)
    return out


def figures(statement: remittance.Statement) -> dict:
    values = {k: v for k, v in vars(statement).items() if k not in ("issued", "receipts")}
    values["issued"] = statement.issued.id if statement.issued is not None else None
    values["receipts"] = [r.id for r in statement.receipts]
    return values


def test_every_partner_gets_the_statement_its_own_page_shows(world):
    today = world["today"] + timedelta(days=40)  # after every due day: real statuses
    with tenancy.everything():
        for month in world["months"]:
            rows = remittance.across_partners(month, today)
            expected = one_by_one(month, today)
            assert [r.partner.id for r in rows] == [
                p.id for p in db.session.scalars(select(Partner).where(
                    Partner.id.in_(list(expected))).order_by(Partner.name))]
            assert {r.partner.id: figures(r.statement) for r in rows} == {
                partner_id: figures(s) for partner_id, s in expected.items()}
            only = remittance.across_partners(month, today, only_differences=True)
            assert [r.partner.id for r in only] == [
                r.partner.id for r in rows if r.statement.difference != 0]
        # The states the fixture means to cover are there.
        last = {r.partner.id: r.statement for r in remittance.across_partners(
            world["months"][1], today)}
        states = {(s.state, s.status) for s in last.values()}
        assert (PeriodState.ISSUED, remittance.ReconciliationStatus.SETTLED) in states
        assert (PeriodState.ISSUED, remittance.ReconciliationStatus.SHORT) in states
        assert any(s.adjustments == 25_000 for s in last.values())
        assert any(len(s.fee_parts) == 2 for s in last.values())
        assert any(s.period.frequency == Frequency.QUARTERLY for s in last.values())
        before_last = one_by_one(world["months"][0], today)
        assert len(before_last) == len(last) - 1  # the skipped one is left out


def _queries(month, today) -> int:
    count = [0]

    def counted(*_args):
        count[0] += 1

    event.listen(db.engine, "before_cursor_execute", counted)
    try:
        with tenancy.everything():
            remittance.across_partners(month, today)
    finally:
        event.remove(db.engine, "before_cursor_execute", counted)
    return count[0]


def test_the_overview_reads_the_same_number_of_queries_for_ten_more_partners(world):
    month, today = world["months"][1], world["today"]
    before = _queries(month, today)
    make = world["make"]
    for _ in range(5):
        pay(make.enrollment(make.partner(), enrolled_on=today - timedelta(days=400)), C,
            month.start)
        make.partner()
    tenancy.enter_workspace(None)
    assert _queries(month, today) == before
