"""What an MOU changes: a partner enrolls members in its own name only under an MOU in
force (its products, its quota); a host enrolls on another partner's behalf until that
partner's MOU is in force, then the hosted members move to it."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.auth import services as auth
from bungkesmas.errors import Conflict, DomainError
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Enrollment, Group, Member
from bungkesmas.mous import services as mous


def _admin(partner):
    return auth.user_by_email(partner.contact_email)


def _enroll(partner, number, product):
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        member = members.by_number(number)
        return members.enroll(_admin(partner), partner, member, product.id)


def test_a_partner_without_an_mou_in_force_cannot_enroll_in_its_own_name(make):
    partner = make.partner(mou=False, name="YLP2EM Parepare")
    product = make.product(partner)
    number = make.member(partner)  # registering without enrolling is fine
    with pytest.raises(DomainError) as err:
        _enroll(partner, number, product)
    assert err.value.field == "product_id" and "YLP2EM Parepare" in str(err.value.message)
    assert "MOU" in str(err.value.message)
    db.session.rollback()
    assert db.session.scalars(select(Enrollment)).all() == []
    make.active_mou(partner)
    assert _enroll(partner, number, product).status == "pending_payment"


def test_registration_with_enrollment_is_refused_whole_without_an_mou(app, client, make,
                                                                      login_as):
    partner = make.partner(mou=False)
    product = make.product(partner)
    login_as(partner.contact_email)
    data = make.member_data()
    form = {k: v for k, v in data.items() if v is not None and k != "consent"}
    form.update(group_id="", product_id="")
    form.update(birth_date=data["birth_date"].isoformat(), consent="y",
                product_id=str(product.id))
    response = client.post(f"/p/{partner.slug}/peserta/baru", data=form)
    assert response.status_code == 422
    assert "product_id-error" in response.get_data(as_text=True)
    assert db.session.scalars(select(Member)).all() == []


def test_an_import_with_product_codes_needs_an_mou(app, make, tmp_path):
    from bungkesmas.members import imports

    app.config["IMPORT_UPLOAD_DIR"] = str(tmp_path / "uploads")
    partner = make.partner(mou=False)
    make.product(partner)
    data = make.member_data()
    sheet = ",".join(imports.COLUMNS) + "\n" + ",".join([
        data["full_name"], data["nik"], "", data["birth_date"].isoformat(), "P", "", "",
        "7372021001", "", "", "", "", "ya", "BKM"]) + "\n"
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        imp = imports.upload(None, partner, io.BytesIO(sheet.encode()), "peserta.csv")
        assert imp.error_rows == 1
        assert any("MOU" in m for m in imp.errors["messages"])


def test_the_mou_limits_products_and_members(make):
    partner = make.partner(mou=False)
    covered, other = make.product(partner), make.product(partner, code="LAIN")
    make.active_mou(partner, product_ids=[covered.id], member_quota=1)
    first, second = make.member(partner), make.member(partner)
    with pytest.raises(DomainError, match="does not cover|tidak mencakup"):
        _enroll(partner, first, other)
    db.session.rollback()
    _enroll(partner, first, covered)
    db.session.commit()
    with pytest.raises(DomainError, match="1"):
        _enroll(partner, second, covered)


def _hosting(make):
    """Pattiro Jeka (MOU in force) hosts YLP2EM (no MOU)."""
    jeka = make.partner(name="LSM Pattiro Jeka")
    ylp = make.partner(name="YLP2EM", mou=False)
    product = make.product(jeka, ylp)
    with tenancy.everything():
        mous.set_host(make.admin, ylp, jeka)
    db.session.commit()
    return jeka, ylp, product


def test_a_host_registers_and_enrolls_members_on_behalf_of_the_hosted_partner(make):
    jeka, ylp, product = _hosting(make)
    number = make.member(jeka, _admin(jeka), hosted_for_id=ylp.id)
    enrollment = _enroll(jeka, number, product)
    db.session.commit()
    with tenancy.everything():
        member = db.session.scalar(select(Member).where(Member.member_number == number))
    assert (member.tenant_id, member.hosted_for_id) == (jeka.id, ylp.id)
    assert enrollment.tenant_id == jeka.id
    assert mous.hosted_members(ylp) == {jeka.id: 1}


def test_only_the_assigned_host_registers_for_a_partner(make):
    jeka, ylp, _product = _hosting(make)
    other = make.partner()
    with pytest.raises(DomainError) as err:
        make.member(other, hosted_for_id=ylp.id)
    assert err.value.field == "hosted_for_id"


def test_a_host_needs_an_mou_in_force_and_the_hosted_partner_none(make):
    jeka, ylp, _product = _hosting(make)
    without = make.partner(mou=False)
    with tenancy.everything():
        with pytest.raises(DomainError):
            mous.set_host(make.admin, ylp, without)
        with pytest.raises(Conflict):
            mous.set_host(make.admin, make.partner(), jeka)


def test_once_the_mou_is_in_force_the_hosted_members_move_with_their_group(make):
    jeka, ylp, product = _hosting(make)
    with tenancy.scoped(tenancy.Scope.tenants(jeka.id)):
        group = members.create_group(_admin(jeka), jeka, "Kelompok Ujung Bulu", "7372021003")
        group_id = group.id
        db.session.commit()
    in_group = [make.member(jeka, _admin(jeka), hosted_for_id=ylp.id, group_id=group_id)
                for _ in range(2)]
    loose = make.member(jeka, _admin(jeka), hosted_for_id=ylp.id)
    own = make.member(jeka, _admin(jeka))
    for number in [*in_group, loose]:
        _enroll(jeka, number, product)
    db.session.commit()
    with tenancy.everything(), pytest.raises(Conflict):
        mous.transfer_hosted(make.admin, ylp)  # not before YLP2EM's MOU is in force
    db.session.rollback()

    make.active_mou(ylp)
    with tenancy.everything():
        assert mous.transfer_hosted(make.admin, ylp) == 3
    db.session.commit()
    with tenancy.everything():
        rows = {m.member_number: m for m in db.session.scalars(select(Member))}
        assert {n: rows[n].tenant_id for n in [*in_group, loose]} == dict.fromkeys(
            [*in_group, loose], ylp.id)
        assert rows[own].tenant_id == jeka.id
        assert all(rows[n].hosted_for_id is None for n in [*in_group, loose])
        assert db.session.scalar(select(Group.tenant_id).where(Group.id == group_id)) == ylp.id
        assert {e.tenant_id for e in db.session.scalars(select(Enrollment))} == {ylp.id}
        assert db.session.get(type(ylp), ylp.id).hosting_partner_id is None
    assert mous.hosted_members(ylp) == {}
