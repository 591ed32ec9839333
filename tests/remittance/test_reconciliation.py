"""What the provider received: receipts, their reversals, bad input, idempotency and
permissions; reconciliation statuses per partner and period, and across partners."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.auth.services import user_by_email
from bungkesmas.contributions import services as ledger
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.remittance import services as remittance
from bungkesmas.remittance.models import ReceiptKind, RemittanceReceipt
from bungkesmas.remittance.periods import Frequency, period_of
from bungkesmas.remittance.services import PeriodState
from bungkesmas.remittance.services import ReconciliationStatus as S
from bungkesmas.timeutil import local_today

C = 150_000


@pytest.fixture
def world(make):
    partner = make.partner(admin_email="admin-rekonsiliasi@contoh.id")
    with tenancy.everything():
        admin = user_by_email("admin-rekonsiliasi@contoh.id")
    today = local_today()
    last = period_of(today, Frequency.MONTHLY).previous()
    remittance.update_settings(make.admin, partner, 1000, "monthly", 10)
    db.session.commit()
    enrollment = make.enrollment(partner, enrolled_on=today - timedelta(days=400))
    ledger.record_payment(None, enrollment, "cash", C, last.start + timedelta(days=2))
    db.session.commit()
    issued = remittance.issue(None, partner, last)
    db.session.commit()
    assert issued.due_to_provider == 135_000
    return {"make": make, "partner": partner, "admin": admin, "today": today, "last": last,
            "number": issued.number, "due_on": issued.due_on, "enrollment": enrollment}


def receive(world, amount, on=None, reference="BRI-0001", key=None, actor="provider"):
    actor = world["make"].admin if actor == "provider" else actor
    receipt = remittance.record_receipt(actor, world["partner"], world["number"], amount,
                                        on or world["today"], reference, key)
    db.session.commit()
    return receipt


def reconciled(world, today):
    with tenancy.everything():
        statement = remittance.find(world["partner"].id, world["number"])
        return remittance.reconcile(statement, today)


def receipts_count() -> int:
    with tenancy.everything():
        return db.session.scalar(select(func.count()).select_from(RemittanceReceipt))


# --- statuses ------------------------------------------------------------------------------

DUE_ON = date(2026, 11, 10)


@pytest.mark.parametrize(("due", "received", "today", "issued", "status"), [
    (135_000, 0, date(2026, 11, 1), True, S.NOT_YET_DUE),
    (135_000, 100_000, DUE_ON, True, S.NOT_YET_DUE),      # the due day itself is in time
    (135_000, 135_000, date(2026, 11, 1), True, S.SETTLED),
    (135_000, 135_000, date(2026, 12, 1), True, S.SETTLED),
    (135_000, 200_000, date(2026, 11, 1), True, S.OVER),
    (135_000, 100_000, date(2026, 11, 11), True, S.SHORT),
    (135_000, 0, date(2026, 11, 11), True, S.OVERDUE),
    (135_000, 0, date(2026, 11, 11), False, S.OVERDUE),   # not even closed, and due
    (0, 0, date(2026, 11, 1), False, S.NOT_YET_DUE),      # a period still running
    (0, 0, date(2026, 11, 1), True, S.SETTLED),           # an empty statement
    (0, 0, date(2026, 11, 11), False, S.SETTLED),
])
def test_reconciliation_status(due, received, today, issued, status):
    assert remittance.reconciliation_status(due, received, DUE_ON, today, issued) == status


def test_receipts_settle_the_statement_and_the_difference_follows(world):
    before, after = world["due_on"] - timedelta(days=1), world["due_on"] + timedelta(days=1)
    assert reconciled(world, before).status == S.NOT_YET_DUE
    assert reconciled(world, after).status == S.OVERDUE
    receive(world, 100_000)
    result = reconciled(world, after)
    assert (result.received, result.difference, result.status) == (100_000, -35_000, S.SHORT)
    assert reconciled(world, before).status == S.NOT_YET_DUE
    receive(world, 35_000, reference="BRI-0002")
    result = reconciled(world, after)
    assert (result.received, result.difference, result.status) == (135_000, 0, S.SETTLED)
    assert reconciled(world, before).status == S.SETTLED
    extra = receive(world, 5_000, reference="BRI-0003")
    result = reconciled(world, after)
    assert (result.difference, result.status) == (5_000, S.OVER)
    # A mistaken receipt is reversed, never edited.
    reversal = remittance.reverse_receipt(world["make"].admin, world["partner"], extra.id,
                                          "Transfer salah mitra")
    db.session.commit()
    assert reversal.kind == ReceiptKind.REVERSAL and reversal.amount == -5_000
    result = reconciled(world, after)
    assert (result.received, result.status) == (135_000, S.SETTLED)
    assert len(result.receipts) == 4
    with tenancy.everything():
        actions = sorted(db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.action.like("remittance.receipt%"))))
    assert actions == ["remittance.receipt"] * 3 + ["remittance.receipt.reversal"]


def test_a_receipt_is_reversed_once_and_a_reversal_never(world):
    receipt = receive(world, 1_000)
    admin = world["make"].admin
    with pytest.raises(DomainError) as err:
        remittance.reverse_receipt(admin, world["partner"], receipt.id, "  ")
    assert err.value.field == "reason"
    db.session.rollback()
    reversal = remittance.reverse_receipt(admin, world["partner"], receipt.id, "Salah ketik")
    db.session.commit()
    with pytest.raises(Conflict):
        remittance.reverse_receipt(admin, world["partner"], receipt.id, "Salah ketik lagi")
    db.session.rollback()
    with pytest.raises(DomainError) as err:  # a reversal is never reversed
        remittance.reverse_receipt(admin, world["partner"], reversal.id, "Salah ketik lagi")
    assert not isinstance(err.value, Conflict)
    db.session.rollback()
    with pytest.raises(LookupError):  # another partner's receipt id: not found
        remittance.reverse_receipt(admin, world["make"].partner(), receipt.id, "Salah")
    db.session.rollback()
    assert receipts_count() == 2


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "field"), [
    ({"amount": 0}, "amount"),
    ({"amount": -135_000}, "amount"),
    ({"amount": 1.5}, "amount"),
    ({"amount": "135000"}, "amount"),
    ({"amount": True}, "amount"),
    ({"amount": remittance.MAX_RECEIPT_AMOUNT + 1}, "amount"),
    ({"on": "kemarin"}, "received_on"),
    ({"on": "future"}, "received_on"),
    ({"on": "before the period"}, "received_on"),
    ({"reference": ""}, "bank_reference"),
    ({"reference": "   "}, "bank_reference"),
    ({"reference": "x" * 101}, "bank_reference"),
    ({"reference": "BRI\x00"}, "bank_reference"),
    ({"statement": "2099-01"}, "statement"),
    ({"statement": "bukan"}, "statement"),
    ({"statement": "open"}, "statement"),
    ({"key": "k" * 101}, "Idempotency-Key"),
])
def test_a_bad_receipt_is_refused_with_a_field_error_and_nothing_recorded(world, change, field):
    values = {"statement": world["number"], "amount": 135_000, "on": world["today"],
              "reference": "BRI-1", "key": None, **change}
    if values["on"] == "future":
        values["on"] = world["today"] + timedelta(days=1)
    elif values["on"] == "before the period":
        values["on"] = world["last"].start - timedelta(days=1)
    if values["statement"] == "open":
        values["statement"] = period_of(world["today"], Frequency.MONTHLY).key
    with pytest.raises(DomainError) as err:
        remittance.record_receipt(world["make"].admin, world["partner"], values["statement"],
                                  values["amount"], values["on"], values["reference"],
                                  values["key"])
    db.session.rollback()
    assert err.value.field == field
    assert receipts_count() == 0


def test_only_the_providers_admins_record_receipts(world, make):
    for actor in (make.provider(Role.PROVIDER_STAFF), world["admin"]):
        with pytest.raises(NotAllowed):
            receive(world, 1_000, actor=actor)
        db.session.rollback()
    assert receipts_count() == 0


def test_the_same_idempotency_key_records_once(world):
    first = receive(world, 135_000, key="transfer-77")
    again = receive(world, 135_000, key="transfer-77")
    assert again.id == first.id and receipts_count() == 1
    with pytest.raises(DomainError) as err:
        receive(world, 130_000, key="transfer-77")
    assert err.value.field == "Idempotency-Key" and err.value.status_code == 422
    db.session.rollback()
    assert receipts_count() == 1


# --- lists ---------------------------------------------------------------------------------


def test_the_partners_periods_list_open_and_issued_statements_newest_first(world):
    today, last = world["today"], world["last"]
    tenancy.enter_workspace(world["partner"].id)
    listed = remittance.periods(world["partner"].id, today)
    assert [(s.key, s.state) for s in listed] == [
        (period_of(today, Frequency.MONTHLY).key, PeriodState.OPEN), (last.key,
                                                                      PeriodState.ISSUED)]
    assert listed[1].number == world["number"] and listed[1].due_to_provider == 135_000
    of_year = remittance.periods(world["partner"].id, today, year=last.start.year)
    assert last.key in [s.key for s in of_year]
    assert remittance.periods(world["partner"].id, today, year=2001) == []


def test_the_provider_sees_every_partner_and_can_keep_only_the_differences(world, make):
    quiet = make.partner()
    month = world["last"]
    after = world["due_on"] + timedelta(days=1)
    with tenancy.everything():
        rows = remittance.across_partners(month, after)
        by_partner = {r.partner.id: r.statement for r in rows}
        assert by_partner[world["partner"].id].status == S.OVERDUE
        assert by_partner[quiet.id].state == PeriodState.OPEN
        assert by_partner[quiet.id].status == S.SETTLED  # nothing collected, nothing due
        only = remittance.across_partners(month, after, only_differences=True)
        assert [r.partner.id for r in only] == [world["partner"].id]
    receive(world, 135_000)
    with tenancy.everything():
        assert remittance.across_partners(month, after, only_differences=True) == []
