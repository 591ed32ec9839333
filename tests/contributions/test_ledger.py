"""The contribution ledger: payments, savings, premium allocation, reversals,
withdrawals, bad input, idempotency, permissions, transfers and the append-only wall."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.auth.services import user_by_email
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.coverage import Status
from bungkesmas.contributions.models import EntryKind, EntryMethod, LedgerEntry
from bungkesmas.errors import DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Enrollment, EnrollmentStatus
from bungkesmas.timeutil import local_today

C = 150_000  # the Bungkesmas contribution per year


@pytest.fixture
def world(make):
    partner = make.partner(admin_email="admin-ledger@contoh.id")
    with tenancy.everything():
        admin = user_by_email("admin-ledger@contoh.id")
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    return {"partner": partner, "admin": admin, "officer": officer, "make": make}


def enrolled(world, days_ago=400, **rules):
    today = local_today()
    return world["make"].enrollment(world["partner"], enrolled_on=today - timedelta(days=days_ago),
                                    **rules)


def rows(enrollment) -> list[LedgerEntry]:
    return ledger.entries_of(enrollment)


def balance_in_db(enrollment) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.enrollment_id == enrollment.id))


def pay(world, enrollment, amount=C, on=None, method="cash", reference=None, actor="admin",
        key=None):
    entry = ledger.record_payment(world[actor] if actor else None, enrollment, method, amount,
                                  on or local_today(), reference, key=key)
    db.session.commit()
    return entry


# --- payments, savings and premium rows ----------------------------------------------------


def test_a_full_contribution_in_cash_gets_a_receipt_and_funds_the_first_term(world):
    enrollment = enrolled(world, waiting_days=0)
    today = local_today()
    entry = pay(world, enrollment)
    partner = world["partner"]
    assert entry.kind == EntryKind.PAYMENT and entry.amount == C
    assert entry.receipt_number == f"KW-{partner.id:04d}-{today.year}-000001"
    assert entry.collected_by_partner_id == partner.id
    assert entry.recorded_by_id == world["admin"].id
    premiums = [e for e in rows(enrollment) if e.kind == EntryKind.PREMIUM]
    assert [(p.period_number, p.amount, p.received_on, p.receipt_number) for p in premiums] == [
        (1, -C, today, None)]
    db.session.refresh(enrollment)
    assert enrollment.terms_funded == 1 and enrollment.balance == 0
    assert enrollment.covered_until == date(today.year + 1, today.month, today.day) or (
        today.month == 2 and today.day == 29)
    assert ledger.status_of(enrollment) == Status.ACTIVE
    assert balance_in_db(enrollment) == enrollment.balance == 0


def test_partial_payments_accumulate_as_savings_until_a_term_is_funded(world):
    enrollment = enrolled(world)
    today = local_today()
    pay(world, enrollment, 100_000, on=today - timedelta(days=40))
    db.session.refresh(enrollment)
    assert enrollment.balance == 100_000 and enrollment.terms_funded == 0
    assert ledger.status_of(enrollment) == Status.PENDING_PAYMENT
    assert ledger.coverage_of(enrollment).amount_due == 50_000
    pay(world, enrollment, 80_000, on=today - timedelta(days=35))
    db.session.refresh(enrollment)
    assert enrollment.balance == 30_000 and enrollment.terms_funded == 1
    assert enrollment.first_funded_on == today - timedelta(days=35)
    # 30 days' waiting from the funded date, then active.
    assert enrollment.waiting_until == today - timedelta(days=5)
    assert ledger.status_of(enrollment) == Status.ACTIVE
    assert balance_in_db(enrollment) == 30_000


def test_prepaying_two_years_funds_two_terms_with_premium_rows(world):
    enrollment = enrolled(world, waiting_days=0)
    today = local_today()
    pay(world, enrollment, 2 * C)
    premiums = [e for e in rows(enrollment) if e.kind == EntryKind.PREMIUM]
    assert sorted(p.period_number for p in premiums) == [1, 2]
    db.session.refresh(enrollment)
    cover = ledger.coverage_of(enrollment)
    assert enrollment.covered_until == cover.covered_until == cover.periods[1].end
    assert cover.periods[1].start == cover.periods[0].end
    assert enrollment.terms_funded == 2 and enrollment.balance == 0
    assert cover.periods[0].start == today


def test_a_bank_transfer_keeps_its_reference(world):
    enrollment = enrolled(world)
    entry = pay(world, enrollment, method="bank_transfer", reference=" BRI-778812 ")
    assert entry.method == EntryMethod.BANK_TRANSFER
    assert entry.external_reference == "BRI-778812"


def test_receipt_numbers_follow_each_other_per_partner(world, make):
    first, second = enrolled(world), enrolled(world)
    numbers_ = [pay(world, first, 50_000).receipt_number, pay(world, second, 50_000).receipt_number,
                pay(world, first, 50_000).receipt_number]
    assert [n.rsplit("-", 1)[1] for n in numbers_] == ["000001", "000002", "000003"]
    other = make.partner()
    other_world = {**world, "partner": other}
    enrollment = make.enrollment(other)
    entry = ledger.record_payment(None, enrollment, "cash", 50_000, local_today())
    db.session.commit()
    assert entry.receipt_number == f"KW-{other.id:04d}-{local_today().year}-000001"
    assert other_world


def test_every_money_row_is_audited_with_who_what_and_how_much(world):
    enrollment = enrolled(world)
    entry = pay(world, enrollment, 60_000)
    ledger.reverse(world["admin"], entry, "Salah ketik jumlah")
    db.session.commit()
    with tenancy.everything():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action.like("contribution.%")).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["contribution.payment", "contribution.reversal"]
    assert events[0].actor_id == world["admin"].id
    assert events[0].partner_id == world["partner"].id
    assert events[0].after["amount"] == 60_000 and events[0].after["method"] == "cash"
    assert events[1].after["amount"] == -60_000
    assert events[1].after["reason"] == "Salah ketik jumlah"


# --- reversals ---------------------------------------------------------------------------


def test_reversing_the_funding_payment_unfunds_the_term_and_restores_the_earlier_state(world):
    enrollment = enrolled(world, waiting_days=0)
    pay(world, enrollment, 50_000, on=local_today() - timedelta(days=3))
    db.session.refresh(enrollment)
    before = (enrollment.balance, enrollment.terms_funded, enrollment.covered_until,
              ledger.status_of(enrollment))
    entry = pay(world, enrollment, C)
    db.session.refresh(enrollment)
    assert ledger.status_of(enrollment) == Status.ACTIVE
    reversal = ledger.reverse(world["admin"], entry, "Uang palsu")
    db.session.commit()
    assert reversal.kind == EntryKind.REVERSAL and reversal.amount == -C
    assert reversal.reverses_id == entry.id and reversal.method == EntryMethod.CASH
    assert reversal.receipt_number and reversal.receipt_number != entry.receipt_number
    db.session.refresh(enrollment)
    assert (enrollment.balance, enrollment.terms_funded, enrollment.covered_until,
            ledger.status_of(enrollment)) == before
    # The premium row of the unfunded term is reversed too; the original rows stay.
    premium = next(e for e in rows(enrollment) if e.kind == EntryKind.PREMIUM)
    assert ledger.reversal_of(premium) is not None
    assert balance_in_db(enrollment) == 50_000


@pytest.mark.parametrize("case", ["reversal", "twice", "premium", "no reason"])
def test_a_reversal_that_makes_no_sense_is_refused_and_nothing_is_written(world, case):
    enrollment = enrolled(world)
    entry = pay(world, enrollment)
    reversal = ledger.reverse(world["admin"], entry, "Salah catat")
    db.session.commit()
    target, reason = {
        "reversal": (reversal, "Batal"),
        "twice": (entry, "Lagi"),
        "premium": (next(e for e in rows(enrollment) if e.kind == EntryKind.PREMIUM), "Batal"),
        "no reason": (pay(world, enrollment, 10_000), "  "),
    }[case]
    count = len(rows(enrollment))
    with pytest.raises(DomainError):
        ledger.reverse(world["admin"], target, reason)
    db.session.rollback()
    assert len(rows(enrollment)) == count


def test_a_payment_whose_money_was_withdrawn_is_reversed_only_after_the_withdrawal(world):
    enrollment = enrolled(world)
    entry = pay(world, enrollment, 50_000)
    withdrawal = ledger.withdraw_savings(world["admin"], enrollment, 50_000, local_today())
    db.session.commit()
    with pytest.raises(DomainError):
        ledger.reverse(world["admin"], entry, "Salah catat")
    db.session.rollback()
    ledger.reverse(world["admin"], withdrawal, "Tidak jadi ditarik")
    ledger.reverse(world["admin"], entry, "Salah catat")
    db.session.commit()
    db.session.refresh(enrollment)
    assert enrollment.balance == 0 == balance_in_db(enrollment)


# --- withdrawals -------------------------------------------------------------------------


def test_a_member_withdraws_free_savings_but_never_the_money_that_pays_for_cover(world):
    enrollment = enrolled(world)
    pay(world, enrollment, 200_000, on=local_today() - timedelta(days=10))
    db.session.refresh(enrollment)
    covered = enrollment.covered_until
    with pytest.raises(DomainError) as refused:
        ledger.withdraw_savings(world["admin"], enrollment, 50_001, local_today())
    assert refused.value.field == "amount" and "Rp50.000" in refused.value.message
    db.session.rollback()
    entry = ledger.withdraw_savings(world["admin"], enrollment, 50_000, local_today())
    db.session.commit()
    assert entry.kind == EntryKind.WITHDRAWAL and entry.amount == -50_000
    assert entry.receipt_number
    db.session.refresh(enrollment)
    assert enrollment.balance == 0 and enrollment.covered_until == covered


def test_only_a_partner_admin_reverses_and_withdraws(world):
    enrollment = enrolled(world)
    entry = pay(world, enrollment, actor="officer")  # officers (kader) record payments
    with pytest.raises(NotAllowed):
        ledger.reverse(world["officer"], entry, "Salah catat")
    db.session.rollback()
    with pytest.raises(NotAllowed):
        ledger.withdraw_savings(world["officer"], enrollment, 1_000, local_today())
    db.session.rollback()


# --- bad input ---------------------------------------------------------------------------

BAD = {
    "zero": ({"amount": 0}, "amount"),
    "negative": ({"amount": -150_000}, "amount"),
    "text": ({"amount": "150000"}, "amount"),
    "fraction": ({"amount": 1.5}, "amount"),
    "boolean": ({"amount": True}, "amount"),
    "absurd": ({"amount": 10 * C + 1}, "amount"),
    "future": ({"on": "tomorrow"}, "received_on"),
    "before enrollment": ({"on": "before"}, "received_on"),
    "not a date": ({"on": "2026-01-01"}, "received_on"),
    "transfer without reference": ({"method": "bank_transfer", "reference": " "}, "reference"),
    "unknown method": ({"method": "gold"}, "method"),
    "savings is no payment method": ({"method": "savings"}, "method"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_payment_input_is_refused_next_to_its_field_and_nothing_is_recorded(world, case):
    enrollment = enrolled(world, days_ago=20)
    changes, field = BAD[case]
    args = {"amount": C, "on": local_today(), "method": "cash", "reference": None, **changes}
    args["on"] = {"tomorrow": local_today() + timedelta(days=1),
                  "before": local_today() - timedelta(days=21)}.get(args["on"], args["on"])
    with pytest.raises(DomainError) as refused:
        ledger.record_payment(world["admin"], enrollment, args["method"], args["amount"],
                              args["on"], args["reference"])
    assert refused.value.field == field
    db.session.rollback()
    assert rows(enrollment) == []
    with tenancy.everything():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.like("contribution.%"))) == 0


def test_no_payment_is_recorded_for_a_cancelled_enrollment(world):
    enrollment = enrolled(world)
    enrollment.status = EnrollmentStatus.CANCELLED
    db.session.commit()
    with pytest.raises(DomainError):
        pay(world, enrollment)
    db.session.rollback()
    assert rows(enrollment) == []


def test_a_parent_partner_records_nothing_for_its_childs_members(world, make):
    child = make.partner(parent=world["partner"])
    enrollment = make.enrollment(child)
    tenancy.enter_workspace(world["partner"].id)
    with pytest.raises(LookupError):
        pay(world, enrollment)
    db.session.rollback()


# --- idempotency -------------------------------------------------------------------------


def test_the_same_key_records_the_money_once(world):
    enrollment = enrolled(world)
    first = pay(world, enrollment, key="klik-1")
    again = pay(world, enrollment, key="klik-1")
    assert again.id == first.id
    assert len([e for e in rows(enrollment) if e.kind == EntryKind.PAYMENT]) == 1
    with pytest.raises(DomainError) as refused:
        ledger.reverse(world["admin"], first, "Salah", key="klik-1")
    assert refused.value.field == "idempotency_key"
    db.session.rollback()


def test_the_snapshot_keeps_the_last_payment_that_was_not_reversed(world):
    """What the member's status check shows as the last payment (`last_paid_on`), kept
    with every money row."""
    today = local_today()
    enrollment = enrolled(world, days_ago=30)
    assert enrollment.last_paid_on is None
    first = pay(world, enrollment, 50_000, on=today - timedelta(days=20))
    second = pay(world, enrollment, 20_000, on=today - timedelta(days=5))
    assert enrollment.last_paid_on == today - timedelta(days=5)
    ledger.reverse(world["admin"], second, "Salah catat")
    assert enrollment.last_paid_on == today - timedelta(days=20)
    ledger.reverse(world["admin"], first, "Salah catat")
    assert enrollment.last_paid_on is None
    db.session.commit()
    db.session.refresh(enrollment)
    assert enrollment.last_paid_on is None


# --- status in SQL -----------------------------------------------------------------------


def test_the_sql_status_agrees_with_the_snapshot_and_the_engine(world):
    today = local_today()
    cases = {
        "pending": [],
        "waiting": [(C, today - timedelta(days=3))],
        "active": [(C, today - timedelta(days=100))],
        "grace": [(C, today - timedelta(days=370))],
        "lapsed": [(C, today - timedelta(days=399))],
    }
    expected = {}
    for name, payments in cases.items():
        enrollment = enrolled(world, days_ago=400)
        for amount, on in payments:
            pay(world, enrollment, amount, on=on)
        db.session.refresh(enrollment)
        expected[enrollment.id] = (name, ledger.status_of(enrollment, today),
                                   ledger.coverage_of(enrollment).status_on(today))
    in_sql = dict(db.session.execute(select(Enrollment.id, ledger.status_expression(today))).all())
    for enrollment_id, (name, snapshot, engine) in expected.items():
        assert snapshot == engine == in_sql[enrollment_id], name
    assert sorted(str(s) for _n, s, _e in expected.values()) == sorted(
        ["pending_payment", "waiting", "active", "grace", "lapsed"])


# --- transfers and the append-only wall ----------------------------------------------------


def test_a_member_transfer_carries_the_ledger_and_keeps_who_collected_the_money(world, make):
    enrollment = enrolled(world)
    receipt = pay(world, enrollment).receipt_number
    ledger.reverse(world["admin"], pay(world, enrollment, 10_000), "Salah catat")
    db.session.commit()
    source, target = world["partner"], make.partner()
    member_id, count = enrollment.member_id, len(rows(enrollment))
    with tenancy.everything():
        members.transfer(make.admin, [member_id], target, reason="Pindah mitra")
        db.session.commit()
        moved = db.session.scalars(select(LedgerEntry).where(
            LedgerEntry.member_id == member_id)).all()
    assert len(moved) == count and {e.tenant_id for e in moved} == {target.id}
    assert {e.collected_by_partner_id for e in moved if e.is_money} == {source.id}
    assert receipt in {e.receipt_number for e in moved}
    # The old partner no longer finds the enrollment: nothing more is recorded there.
    tenancy.enter_workspace(source.id)
    with pytest.raises(LookupError):
        pay(world, enrollment)
    db.session.rollback()
    # The new partner records the next payment on top of the carried balance.
    tenancy.enter_workspace(target.id)
    moved_enrollment = db.session.scalar(select(Enrollment).where(
        Enrollment.member_id == member_id))
    assert moved_enrollment.terms_funded == 1
    ledger.record_payment(None, moved_enrollment, "cash", C, local_today())
    db.session.commit()
    db.session.refresh(moved_enrollment)
    assert moved_enrollment.terms_funded == 2


def test_the_database_refuses_to_change_a_ledger_row(world, database):
    enrollment = enrolled(world)
    entry_id = pay(world, enrollment).id
    with database.owner.connect() as conn:  # the schema owner: only the trigger stops it
        with pytest.raises(Exception, match="append-only"):
            conn.execute(text("UPDATE ledger_entries SET amount = 1 WHERE id = :i"),
                         {"i": entry_id if database.backend == "postgresql" else entry_id.hex})
        conn.rollback()


def test_the_database_refuses_to_delete_a_ledger_row(world, database, pg_only):
    enrollment = enrolled(world)
    entry_id = pay(world, enrollment).id
    with database.owner.connect() as conn:
        with pytest.raises(Exception, match="append-only"):
            conn.execute(text("DELETE FROM ledger_entries WHERE id = :i"), {"i": entry_id})
        conn.rollback()
    # The application's own role may neither update nor delete at all.
    for statement in ("UPDATE ledger_entries SET amount = 1 WHERE id = :i",
                      "DELETE FROM ledger_entries WHERE id = :i"):
        with pytest.raises(Exception, match="permission denied"):
            db.session.execute(text(statement), {"i": entry_id})
        db.session.rollback()
