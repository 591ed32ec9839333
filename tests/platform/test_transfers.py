"""Provider admin: transferring chosen members or a whole group to another partner."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Enrollment, Group, Member

FIELD_ERROR = re.compile(r'<p class="error" id="([\w-]+)-error">(.*?)</p>', re.S)


@pytest.fixture
def world(make):
    """LSM Pattiro Jeka registered members on YLP2EM's behalf; YLP2EM's MOU is signed."""
    jeka = make.partner(name="LSM Pattiro Jeka", slug="pattiro-jeka",
                        admin_email="admin-jeka@contoh.id")
    ylp = make.partner(name="YLP2EM Parepare", slug="ylp2em", admin_email="admin-ylp@contoh.id")
    product = make.product(jeka, ylp)
    with tenancy.scoped(tenancy.Scope.tenants(jeka.id)):
        group_id = members.create_group(None, jeka, "Kelompok Labukkang", "7372021001").id
        db.session.commit()
    in_group = [make.member(jeka, full_name=f"Anggota Labukkang {i}", group_id=group_id)
                for i in range(3)]
    loose = [make.member(jeka, full_name=f"Peserta Lepas {i}") for i in range(3)]
    with tenancy.scoped(tenancy.Scope.tenants(jeka.id)):
        members.enroll(None, jeka, members.by_number(in_group[0]), product.id)
        members.enroll(None, jeka, members.by_number(loose[0]), product.id)
        db.session.commit()
    return {"jeka": jeka, "ylp": ylp, "group_id": group_id, "in_group": in_group,
            "loose": loose, "jeka_id": jeka.id, "ylp_id": ylp.id}


def ids_of(numbers_: list[str]) -> list[str]:
    with tenancy.everything():
        return [str(db.session.scalar(select(Member.id).where(Member.member_number == n)))
                for n in numbers_]


def tenants_of(numbers_: list[str]) -> dict[str, int]:
    with tenancy.everything():
        return dict(db.session.execute(select(Member.member_number, Member.tenant_id).where(
            Member.member_number.in_(numbers_))).all())


def visible_numbers(partner_id: int) -> set[str]:
    with tenancy.scoped(tenancy.Scope.tenants(partner_id)):
        return {m.member_number for m in db.session.scalars(
            members.search(None, members.MemberFilter()))}


def errors_of(response) -> dict[str, str]:
    return dict(FIELD_ERROR.findall(response.get_data(as_text=True)))


def test_the_partner_page_links_to_the_transfer_preselected(client, make, login_as, world):
    login_as(make.admin)
    page = client.get(f"/admin/partners/{world['jeka_id']}").get_data(as_text=True)
    assert f'href="/admin/pindah?sumber={world["jeka_id"]}"' in page
    chooser = client.get("/admin/pindah")
    assert chooser.status_code == 200 and "transfer-form" not in chooser.get_data(as_text=True)
    listing = client.get(f"/admin/pindah?sumber={world['jeka_id']}").get_data(as_text=True)
    for number in world["in_group"] + world["loose"]:
        assert number in listing
    assert "Kelompok Labukkang" in listing
    # Search narrows the list; the other partner is a target, not the source.
    found = client.get(f"/admin/pindah?sumber={world['jeka_id']}&q=peserta+lepas").get_data(
        as_text=True)
    assert all(n in found for n in world["loose"])
    assert not any(n in found for n in world["in_group"])
    by_group = client.get(f"/admin/pindah?sumber={world['jeka_id']}"
                          f"&kelompok={world['group_id']}").get_data(as_text=True)
    assert all(n in by_group for n in world["in_group"])
    assert not any(n in by_group for n in world["loose"])
    target = re.search(r'<select[^>]*name="target".*?</select>', listing, re.S).group(0)
    assert "YLP2EM Parepare" in target and "LSM Pattiro Jeka" not in target


def test_transfer_chosen_members(client, make, login_as, world):
    login_as(make.admin)
    chosen = world["loose"][:2]
    response = client.post("/admin/pindah", data={
        "source": world["jeka_id"], "mode": "members", "member_ids": ids_of(chosen),
        "target": world["ylp_id"], "reason": "MOU YLP2EM sudah ditandatangani"})
    assert response.status_code == 302, errors_of(response)
    assert re.search(r"/admin/pindah/\d+$", response.location)
    done = client.get(response.location)
    html = done.get_data(as_text=True)
    assert done.status_code == 200
    assert f'href="/admin/partners/{world["jeka_id"]}"' in html
    assert f'href="/admin/partners/{world["ylp_id"]}"' in html
    assert all(n in html for n in chosen) and "MOU YLP2EM sudah ditandatangani" in html
    # Moved with their numbers and enrollments; the rest stays.
    tenants = tenants_of(world["loose"] + world["in_group"])
    assert {n: tenants[n] for n in chosen} == dict.fromkeys(chosen, world["ylp_id"])
    assert all(tenants[n] == world["jeka_id"] for n in world["loose"][2:] + world["in_group"])
    with tenancy.everything():
        enrollment = db.session.scalar(select(Enrollment).join(
            Member, (Member.id == Enrollment.member_id)
            & (Member.tenant_id == Enrollment.tenant_id)).where(
            Member.member_number == world["loose"][0]))
        assert enrollment.tenant_id == world["ylp_id"]
        audited = {e.partner_id for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "member.transfer"))}
        assert audited == {world["jeka_id"], world["ylp_id"]}
    assert set(chosen) <= visible_numbers(world["ylp_id"])
    assert not set(chosen) & visible_numbers(world["jeka_id"])


def test_the_target_workspace_lists_them_and_the_source_no_longer_does(
        client, make, login_as, world):
    login_as(make.admin)
    response = client.post("/admin/pindah", data={
        "source": world["jeka_id"], "mode": "group", "group_id": str(world["group_id"]),
        "target": world["ylp_id"], "reason": "Pindah ke YLP2EM"})
    assert response.status_code == 302, errors_of(response)
    client.post("/logout")
    login_as("admin-ylp@contoh.id")
    target = client.get("/p/ylp2em/peserta")
    assert target.status_code == 200
    assert all(n in target.get_data(as_text=True) for n in world["in_group"])
    assert client.get(f"/p/ylp2em/peserta/{world['in_group'][0]}").status_code == 200
    client.post("/logout")
    login_as("admin-jeka@contoh.id")
    source = client.get("/p/pattiro-jeka/peserta").get_data(as_text=True)
    assert not any(n in source for n in world["in_group"])
    assert all(n in source for n in world["loose"])
    assert client.get(f"/p/pattiro-jeka/peserta/{world['in_group'][0]}").status_code == 404


def test_transfer_a_whole_group(client, make, login_as, world):
    login_as(make.admin)
    response = client.post("/admin/pindah", data={
        "source": world["jeka_id"], "mode": "group", "group_id": str(world["group_id"]),
        "target": world["ylp_id"], "reason": "Kelompok pindah"})
    assert response.status_code == 302, errors_of(response)
    html = client.get(response.location).get_data(as_text=True)
    assert "Kelompok Labukkang" in html and all(n in html for n in world["in_group"])
    with tenancy.everything():
        group = db.session.scalar(select(Group).where(Group.id == world["group_id"]))
        assert group.tenant_id == world["ylp_id"]
    tenants = tenants_of(world["in_group"] + world["loose"])
    assert all(tenants[n] == world["ylp_id"] for n in world["in_group"])
    assert all(tenants[n] == world["jeka_id"] for n in world["loose"])
    assert set(world["in_group"]) <= visible_numbers(world["ylp_id"])
    with tenancy.scoped(tenancy.Scope.tenants(world["ylp_id"])):
        (row,) = members.groups_with_counts(world["ylp"])
        assert (row[0].name, row[1], row[2]) == ("Kelompok Labukkang", 3, 1)


def test_bad_transfers_are_refused_and_move_nothing(client, make, login_as, world):
    other = make.partner(name="Bank Sampah Labukkang")
    outsider = make.member(other)
    with tenancy.scoped(tenancy.Scope.tenants(world["ylp_id"])):
        members.create_group(None, world["ylp"], "Kelompok Labukkang")
        db.session.commit()
    login_as(make.admin)
    base = {"source": world["jeka_id"], "target": world["ylp_id"], "reason": "Uji"}
    cases = [
        ({"mode": "members"}, "member_ids"),
        ({"mode": "members", "member_ids": ["bukan-uuid"]}, "member_ids"),
        ({"mode": "members", "member_ids": ids_of([outsider])}, "member_ids"),
        ({"mode": "members", "member_ids": ids_of(world["loose"][:1]), "reason": ""}, "reason"),
        ({"mode": "members", "member_ids": ids_of(world["loose"][:1]),
          "target": world["jeka_id"]}, "target"),
        ({"mode": "group"}, "group_id"),
        # YLP2EM already has a group of that name: the domain refuses, next to the target.
        ({"mode": "group", "group_id": str(world["group_id"])}, "target"),
    ]
    for overrides, field in cases:
        response = client.post("/admin/pindah", data={**base, **overrides})
        assert response.status_code == 422, overrides
        html = response.get_data(as_text=True)
        if field == "member_ids":
            assert 'class="error" role="alert"' in html, overrides
        else:
            assert list(errors_of(response)) == [field], (overrides, errors_of(response))
    missing_mode = client.post("/admin/pindah", data={**base, "group_id": str(world["group_id"])})
    assert missing_mode.status_code == 422
    for source in ("999999", "²", "1" * 30, ""):
        assert client.post("/admin/pindah", data={**base, "source": source,
                                                  "mode": "members"}).status_code == 404
        assert client.get("/admin/pindah", query_string={"sumber": source}).status_code == 200
    tenants = tenants_of(world["in_group"] + world["loose"] + [outsider])
    assert tenants[outsider] == other.id
    assert all(tenants[n] == world["jeka_id"] for n in world["in_group"] + world["loose"])


def test_staff_without_members_transfer_are_refused(client, make, login_as, world):
    login_as(make.provider(Role.PROVIDER_STAFF))
    assert client.get("/admin/pindah").status_code == 403
    assert client.post("/admin/pindah", data={
        "source": world["jeka_id"], "mode": "group", "group_id": str(world["group_id"]),
        "target": world["ylp_id"], "reason": "x"}).status_code == 403
    page = client.get(f"/admin/partners/{world['jeka_id']}").get_data(as_text=True)
    assert "/admin/pindah" not in page
    assert all(t == world["jeka_id"] for t in tenants_of(world["in_group"]).values())


def test_the_result_page_shows_only_transfers(client, make, login_as, world):
    login_as(make.admin)
    with tenancy.everything():
        other_event = db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.action != "member.transfer").limit(1))
    assert client.get(f"/admin/pindah/{other_event}").status_code == 404
    assert client.get("/admin/pindah/424242").status_code == 404
