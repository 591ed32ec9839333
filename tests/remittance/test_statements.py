"""Remittance statements: what a partner collected per period (by method and product),
the fee share and its rounding, transfers, issued statements that never change, late
rows as adjustments, the order of closing periods, settings, and the append-only wall."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.auth.services import user_by_email
from bungkesmas.contributions import services as ledger
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.remittance import services as remittance
from bungkesmas.remittance.models import (
    RemittanceStatement,
    RemittanceStatementLine,
    StatementSide,
)
from bungkesmas.remittance.periods import Frequency, parse_period, period_of
from bungkesmas.remittance.services import PeriodState
from bungkesmas.timeutil import local_today

C = 150_000


@pytest.fixture
def world(make):
    partner = make.partner(admin_email="admin-setoran@contoh.id")
    with tenancy.everything():
        admin = user_by_email("admin-setoran@contoh.id")
    other = make.partner()
    today = local_today()
    current = period_of(today, Frequency.MONTHLY)
    return {"make": make, "partner": partner, "admin": admin, "other": other, "today": today,
            "current": current, "last": current.previous(),
            "before_last": current.previous().previous()}


def enrolled(world, partner=None, product=None, **rules):
    partner = partner or world["partner"]
    return world["make"].enrollment(partner, product,
                                    enrolled_on=world["today"] - timedelta(days=400), **rules)


def pay(enrollment, amount=C, on=None, method="cash", reference=None):
    tenancy.enter_workspace(enrollment.tenant_id)
    entry = ledger.record_payment(None, enrollment, method, amount, on or local_today(),
                                  reference)
    db.session.commit()
    return entry


def statement(partner, key):
    tenancy.enter_workspace(partner.id)
    return remittance.find(partner.id, key)


def close(world, period, actor=None, partner=None):
    result = remittance.issue(actor, partner or world["partner"], period)
    db.session.commit()
    return result


# --- the fee share --------------------------------------------------------------------------


@pytest.mark.parametrize(("collected", "bps", "fee"), [
    (150_000, 1000, 15_000),
    (150_000, 1250, 18_750),
    (333, 1500, 50),         # 49.95 → 50
    (5, 1000, 1),            # 0.5 → 1: half rounds up
    (4, 1000, 0),            # 0.4 → 0
    (15, 1000, 2),           # 1.5 → 2
    (14, 1000, 1),           # 1.4 → 1
    (0, 1000, 0),
    (-5, 1000, -1),          # half away from zero: −x gets −fee(x)
    (-14, 1000, -1),
    (123_456_789, 0, 0),
    (123_456_789, 10_000, 123_456_789),
])
def test_the_fee_share_is_rounded_half_up_to_whole_rupiah(collected, bps, fee):
    assert remittance.fee_share(collected, bps) == fee


# --- periods --------------------------------------------------------------------------------


def test_periods_are_calendar_months_or_quarters_with_stable_keys():
    october = period_of(date(2026, 10, 17), Frequency.MONTHLY)
    assert (october.start, october.end, october.key) == (date(2026, 10, 1), date(2026, 11, 1),
                                                          "2026-10")
    assert october.last_day == date(2026, 10, 31)
    assert october.due_on(10) == date(2026, 11, 10)
    assert october.next().key == "2026-11" and october.previous().key == "2026-09"
    december = period_of(date(2026, 12, 31), Frequency.MONTHLY)
    assert december.next().key == "2027-01" and december.due_on(28) == date(2027, 1, 28)
    q4 = period_of(date(2026, 11, 5), Frequency.QUARTERLY)
    assert (q4.start, q4.end, q4.key) == (date(2026, 10, 1), date(2027, 1, 1), "2026-Q4")
    assert q4.previous().key == "2026-Q3" and q4.due_on(15) == date(2027, 1, 15)
    assert parse_period("2026-10") == october and parse_period("2026-q4") == q4
    for garbage in ("", "2026", "2026-13", "2026-00", "2026-Q5", "26-10", "1999-01",
                    "2026-10-01", "x" * 100, None, "２０２６-10"):
        assert parse_period(garbage) is None, garbage


# --- what a statement counts ----------------------------------------------------------------


def test_a_statement_sums_the_partners_money_by_method_kind_and_product(world, make):
    partner, period = world["partner"], world["last"]
    day = period.start + timedelta(days=3)
    bkm = make.product(partner, code="BKM")
    plus = make.product(partner, code="BKMPLUS", annual_contribution=200_000)
    first, second = enrolled(world, product=bkm), enrolled(world, product=plus)
    pay(first, C, day)
    pay(first, 50_000, day + timedelta(days=1), "bank_transfer", "BRI-1")
    pay(second, 200_000, day, "bank_transfer", "BNI-2")
    mistake = pay(second, 20_000, day)
    tenancy.enter_workspace(partner.id)
    ledger.withdraw_savings(None, first, 10_000, day + timedelta(days=2))
    db.session.commit()
    ledger.reverse(world["admin"], mistake, "Salah catat")  # dated today: the current period
    db.session.commit()
    # Outside the period, and another partner's money: not counted.
    pay(first, 30_000, period.start - timedelta(days=1))
    pay(enrolled(world, partner=world["other"]), C, day)

    result = statement(partner, period.key)
    assert result.state == PeriodState.OPEN and result.number is None
    assert result.period_collected == C + 50_000 + 200_000 + 20_000 - 10_000
    assert result.adjustments == 0 and result.collected == result.period_collected
    assert result.line_count == 5  # premium rows (method savings) are not money received
    assert {m["method"]: (m["amount"], m["count"]) for m in result.by_method} == {
        "cash": (C + 20_000 - 10_000, 3), "bank_transfer": (250_000, 2)}
    assert {k["kind"]: k["amount"] for k in result.by_kind} == {
        "payment": C + 50_000 + 200_000 + 20_000, "withdrawal": -10_000}
    assert {p["product_code"]: (p["amount"], p["count"]) for p in result.by_product} == {
        "BKM": (C + 50_000 - 10_000, 3), "BKMPLUS": (220_000, 2)}
    current = statement(partner, world["current"].key)
    assert current.period_collected == -20_000  # the reversal, in the period it was made
    assert {k["kind"] for k in current.by_kind} == {"reversal"}


def test_without_an_mou_in_force_the_fee_and_the_due_day_follow_the_partners_settings(
        world, make):
    # The factory's MOU started 30 days ago: the month before last precedes it.
    partner, period = world["partner"], world["before_last"]
    remittance.update_settings(make.admin, partner, 1250, "monthly", 15)
    db.session.commit()
    pay(enrolled(world), 150_003, period.start)
    result = statement(partner, period.key)
    assert result.collected == 150_003
    assert result.fee_share_bp == 1250 and result.fee == 18_750  # 18 750.375 → 18 750
    assert result.due_to_provider == 150_003 - 18_750
    assert result.due_on == period.end.replace(day=15)


def test_a_partner_without_mou_or_settings_gets_the_defaults(world, make):
    terms = remittance.terms_on(make.partner(mou=False).id, world["today"])
    assert terms == remittance.DEFAULT_TERMS
    assert (terms.fee_share_bp, terms.frequency, terms.due_day) == (0, Frequency.MONTHLY, 10)


def test_money_stays_with_the_partner_that_collected_it_when_the_member_moves(world, make):
    source, target, period = world["partner"], world["other"], world["last"]
    enrollment = enrolled(world)
    pay(enrollment, C, period.start + timedelta(days=2))
    member_id = enrollment.member_id
    with tenancy.everything():
        members.transfer(make.admin, [member_id], target, reason="Pindah mitra")
        db.session.commit()
    assert statement(source, period.key).collected == C
    assert statement(target, period.key).collected == 0
    # The new partner's own collections are its own.
    with tenancy.everything():
        from bungkesmas.members.models import Enrollment

        moved = db.session.scalar(select(Enrollment).where(Enrollment.member_id == member_id))
    pay(moved, 40_000, local_today())
    assert statement(target, world["current"].key).collected == 40_000
    assert statement(source, world["current"].key).collected == 0
    # And the collector closes its period with the moved member's money in it.
    issued = close(world, period)
    assert issued.collected == C and issued.line_count == 1


# --- issued statements ----------------------------------------------------------------------


def test_closing_a_period_freezes_the_statement_with_a_stable_number(world, make):
    partner, period = world["partner"], world["last"]
    remittance.update_settings(make.admin, partner, 1000, "monthly", 10)
    db.session.commit()
    pay(enrolled(world), C, period.start + timedelta(days=4))
    issued = close(world, period, make.admin)
    assert issued.state == PeriodState.ISSUED
    assert issued.number == f"SET-{partner.id:04d}-{period.key}"
    assert (issued.collected, issued.fee, issued.due_to_provider) == (C, 15_000, 135_000)
    assert issued.issued.issued_by_side == StatementSide.PROVIDER
    # Later changes of the terms do not touch it; the same statement by number, id, period.
    remittance.update_settings(make.admin, partner, 2000, "monthly", 20)
    db.session.commit()
    for ref in (issued.number, str(issued.issued.id), period.key, issued.number.lower()):
        again = statement(partner, ref)
        assert (again.number, again.fee, again.due_on) == (issued.number, 15_000,
                                                           period.end.replace(day=10))
    with tenancy.everything():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "remittance.statement.issue"))
    assert event.partner_id == partner.id and event.after["due_to_provider"] == 135_000


def test_a_late_row_for_a_closed_period_becomes_an_adjustment_on_the_next_statement(world):
    partner, first, second = world["partner"], world["before_last"], world["last"]
    enrollment = enrolled(world)
    pay(enrollment, C, first.start + timedelta(days=1))
    issued_first = close(world, first)
    # A paper receipt dated in the closed period is recorded afterwards.
    late = pay(enrollment, 25_000, first.start + timedelta(days=9))
    pay(enrollment, 60_000, second.start + timedelta(days=1))
    frozen = statement(partner, first.key)
    assert (frozen.collected, frozen.line_count) == (C, 1)  # never changes
    assert frozen.number == issued_first.number
    preview = statement(partner, second.key)
    assert (preview.period_collected, preview.adjustments, preview.collected) == (
        60_000, 25_000, 85_000)
    assert [(a["receipt_number"], a["amount"], a["received_on"])
            for a in preview.adjustment_lines] == [(late.receipt_number, 25_000, late.received_on)]
    # The period after next shows no adjustment: it is carried once.
    assert statement(partner, world["current"].key).adjustments == 0
    issued_second = close(world, second)
    assert (issued_second.period_collected, issued_second.adjustments) == (60_000, 25_000)
    assert [a["receipt_number"] for a in issued_second.adjustment_lines] == [late.receipt_number]
    # Every money row is counted exactly once over all statements.
    with tenancy.everything():
        counted = db.session.execute(select(RemittanceStatementLine.id, func.count())
                                     .group_by(RemittanceStatementLine.id)).all()
        total = db.session.scalar(select(func.sum(RemittanceStatement.collected)))
    assert len(counted) == 3 and all(n == 1 for _id, n in counted)
    assert total == C + 25_000 + 60_000
    assert statement(partner, world["current"].key).adjustments == 0


def test_periods_are_closed_in_order_and_only_once_they_are_over(world):
    partner, first, second = world["partner"], world["before_last"], world["last"]
    enrollment = enrolled(world)
    pay(enrollment, C, first.start)
    pay(enrollment, C, second.start)
    with pytest.raises(DomainError, match=world["current"].end.strftime("%d-%m-%Y")):
        remittance.issue(None, partner, world["current"])  # not over yet
    db.session.rollback()
    with pytest.raises(DomainError, match=first.key):
        remittance.issue(None, partner, second)  # the earlier period holds money
    db.session.rollback()
    assert not remittance.closable(statement(partner, second.key))
    assert remittance.closable(statement(partner, first.key))
    close(world, first)
    with pytest.raises(Conflict):
        remittance.issue(None, partner, first)
    db.session.rollback()
    close(world, second)
    with tenancy.everything():
        assert db.session.scalar(select(func.count()).select_from(RemittanceStatement)) == 2


def test_an_empty_earlier_period_need_not_be_closed_and_is_skipped_afterwards(world):
    partner, first, second = world["partner"], world["before_last"], world["last"]
    enrollment = enrolled(world)
    pay(enrollment, C, second.start)
    close(world, second)
    # Money dated in the skipped period arrives later: carried into the next statement.
    pay(enrollment, 10_000, first.start + timedelta(days=3))
    skipped = statement(partner, first.key)
    assert skipped.state == PeriodState.SKIPPED and skipped.skipped_total == 10_000
    with pytest.raises(DomainError, match=second.key):  # a later period is closed
        remittance.issue(None, partner, first)
    db.session.rollback()
    assert statement(partner, world["current"].key).adjustments == 10_000


def test_a_period_without_money_can_be_closed_with_a_zero_statement(world):
    issued = close(world, world["last"])
    assert (issued.collected, issued.fee, issued.due_to_provider, issued.line_count) == (
        0, 0, 0, 0)


def test_statements_of_another_partner_are_not_found(world):
    pay(enrolled(world), C, world["last"].start)
    issued = close(world, world["last"])
    other = world["other"]
    for ref in (issued.number, str(issued.issued.id)):
        with pytest.raises(LookupError):
            statement(other, ref)
    with pytest.raises(LookupError):
        statement(world["partner"], "SET-9999-2020-01")
    for garbage in ("", "bukan", "2026-13", "x" * 50):
        with pytest.raises(LookupError):
            statement(world["partner"], garbage)


def test_closing_needs_the_permission(world, make):
    partner, period = world["partner"], world["last"]
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    staff = make.provider(Role.PROVIDER_STAFF)
    tenancy.enter_workspace(partner.id)
    for actor in (officer, staff):
        with pytest.raises(NotAllowed):
            remittance.issue(actor, partner, period)
        db.session.rollback()
    issued = close(world, period, world["admin"])
    assert issued.issued.issued_by_side == StatementSide.PARTNER


# --- settings ------------------------------------------------------------------------------


def test_settings_are_validated_and_audited(world, make):
    partner = world["partner"]
    for values, field in (((-1, "monthly", 10), "fee_share_bp"),
                          ((10_001, "monthly", 10), "fee_share_bp"),
                          ((True, "monthly", 10), "fee_share_bp"),
                          (("1000", "monthly", 10), "fee_share_bp"),
                          ((1000, "weekly", 10), "frequency"),
                          ((1000, "monthly", 0), "due_day"),
                          ((1000, "monthly", 29), "due_day")):
        with pytest.raises(DomainError) as err:
            remittance.update_settings(make.admin, partner, *values)
        assert err.value.field == field, values
        db.session.rollback()
    with pytest.raises(NotAllowed):
        remittance.update_settings(make.provider(Role.PROVIDER_STAFF), partner, 1000,
                                   "monthly", 10)
    db.session.rollback()
    remittance.update_settings(make.admin, partner, 1500, "quarterly", 5)
    db.session.commit()
    assert remittance.terms_on(partner.id, world["before_last"].start) == remittance.Terms(
        1500, Frequency.QUARTERLY, 5, "settings")
    with tenancy.everything():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "remittance.settings"))
    assert event.partner_id == partner.id and event.before is None
    assert event.after == {"fee_share_bp": 1500, "frequency": "quarterly", "due_day": 5}


def test_a_quarterly_partner_gets_one_statement_per_quarter(world, make):
    partner = world["partner"]
    remittance.update_settings(make.admin, partner, 1000, "quarterly", 10)
    db.session.commit()
    quarter = period_of(world["today"], Frequency.QUARTERLY).previous()
    enrollment = enrolled(world)
    pay(enrollment, C, quarter.start)
    pay(enrollment, 30_000, quarter.last_day)
    result = statement(partner, quarter.key)
    assert result.collected == C + 30_000 and result.due_on == quarter.end.replace(day=10)
    with pytest.raises(LookupError):  # a month is not a period of this partner's schedule
        statement(partner, quarter.start.strftime("%Y-%m"))
    issued = close(world, quarter)
    assert issued.number.endswith(quarter.key) and issued.collected == C + 30_000


def test_the_schedule_can_change_only_at_the_boundary_of_its_periods(world, make):
    partner = world["partner"]
    # Close a month that ends inside a quarter (not at its last month) if there is one.
    month = world["last"]
    while period_of(month.end, Frequency.QUARTERLY).start == month.end:
        month = month.previous()
    close(world, month)
    with pytest.raises(DomainError) as err:
        remittance.update_settings(make.admin, partner, 1000, "quarterly", 10)
    assert err.value.field == "frequency"
    db.session.rollback()
    remittance.update_settings(make.admin, partner, 1000, "monthly", 12)  # no change: fine
    db.session.commit()


# --- the wall ------------------------------------------------------------------------------


def test_the_database_refuses_to_change_an_issued_statement(world, database):
    issued = close(world, world["last"]).issued
    tenancy.enter_workspace(world["partner"].id)
    key = issued.id if database.backend == "postgresql" else issued.id.hex
    with database.owner.connect() as conn:
        with pytest.raises(Exception, match="append-only"):
            conn.execute(text("UPDATE remittance_statements SET fee = 1 WHERE id = :i"),
                         {"i": key})
        conn.rollback()


def test_the_database_refuses_to_delete_remittance_rows(world, database, pg_only):
    pay(enrolled(world), C, world["last"].start)
    issued = close(world, world["last"])
    remittance.record_receipt(None, world["partner"], issued.number, 1000, world["today"],
                              "BRI-1")
    db.session.commit()
    for table in ("remittance_statements", "remittance_statement_lines",
                  "remittance_receipts"):
        with database.owner.connect() as conn:
            with pytest.raises(Exception, match="append-only"):
                conn.execute(text(f"DELETE FROM {table} WHERE tenant_id = :t"),
                             {"t": world["partner"].id})
            conn.rollback()
    # The application's own role may neither update nor delete at all.
    tenancy.enter_workspace(world["partner"].id)
    for statement_ in ("UPDATE remittance_statements SET fee = 1",
                       "DELETE FROM remittance_receipts"):
        with pytest.raises(Exception, match="permission denied"):
            db.session.execute(text(statement_))
        db.session.rollback()


def test_online_payments_reach_the_provider_directly_and_are_not_on_the_statement(world):
    from bungkesmas.contributions.models import EntryMethod

    period = world["last"]
    enrollment = enrolled(world)
    pay(enrollment, 40_000, period.start)
    tenancy.enter_workspace(enrollment.tenant_id)
    online = ledger.record_payment(None, enrollment, EntryMethod.ONLINE, C,
                                   period.start + timedelta(days=1), "pi_test_1",
                                   methods=(EntryMethod.ONLINE,))
    db.session.commit()
    assert online.method == EntryMethod.ONLINE
    result = statement(world["partner"], period.key)
    assert result.collected == 40_000 and result.line_count == 1
