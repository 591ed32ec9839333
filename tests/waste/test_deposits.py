"""Waste deposits: valued with the prices in force on their date, credited to the
member as one ledger row, refused whole on bad input, idempotent, and kept by the waste
bank when the member moves."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.auth.services import user_by_email
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.models import EntryKind, EntryMethod, LedgerEntry
from bungkesmas.errors import DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Member
from bungkesmas.partners.models import PartnerType
from bungkesmas.timeutil import local_today
from bungkesmas.waste import services as waste
from bungkesmas.waste.models import WasteDeposit, WasteDepositLine
from bungkesmas.waste.services import LineInput


@pytest.fixture
def bank(make):
    """A waste bank with an officer, a price list (from 60 days ago) and an enrolled
    member (enrolled 90 days ago)."""
    partner = make.partner(org_type=PartnerType.WASTE_BANK, name="Bank Sampah Uji",
                           admin_email="admin-bs@contoh.id")
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    today = local_today(partner)
    enrollment = make.enrollment(partner, enrolled_on=today - timedelta(days=90))
    number = db.session.scalar(select(Member.member_number).where(
        Member.id == enrollment.member_id))
    start = today - timedelta(days=60)
    cats = {}
    for name, material, price in (("Plastik PET", "plastic", 2500), ("Kardus", "paper", 1700),
                                  ("Besi", "metal", 3500), ("Kaleng aluminium", "metal", 12000)):
        cats[name] = waste.create_category(None, partner, name, material)
        waste.add_price(None, partner, cats[name], price, start, today=today)
    db.session.commit()
    with tenancy.everything():
        admin = user_by_email("admin-bs@contoh.id")
    return {"partner": partner, "officer": officer, "admin": admin, "today": today,
            "enrollment": enrollment, "number": number, "cats": cats, "start": start,
            "make": make}


def line(bank, name, kg):
    return LineInput(bank["cats"][name].id, kg)


def deposit(bank, lines, on=None, actor="officer", **kwargs):
    tenancy.enter_workspace(bank["partner"].id)
    result = waste.record_deposit(bank[actor] if actor else None, bank["partner"],
                                  kwargs.pop("number", bank["number"]), lines,
                                  on or bank["today"], **kwargs)
    db.session.commit()
    return result


def counts() -> tuple[int, int, int]:
    with tenancy.everything():
        return (db.session.scalar(select(func.count()).select_from(WasteDeposit)),
                db.session.scalar(select(func.count()).select_from(WasteDepositLine)),
                db.session.scalar(select(func.count()).select_from(LedgerEntry)))


def test_a_deposit_is_valued_per_line_and_credited_to_the_member_as_one_ledger_row(bank):
    d = deposit(bank, [line(bank, "Plastik PET", "3,25"), line(bank, "Kardus", "0,03"),
                       line(bank, "Kaleng aluminium", "1.1")])
    # 3,25 × 2.500 = 8.125; 0,03 × 1.700 = 51; 1,1 × 12.000 = 13.200
    assert [(ln.category_name, ln.weight_grams, ln.price_per_kg, ln.value) for ln in d.lines] == [
        ("Plastik PET", 3250, 2500, 8125), ("Kardus", 30, 1700, 51),
        ("Kaleng aluminium", 1100, 12000, 13200)]
    assert d.total_value == 8125 + 51 + 13200 and d.total_grams == 4380
    assert d.number == f"BS-{bank['partner'].id:04d}-{bank['today'].year}-000001"
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.id == d.ledger_entry_id))
    assert (entry.kind, entry.method, entry.amount, entry.received_on) == (
        EntryKind.PAYMENT, EntryMethod.WASTE, d.total_value, bank["today"])
    assert entry.external_reference == d.number
    assert entry.receipt_number == d.receipt_number and d.receipt_number.startswith("KW-")
    assert entry.collected_by_partner_id == bank["partner"].id
    assert entry.recorded_by_id == d.officer_id == bank["officer"].id
    # The member's balance holds the value (less than a year's contribution: savings).
    enrollment = db.session.get(type(bank["enrollment"]), (bank["partner"].id,
                                                           bank["enrollment"].id))
    assert enrollment.balance == d.total_value
    with tenancy.everything():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "waste.deposit"))
    assert event.after["total_value"] == d.total_value and len(event.after["lines"]) == 3


def test_a_second_deposit_gets_the_next_number_and_the_balance_adds_up(bank):
    first = deposit(bank, [line(bank, "Besi", "10")])
    second = deposit(bank, [line(bank, "Besi", "20")])
    assert second.number.endswith("000002")
    assert ledger.coverage_of(bank["enrollment"]).balance == first.total_value + second.total_value


def test_enough_waste_pays_the_years_contribution(bank):
    # 12,5 kg of aluminium cans: Rp150.000, the contribution of a year.
    d = deposit(bank, [line(bank, "Kaleng aluminium", "12,5")])
    assert d.total_value == 150_000
    enrollment = bank["enrollment"]
    db.session.refresh(enrollment)
    assert enrollment.terms_funded == 1 and enrollment.balance == 0


def test_a_deposit_uses_the_price_in_force_on_its_own_date(bank):
    pet = bank["cats"]["Plastik PET"]
    today = bank["today"]
    tenancy.enter_workspace(bank["partner"].id)
    waste.add_price(None, bank["partner"], pet, 3000, today, today=today)
    db.session.commit()
    before = deposit(bank, [line(bank, "Plastik PET", "2")], on=today - timedelta(days=1))
    after = deposit(bank, [line(bank, "Plastik PET", "2")], on=today)
    assert (before.lines[0].price_per_kg, before.total_value) == (2500, 5000)
    assert (after.lines[0].price_per_kg, after.total_value) == (3000, 6000)


def test_a_later_price_change_leaves_recorded_deposits_as_they_were(bank):
    d = deposit(bank, [line(bank, "Kardus", "5")])
    tenancy.enter_workspace(bank["partner"].id)
    waste.add_price(None, bank["partner"], bank["cats"]["Kardus"], 9999, bank["today"])
    db.session.commit()
    db.session.expire_all()
    again = db.session.scalar(select(WasteDeposit).where(WasteDeposit.id == d.id))
    assert (again.lines[0].price_per_kg, again.total_value) == (1700, 8500)


@pytest.mark.parametrize(("lines", "on_days", "field", "message"), [
    ([("Besi", "0")], 0, "lines.0.weight_kg", "more than 0"),
    ([("Besi", "0,00")], 0, "lines.0.weight_kg", "more than 0"),
    ([("Besi", "-2")], 0, "lines.0.weight_kg", "more than 0"),
    ([("Besi", "500,01")], 0, "lines.0.weight_kg", "500"),
    ([("Besi", "1,005")], 0, "lines.0.weight_kg", "2 decimals"),
    ([("Besi", "dua kilo")], 0, "lines.0.weight_kg", "kg"),
    ([("Besi", "2"), ("Kardus", "1,234")], 0, "lines.1.weight_kg", "2 decimals"),
    ([("?", "2")], 0, "lines.0.category_id", "category"),
    ([("Besi", "2")], 61, "lines.0.category_id", "no price"),   # before the first price
    ([("Besi", "2")], -1, "deposited_on", "future"),
    ([], 0, "lines", "at least one"),
    ([("Besi", "1")] * 21, 0, "lines", "20"),
    ([("Kardus", "0,01")], 0, "lines", "less than Rp1"),   # Rp17 → line worth 17; see below
])
def test_bad_input_is_refused_with_its_field_and_nothing_is_recorded(bank, lines, on_days,
                                                                     field, message):
    if message == "less than Rp1":
        # A price low enough that 0,01 kg is worth less than half a rupiah.
        tenancy.enter_workspace(bank["partner"].id)
        waste.add_price(None, bank["partner"], bank["cats"]["Kardus"], 40, bank["today"])
        db.session.commit()
    before = counts()
    inputs = [LineInput(bank["cats"][name].id if name in bank["cats"] else "bukan-kategori", kg)
              for name, kg in lines]
    with pytest.raises(DomainError) as caught, force_locale("en"):
        deposit(bank, inputs, on=bank["today"] - timedelta(days=on_days))
    db.session.rollback()
    assert caught.value.field == field
    assert message in str(caught.value.message)
    assert counts() == before


def test_a_retired_category_is_not_bought(bank):
    tenancy.enter_workspace(bank["partner"].id)
    besi = bank["cats"]["Besi"]
    waste.update_category(None, bank["partner"], besi, besi.name, besi.material, False)
    db.session.commit()
    with pytest.raises(DomainError) as caught:
        deposit(bank, [line(bank, "Besi", "2")])
    assert caught.value.field == "lines.0.category_id"


def test_a_deposit_above_the_ledgers_bound_is_refused_on_the_lines(bank):
    # 20 lines of 500 kg of cans: Rp120 million, far above 10 × the contribution.
    with pytest.raises(DomainError) as caught:
        deposit(bank, [line(bank, "Kaleng aluminium", "500")] * 20)
    db.session.rollback()
    assert caught.value.field == "lines"
    assert counts()[0] == 0


def test_the_member_must_be_the_waste_banks_own_and_enrolled(bank):
    make = bank["make"]
    other = make.partner(org_type=PartnerType.NGO)
    stranger = make.member(other)
    not_enrolled = make.member(bank["partner"])
    for number, field in ((stranger, "member_number"), (not_enrolled, "member_number"),
                          ("0000-000000-0", "member_number"), ("", "member_number")):
        with pytest.raises(DomainError) as caught:
            deposit(bank, [line(bank, "Besi", "1")], number=number)
        db.session.rollback()
        assert caught.value.field == field, number
    assert counts()[0] == 0


def test_a_member_with_two_enrollments_chooses_which_one_the_deposit_pays(bank):
    make = bank["make"]
    second = make.enrollment(bank["partner"], member_number=bank["number"],
                             enrolled_on=bank["today"] - timedelta(days=10))
    with pytest.raises(DomainError) as caught:
        deposit(bank, [line(bank, "Besi", "1")])
    db.session.rollback()
    assert caught.value.field == "enrollment_id"
    d = deposit(bank, [line(bank, "Besi", "1")], enrollment_id=str(second.id))
    assert d.enrollment_id == second.id


def test_the_date_cannot_be_before_the_enrollment(bank):
    tenancy.enter_workspace(bank["partner"].id)
    glass = waste.create_category(None, bank["partner"], "Botol kaca", "glass")
    waste.add_price(None, bank["partner"], glass, 300, bank["today"] - timedelta(days=200))
    db.session.commit()
    before = counts()
    with pytest.raises(DomainError) as caught:
        deposit(bank, [LineInput(glass.id, "5")], on=bank["today"] - timedelta(days=91))
    db.session.rollback()
    assert caught.value.field == "deposited_on"
    assert counts() == before


def test_the_same_key_records_the_deposit_once(bank):
    first = deposit(bank, [line(bank, "Besi", "4")], key="formulir-123")
    again = deposit(bank, [line(bank, "Besi", "4")], key="formulir-123")
    assert again.id == first.id
    assert counts() == (1, 1, 1)


def test_only_a_waste_bank_takes_deposits(make):
    ngo = make.partner(org_type=PartnerType.NGO)
    tenancy.enter_workspace(ngo.id)
    with pytest.raises(NotAllowed):
        waste.record_deposit(None, ngo, "0001-000001-0", [LineInput("x", "1")], date.today())


def test_the_waste_method_is_recorded_only_with_a_deposit(bank):
    tenancy.enter_workspace(bank["partner"].id)
    with pytest.raises(DomainError) as caught:
        ledger.record_payment(None, bank["enrollment"], "waste", 5000, bank["today"])
    assert caught.value.field == "method"


def test_a_reversed_credit_shows_on_the_deposit(bank):
    d = deposit(bank, [line(bank, "Besi", "3")])
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.id == d.ledger_entry_id))
    ledger.reverse(bank["admin"], entry, "Timbangan salah")
    db.session.commit()
    credit = waste.credit_of(d)
    assert credit.entry.id == entry.id and credit.reversal.reason == "Timbangan salah"
    assert ledger.coverage_of(bank["enrollment"]).balance == 0


def test_the_deposit_stays_with_the_waste_bank_when_the_member_moves(bank):
    make = bank["make"]
    d = deposit(bank, [line(bank, "Besi", "3")])
    target = make.partner(org_type=PartnerType.NGO)
    member_id = bank["enrollment"].member_id
    with tenancy.everything():
        members.transfer(make.admin, [member_id], target, reason="pindah")
        db.session.commit()
    tenancy.enter_workspace(bank["partner"].id)
    kept = waste.deposit_by_id(bank["partner"], d.id)
    assert kept is not None and kept.member_number == bank["number"]
    assert waste.credit_of(kept).entry is None   # the money moved with the member
    tenancy.enter_workspace(target.id)
    moved = db.session.scalar(select(LedgerEntry).where(LedgerEntry.id == d.ledger_entry_id))
    assert moved.tenant_id == target.id and moved.collected_by_partner_id == bank["partner"].id
