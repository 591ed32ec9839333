"""Registering members: NIK rules, one person one member, numbers, enrollment, transfer."""

from __future__ import annotations

from datetime import date

import pytest
from cryptography.fernet import Fernet, InvalidToken
from flask_babel import force_locale
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.errors import DomainError
from bungkesmas.extensions import db
from bungkesmas.members import nik as nik_rules
from bungkesmas.members import numbers
from bungkesmas.members import services as members
from bungkesmas.members.models import Enrollment, Member, MemberRegistry


@pytest.fixture
def two(make):
    a, b = make.partner(), make.partner()
    return a, b


def _register(partner, data, actor=None):
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        return members.register(actor, partner, data)


@pytest.mark.parametrize("nik, reason", [
    ("73720214039", "16 digits"),
    ("7372021403850000", "0000"),
    ("9999991403850001", "district"),
    ("7372021499850001", "birth date"),
])
def test_a_malformed_nik_is_rejected_with_the_reason(make, two, nik, reason):
    with force_locale("en"), pytest.raises(DomainError) as err:
        _register(two[0], make.member_data(nik=nik))
    assert err.value.field == "nik" and reason in str(err.value.message)
    db.session.rollback()


def test_a_nik_that_disagrees_with_birth_date_and_sex_needs_confirmation(make, two):
    data = make.member_data(sex="P", birth_date=date(1990, 1, 2),
                            nik=make.nik(date(1991, 5, 6), "L"))
    with force_locale("en"), pytest.raises(members.NikNeedsConfirmation) as err:
        _register(two[0], data)
    assert "woman" not in str(err.value.message) and "man" in str(err.value.message)
    db.session.rollback()
    member = _register(two[0], {**data, "confirm_nik": True})
    assert member.nik_mismatch_confirmed


def test_a_nik_held_by_another_partner_is_refused_without_showing_its_record(make, two):
    a, b = two
    data = make.member_data(full_name="Siti Rahmah")
    _register(a, data)
    db.session.commit()
    with force_locale("en"), pytest.raises(DomainError) as err:
        _register(b, make.member_data(nik=data["nik"]))
    message = str(err.value.message)
    assert "transfer" in message and "Siti" not in message and a.name not in message
    db.session.rollback()


def test_the_nik_is_stored_encrypted_and_shown_masked(make, two):
    data = make.member_data()
    number = _register(two[0], data).member_number
    db.session.commit()
    with tenancy.everything():
        row = db.session.execute(select(Member.nik_encrypted, Member.nik_masked)).one()
    assert data["nik"].encode() not in bytes(row[0])
    assert row[1] == data["nik"][:6] + "******" + data["nik"][-4:]
    assert number.count("-") == 2 and numbers.is_valid(number)


def test_a_nik_is_encrypted_with_aes_gcm_and_fernet_tokens_written_before_still_open(
        app, make, two):
    data = make.member_data()
    member = _register(two[0], data)
    token = bytes(member.nik_encrypted)
    assert token[:1] == nik_rules.GCM_V1 and len(token) == 45
    assert nik_rules.decrypt(token) == data["nik"]
    # A member registered before: a Fernet token under the same setting.
    with tenancy.scoped(tenancy.Scope.tenants(two[0].id)):
        member.nik_encrypted = Fernet(app.config["NIK_ENCRYPTION_KEY"]).encrypt(
            data["nik"].encode())
        db.session.commit()
        db.session.expire_all()
        stored = db.session.get(Member, (two[0].id, member.id))
        assert bytes(stored.nik_encrypted)[:1] == b"g"  # Fernet's
        assert members.reveal_nik(None, two[0], stored) == data["nik"]
    # Two encryptions of one value differ (random nonces), both open.
    cipher = nik_rules.cipher()
    one, other, none = cipher.encrypt_many([data["nik"], data["nik"], None])
    assert one != other and none is None
    assert {cipher.decrypt(one), cipher.decrypt(other)} == {data["nik"]}
    # An altered token, or one written under another key, does not open.
    altered = token[:-1] + bytes([token[-1] ^ 1])
    foreign = nik_rules.NikCipher(Fernet.generate_key()).encrypt(data["nik"])
    for bad in (altered, foreign, Fernet(Fernet.generate_key()).encrypt(b"7372021403850001")):
        with pytest.raises(InvalidToken):
            cipher.decrypt(bad)


def test_member_numbers_carry_a_check_digit_and_count_up_per_partner(make, two):
    a, _b = two
    first = make.member(a)
    second = make.member(a)
    assert first.startswith(f"{a.id:04d}-000001-") and second.startswith(f"{a.id:04d}-000002-")
    wrong = first[:-1] + str((int(first[-1]) + 1) % 10)
    assert numbers.is_valid(first) and not numbers.is_valid(wrong)


def test_enrollment_is_pending_payment_and_keeps_its_product_version(make, two):
    a, _b = two
    product = make.product(a)
    number = make.member(a)
    with tenancy.scoped(tenancy.Scope.tenants(a.id)):
        member = members.by_number(number)
        enrollment = members.enroll(None, a, member, product.id)
        assert enrollment.status == "pending_payment"
        from bungkesmas.products import services as products

        with tenancy.everything():
            products.new_version(make.admin, product, {
                **products.BUNGKESMAS_DEFAULTS, "annual_contribution": 175_000})
        assert enrollment.product_version.annual_contribution == 150_000
        with pytest.raises(DomainError):
            members.enroll(None, a, member, product.id)
    db.session.rollback()


def test_search_finds_by_name_prefix_accents_number_nik_and_phone(make, two):
    a, _b = two
    data = make.member_data(full_name="Ásmawati Daéng", phone="0812 7777 1234")
    number = make.member(a, **{k: v for k, v in data.items()})
    make.member(a, full_name="Baso Tang")
    with tenancy.scoped(tenancy.Scope.tenants(a.id)):
        def found(q):
            return [m.member_number for m in db.session.scalars(
                members.search(a, members.MemberFilter(q=q)))]
        assert found("asma") == [number]
        assert found("DAENG") == []  # a prefix of the name, not of any word
        assert found(number) == [number]
        assert found(data["nik"]) == [number]
        assert found("+6281277771234") == [number]
        assert len(found("")) == 2


def test_transfer_moves_members_with_their_enrollments_and_keeps_numbers(make, two):
    a, b = two
    product = make.product(a, b)
    number = make.member(a)
    with tenancy.scoped(tenancy.Scope.tenants(a.id)):
        member = members.by_number(number)
        members.enroll(None, a, member, product.id)
        member_id = member.id
        db.session.commit()
    with tenancy.everything():
        assert members.transfer(make.admin, [member_id], b, reason="MOU YLP2EM") == 1
        db.session.commit()
        moved = db.session.scalar(select(Member).where(Member.id == member_id))
        assert moved.tenant_id == b.id and moved.member_number == number
        assert {e.tenant_id for e in db.session.scalars(select(Enrollment))} == {b.id}
        assert db.session.get(MemberRegistry, number).partner_id == b.id
        audited = {e.partner_id for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "member.transfer"))}
        assert audited == {a.id, b.id}


def test_transfer_of_a_group_moves_the_group_and_its_members(make, two):
    a, b = two
    with tenancy.scoped(tenancy.Scope.tenants(a.id)):
        group = members.create_group(None, a, "Kelompok Labukkang", "7372021001", "Kamis")
        group_id = group.id
        db.session.commit()
    numbers_ = [make.member(a, group_id=group_id) for _ in range(3)]
    with tenancy.everything():
        assert members.transfer(make.admin, [], b, group_id=group_id) == 3
        db.session.commit()
        rows = db.session.scalars(select(Member).where(Member.member_number.in_(numbers_)))
        assert {(m.tenant_id, m.group_id) for m in rows} == {(b.id, group_id)}


def test_a_phone_number_that_looks_like_a_member_number_is_still_found(make, two):
    from bungkesmas.forms import normalise_phone

    a, _b = two
    # Find a phone whose digits happen to carry a valid Damm check digit.
    phone = next(p for p in (f"0812{n:07d}" for n in range(1000)) if numbers.normalise(p))
    number = make.member(a, phone=phone)
    with tenancy.scoped(tenancy.Scope.tenants(a.id)):
        found = [m.member_number for m in db.session.scalars(
            members.search(a, members.MemberFilter(q=phone)))]
    assert found == [number] and normalise_phone(phone)


def test_overlong_text_is_refused_by_the_domain_not_the_database(make, two):
    with pytest.raises(DomainError) as err:
        _register(two[0], make.member_data(address="x" * 501))
    assert err.value.field == "address"
    db.session.rollback()
