"""Waste categories and effective-dated price lists (domain functions)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.errors import Conflict, DomainError, NotAllowed
from bungkesmas.extensions import db
from bungkesmas.partners.models import PartnerType
from bungkesmas.timeutil import local_today
from bungkesmas.waste import services as waste
from bungkesmas.waste.models import WasteMaterial, WastePrice

JAN = date(2026, 1, 1)


@pytest.fixture
def bank(make):
    partner = make.partner(org_type=PartnerType.WASTE_BANK, name="Bank Sampah Uji")
    tenancy.enter_workspace(partner.id)
    return partner


def test_a_waste_bank_names_its_categories_and_the_change_is_audited(bank):
    pet = waste.create_category(None, bank, "  Plastik   PET ", WasteMaterial.PLASTIC)
    waste.create_category(None, bank, "Kardus", "paper")
    db.session.commit()
    assert pet.name == "Plastik PET"
    assert [c.name for c in waste.categories(bank)] == ["Kardus", "Plastik PET"]  # by material
    waste.update_category(None, bank, pet, "Botol PET", "plastic", False)
    db.session.commit()
    assert [c.name for c in waste.categories(bank, active_only=True)] == ["Kardus"]
    with tenancy.everything():
        actions = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.entity_id == str(pet.id)).order_by(AuditEvent.id)).all()
    assert actions == ["waste.category.create", "waste.category.update"]


@pytest.mark.parametrize(("name", "material", "field"), [
    ("", "plastic", "name"), ("x", "plastic", "name"), ("x" * 81, "plastic", "name"),
    ("Kaleng", "kayu", "material"), ("Kaleng", None, "material"),
])
def test_a_category_needs_a_name_and_a_material(bank, name, material, field):
    with pytest.raises(DomainError) as caught:
        waste.create_category(None, bank, name, material)
    assert caught.value.field == field


def test_two_categories_cannot_share_a_name_whatever_the_case(bank):
    waste.create_category(None, bank, "Kardus", "paper")
    with pytest.raises(Conflict):
        waste.create_category(None, bank, "KARDUS", "paper")


def test_only_a_waste_bank_keeps_a_price_list(make):
    ngo = make.partner(org_type=PartnerType.NGO)
    tenancy.enter_workspace(ngo.id)
    assert not waste.is_waste_bank(ngo)
    with pytest.raises(NotAllowed):
        waste.create_category(None, ngo, "Kardus", "paper")


def test_the_price_in_force_is_the_latest_from_on_or_before_the_date(bank):
    pet = waste.create_category(None, bank, "Plastik PET", "plastic")
    today = date(2026, 6, 1)
    first = waste.add_price(None, bank, pet, 2000, JAN, today=today)     # first price: backdated
    raised = waste.add_price(None, bank, pet, 2500, today, today=today)
    later = waste.add_price(None, bank, pet, 2800, date(2026, 9, 1), today=today)
    db.session.commit()
    assert waste.price_in_force(bank, pet.id, JAN - timedelta(days=1)) is None
    assert waste.price_in_force(bank, pet.id, JAN).id == first.id
    assert waste.price_in_force(bank, pet.id, date(2026, 5, 31)).id == first.id
    assert waste.price_in_force(bank, pet.id, today).id == raised.id
    assert waste.price_in_force(bank, pet.id, date(2026, 8, 31)).id == raised.id
    assert waste.price_in_force(bank, pet.id, date(2026, 9, 1)).id == later.id
    assert waste.prices_in_force(bank, today)[pet.id].price_per_kg == 2500
    assert waste.next_prices(bank, today)[pet.id].price_per_kg == 2800
    history = waste.price_history(bank, pet, today)
    assert [(r.price.price_per_kg, r.state) for r in history] == [
        (2800, "scheduled"), (2500, "in_force"), (2000, "past")]
    # Old prices are never edited: all three rows are still there as recorded.
    assert sorted(p.price_per_kg for p in db.session.scalars(select(WastePrice))) == [
        2000, 2500, 2800]


def test_a_second_price_from_the_same_date_corrects_the_first(bank):
    pet = waste.create_category(None, bank, "Plastik PET", "plastic")
    today = local_today(bank)
    waste.add_price(None, bank, pet, 2000, today - timedelta(days=30), today=today)
    typo = waste.add_price(None, bank, pet, 25000, today, today=today)
    fixed = waste.add_price(None, bank, pet, 2500, today, today=today)
    db.session.commit()
    assert waste.price_in_force(bank, pet.id, today).id == fixed.id
    states = {r.price.id: r.state for r in waste.price_history(bank, pet, today)}
    assert states[typo.id] == "superseded" and states[fixed.id] == "in_force"


def test_a_price_change_cannot_be_backdated_but_a_first_price_can(bank):
    pet = waste.create_category(None, bank, "Plastik PET", "plastic")
    today = date(2026, 6, 1)
    waste.add_price(None, bank, pet, 2000, JAN, today=today)
    with pytest.raises(DomainError) as caught:
        waste.add_price(None, bank, pet, 2500, today - timedelta(days=1), today=today)
    assert caught.value.field == "effective_from"


@pytest.mark.parametrize(("price", "effective", "field"), [
    (0, date(2026, 6, 1), "price_per_kg"),
    (-2500, date(2026, 6, 1), "price_per_kg"),
    (1_000_001, date(2026, 6, 1), "price_per_kg"),
    ("2500", date(2026, 6, 1), "price_per_kg"),
    (2500.5, date(2026, 6, 1), "price_per_kg"),
    (True, date(2026, 6, 1), "price_per_kg"),
    (2500, None, "effective_from"),
    (2500, "2026-06-01", "effective_from"),
    (2500, date(2027, 6, 3), "effective_from"),   # more than a year ahead
])
def test_a_price_must_be_whole_rupiah_in_range_from_a_sane_date(bank, price, effective, field):
    pet = waste.create_category(None, bank, "Plastik PET", "plastic")
    with pytest.raises(DomainError) as caught:
        waste.add_price(None, bank, pet, price, effective, today=date(2026, 6, 1))
    assert caught.value.field == field
    assert db.session.scalars(select(WastePrice)).all() == []


def test_a_retired_category_gets_no_new_price(bank):
    pet = waste.create_category(None, bank, "Plastik PET", "plastic")
    waste.update_category(None, bank, pet, pet.name, pet.material, False)
    with pytest.raises(DomainError):
        waste.add_price(None, bank, pet, 2000, local_today(bank))


def test_another_partners_category_is_not_found(bank, make):
    other = make.partner(org_type=PartnerType.WASTE_BANK)
    tenancy.enter_workspace(other.id)
    theirs = waste.create_category(None, other, "Kardus", "paper").id
    db.session.commit()
    tenancy.enter_workspace(bank.id)
    assert waste.category_by_id(bank, theirs) is None
    assert waste.category_by_id(bank, "bukan-uuid") is None
