"""The members API: registering, finding and changing members, groups, products — all
scoped by the token's partner."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.services import user_by_email
from bungkesmas.extensions import db
from bungkesmas.members import numbers
from bungkesmas.members import services as members
from bungkesmas.members.models import Member


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def as_json(data: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in data.items()}


@pytest.fixture
def api(make):
    """Partner A (with a token of its admin), partner B (with its own member and group),
    a provider token, and the Bungkesmas product enabled for A."""
    a = make.partner(admin_email="admin-api-a@contoh.id")
    b = make.partner(admin_email="admin-api-b@contoh.id")
    product = make.product(a)
    with tenancy.scoped(tenancy.Scope.tenants(b.id)):
        b_group_id = members.create_group(None, b, "Kelompok Rahasia B").id
        db.session.commit()
    b_number = make.member(b, full_name="Rahasia Binti B", group_id=b_group_id)

    class Api:
        pass

    out = Api()
    out.a, out.b, out.product = a, b, product
    out.a_user = user_by_email("admin-api-a@contoh.id")
    out.headers = bearer(make.token(out.a_user, a))
    out.provider = bearer(make.token(make.admin, None))
    out.b_number, out.b_group_id = b_number, b_group_id
    return out


def member_count(partner_id=None) -> int:
    with tenancy.everything():
        stmt = select(func.count()).select_from(Member)
        if partner_id is not None:
            stmt = stmt.where(Member.tenant_id == partner_id)
        return db.session.scalar(stmt)


def test_register_find_and_change_a_member(client, make, api):
    data = make.member_data(full_name="Hasnah Daeng Baji", phone="0812 3456 7001")
    response = client.post("/api/v1/members", headers=api.headers, json=as_json(data))
    assert response.status_code == 201, response.json
    body = response.json
    number = body["member_number"]
    assert numbers.is_valid(number) and number.startswith(f"{api.a.id:04d}-")
    assert body["full_name"] == "Hasnah Daeng Baji" and body["partner_id"] == api.a.id
    assert body["nik_masked"] == data["nik"][:6] + "******" + data["nik"][-4:]
    assert body["phone"] == "+6281234567001" and body["enrollments"] == []
    # The full NIK never comes back, in no field and no form.
    assert data["nik"] not in response.get_data(as_text=True)
    assert "nik" not in body

    found = client.get(f"/api/v1/members/{number}", headers=api.headers)
    assert found.status_code == 200 and found.json["id"] == body["id"]
    assert data["nik"] not in found.get_data(as_text=True)
    assert client.get(f"/api/v1/members/{number.replace('-', '')}",
                      headers=api.headers).json["member_number"] == number

    listed = client.get("/api/v1/members?q=hasnah", headers=api.headers).json
    assert [m["member_number"] for m in listed["items"]] == [number] and listed["total"] == 1
    assert client.get(f"/api/v1/members?q={data['nik']}",
                      headers=api.headers).json["total"] == 1
    assert data["nik"] not in client.get("/api/v1/members", headers=api.headers).get_data(
        as_text=True)

    changed = client.patch(f"/api/v1/members/{number}", headers=api.headers,
                           json={"phone": "0813 1111 2222", "address": "Jl. Lasinrang 5"})
    assert changed.status_code == 200, changed.json
    assert changed.json["phone"] == "+6281311112222"
    assert changed.json["address"] == "Jl. Lasinrang 5"
    assert changed.json["full_name"] == "Hasnah Daeng Baji"  # untouched
    with tenancy.everything():
        actions = [e.action for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.partner_id == api.a.id).order_by(AuditEvent.id))]
        assert actions[-2:] == ["member.register", "member.update"]
        assert actions.count("member.register") == 1


def test_register_and_enroll_in_one_request(client, make, api):
    response = client.post("/api/v1/members", headers=api.headers,
                           json=as_json(make.member_data(product_code="bkm")))
    assert response.status_code == 201, response.json
    (enrollment,) = response.json["enrollments"]
    assert enrollment["product_code"] == "BKM" and enrollment["product_version"] == 1
    assert enrollment["status"] == "pending_payment"
    listed = client.get("/api/v1/members?status=pending_payment", headers=api.headers).json
    assert listed["total"] == 1
    assert client.get("/api/v1/members?status=not_enrolled",
                      headers=api.headers).json["total"] == 0


def test_enrolling_in_a_product_not_offered_registers_nothing(client, make, api):
    make.product(api.b, code="LAIN")
    before = member_count()
    response = client.post("/api/v1/members", headers=api.headers,
                           json=as_json(make.member_data(product_code="LAIN")))
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["product_code"]
    too_old = client.post("/api/v1/members", headers=api.headers, json=as_json(
        make.member_data(birth_date=date(1940, 3, 14), product_code="BKM")))
    assert too_old.status_code == 422 and list(too_old.json["errors"]) == ["product_code"]
    assert member_count() == before


def test_bad_input_names_each_bad_field(client, make, api):
    before = member_count()
    missing = client.post("/api/v1/members", headers=api.headers, json={})
    assert missing.status_code == 422
    assert {"full_name", "nik", "birth_date", "sex", "consent"} <= set(missing.json["errors"])
    wrong = client.post("/api/v1/members", headers=api.headers, json={
        **as_json(make.member_data()), "sex": "X", "consent": False, "birth_date": "14-03-1985",
        "group_id": "kelompok-1"})
    assert wrong.status_code == 422
    assert set(wrong.json["errors"]) == {"sex", "consent", "birth_date", "group_id"}
    for field, value in (("nik", "73720214038"), ("phone", "12345"),
                         ("village_code", "7372999999"), ("full_name", "A"),
                         ("kk", "123"), ("birth_date", "2999-01-01")):
        response = client.post("/api/v1/members", headers=api.headers,
                               json={**as_json(make.member_data()), field: value})
        assert response.status_code == 422, (field, response.json)
        assert list(response.json["errors"]) == [field], response.json
    control = client.post("/api/v1/members", headers=api.headers,
                          json=as_json(make.member_data(address="Jl. A\x00B")))
    assert control.status_code == 422 and list(control.json["errors"]) == ["address"]
    assert client.get("/api/v1/members?per_page=201", headers=api.headers).status_code == 422
    assert client.get("/api/v1/members?status=lunas", headers=api.headers).status_code == 422
    assert member_count() == before


def test_a_nik_that_disagrees_needs_confirm_nik(client, make, api):
    data = as_json(make.member_data(sex="P", birth_date=date(1990, 1, 2),
                                    nik=make.nik(date(1991, 5, 6), "P")))
    warned = client.post("/api/v1/members", headers=api.headers, json=data)
    assert warned.status_code == 422
    assert list(warned.json["errors"]) == ["nik"]
    assert "confirm_nik=true" in warned.json["errors"]["nik"][0]
    assert member_count(api.a.id) == 0
    confirmed = client.post("/api/v1/members", headers=api.headers,
                            json={**data, "confirm_nik": True})
    assert confirmed.status_code == 201 and confirmed.json["nik_mismatch_confirmed"] is True


def test_a_nik_registered_twice_is_a_conflict(client, make, api):
    data = as_json(make.member_data())
    assert client.post("/api/v1/members", headers=api.headers, json=data).status_code == 201
    again = client.post("/api/v1/members", headers=api.headers,
                        json={**data, "full_name": "Orang Lain"})
    assert again.status_code == 409 and list(again.json["errors"]) == ["nik"]
    assert member_count(api.a.id) == 1


def test_a_repeated_post_with_the_same_id_registers_once(client, make, api):
    member_id = str(uuid.uuid4())
    data = {**as_json(make.member_data(product_code="BKM")), "id": member_id}
    first = client.post("/api/v1/members", headers=api.headers, json=data)
    assert first.status_code == 201, first.json
    assert first.json["id"] == member_id
    again = client.post("/api/v1/members", headers=api.headers, json=data)
    assert again.status_code == 200, again.json
    assert again.json["member_number"] == first.json["member_number"]
    assert len(again.json["enrollments"]) == 1
    assert member_count(api.a.id) == 1
    # Another member under a new id is a new member.
    other = client.post("/api/v1/members", headers=api.headers,
                        json={**as_json(make.member_data()), "id": str(uuid.uuid4())})
    assert other.status_code == 201 and member_count(api.a.id) == 2


def test_an_id_used_by_another_partner_is_a_conflict_that_reveals_nothing(client, make, api):
    with tenancy.everything():
        b_member = db.session.scalar(select(Member).where(Member.member_number == api.b_number))
        b_id = str(b_member.id)
    response = client.post("/api/v1/members", headers=api.headers,
                           json={**as_json(make.member_data()), "id": b_id})
    assert response.status_code == 409 and list(response.json["errors"]) == ["id"]
    assert api.b_number not in response.get_data(as_text=True)
    assert "Rahasia" not in response.get_data(as_text=True)
    assert member_count(api.a.id) == 0


def test_another_partners_member_and_group_are_not_found(client, make, api):
    for method in ("get", "patch"):
        response = getattr(client, method)(f"/api/v1/members/{api.b_number}",
                                           headers=api.headers, json={"full_name": "Diubah"})
        assert response.status_code == 404, method
        assert "Rahasia" not in response.get_data(as_text=True)
    unknown = numbers.format_number(api.a.id, 999)
    assert client.get(f"/api/v1/members/{unknown}", headers=api.headers).status_code == 404
    assert client.get("/api/v1/members/bukan-nomor", headers=api.headers).status_code == 404
    assert client.get(f"/api/v1/groups/{api.b_group_id}", headers=api.headers).status_code == 404
    assert client.get(f"/api/v1/members?q={api.b_number}", headers=api.headers).json["total"] == 0
    assert client.get(f"/api/v1/members?group_id={api.b_group_id}",
                      headers=api.headers).json["total"] == 0
    assert client.get("/api/v1/groups", headers=api.headers).json["items"] == []
    joined = client.post("/api/v1/members", headers=api.headers,
                         json=as_json(make.member_data(group_id=str(api.b_group_id))))
    assert joined.status_code == 422 and list(joined.json["errors"]) == ["group_id"]
    with tenancy.everything():
        b_member = db.session.scalar(select(Member).where(Member.member_number == api.b_number))
        assert b_member.full_name == "Rahasia Binti B"


def test_provider_tokens_are_refused_on_member_endpoints(client, make, api):
    data = as_json(make.member_data())
    calls = [
        ("get", "/api/v1/members", None),
        ("post", "/api/v1/members", data),
        ("get", f"/api/v1/members/{api.b_number}", None),
        ("patch", f"/api/v1/members/{api.b_number}", {"full_name": "Diubah Provider"}),
        ("get", "/api/v1/groups", None),
        ("get", f"/api/v1/groups/{api.b_group_id}", None),
        ("post", "/api/v1/groups", {"name": "Kelompok Provider"}),
    ]
    for method, url, body in calls:
        response = getattr(client, method)(url, headers=api.provider, json=body)
        assert response.status_code == 403, (method, url, response.json)
        assert "errors" in response.json
    assert member_count() == 1


def test_products_list_what_the_partner_offers_with_current_rules(client, make, api):
    make.product(api.b, code="KHUSUS")
    body = client.get("/api/v1/products", headers=api.headers).json
    (product,) = body["items"]
    assert product["code"] == "BKM"
    current = product["current"]
    assert current["version"] == 1 and current["annual_contribution"] == 150_000
    assert current["hospital_cash_per_night"] == 100_000
    assert current["hospital_nights_per_year"] == 90
    assert current["death_benefit"] == 2_500_000
    assert current["accidental_death_benefit"] == 20_000_000
    everything = client.get("/api/v1/products", headers=api.provider).json
    assert sorted(p["code"] for p in everything["items"]) == ["BKM", "KHUSUS"]


def test_groups_are_created_and_counted(client, make, api):
    response = client.post("/api/v1/groups", headers=api.headers, json={
        "name": "Kelompok Labukkang", "village_code": "7372021001", "meeting_day": "Kamis"})
    assert response.status_code == 201, response.json
    group_id = response.json["id"]
    assert response.json["members"] == 0 and response.json["partner_id"] == api.a.id
    for product_code in ("BKM", None):
        created = client.post("/api/v1/members", headers=api.headers, json=as_json(
            make.member_data(group_id=group_id, product_code=product_code)))
        assert created.status_code == 201, created.json
        assert created.json["group"] == {"id": group_id, "name": "Kelompok Labukkang"}
    (row,) = client.get("/api/v1/groups", headers=api.headers).json["items"]
    assert (row["id"], row["members"], row["enrolled"]) == (group_id, 2, 1)
    one = client.get(f"/api/v1/groups/{group_id}", headers=api.headers)
    assert one.status_code == 200 and one.json["members"] == 2
    assert client.get(f"/api/v1/members?group_id={group_id}",
                      headers=api.headers).json["total"] == 2
    duplicate = client.post("/api/v1/groups", headers=api.headers,
                            json={"name": "kelompok labukkang"})
    assert duplicate.status_code == 409 and list(duplicate.json["errors"]) == ["name"]
    bad = client.post("/api/v1/groups", headers=api.headers,
                      json={"name": "Kelompok X", "village_code": "123"})
    assert bad.status_code == 422 and list(bad.json["errors"]) == ["village_code"]
    missing = client.post("/api/v1/groups", headers=api.headers, json={})
    assert missing.status_code == 422 and list(missing.json["errors"]) == ["name"]


def test_a_parent_partner_reads_its_childs_members_but_does_not_change_them(client, make):
    parent = make.partner(admin_email="admin-induk@contoh.id")
    child = make.partner(parent=parent)
    number = make.member(child)
    headers = bearer(make.token(user_by_email("admin-induk@contoh.id"), parent))
    assert client.get(f"/api/v1/members/{number}", headers=headers).status_code == 200
    assert client.get("/api/v1/members", headers=headers).json["total"] == 1
    response = client.patch(f"/api/v1/members/{number}", headers=headers,
                            json={"address": "Diubah induk"})
    assert response.status_code == 403


def test_nik_change_through_patch_needs_confirmation_when_it_disagrees(client, make, api):
    created = client.post("/api/v1/members", headers=api.headers, json=as_json(
        make.member_data(sex="L", birth_date=date(1980, 7, 9),
                         nik=make.nik(date(1980, 7, 9), "L")))).json
    url = f"/api/v1/members/{created['member_number']}"
    other_nik = make.nik(date(1981, 7, 9), "L")
    warned = client.patch(url, headers=api.headers, json={"nik": other_nik})
    assert warned.status_code == 422 and "confirm_nik=true" in warned.json["errors"]["nik"][0]
    done = client.patch(url, headers=api.headers, json={"nik": other_nik, "confirm_nik": True})
    assert done.status_code == 200
    assert done.json["nik_masked"] == other_nik[:6] + "******" + other_nik[-4:]
    assert other_nik not in done.get_data(as_text=True)
    bad = client.patch(url, headers=api.headers, json={"full_name": "", "sex": "Q"})
    assert bad.status_code == 422 and set(bad.json["errors"]) == {"sex"}
    empty_name = client.patch(url, headers=api.headers, json={"full_name": ""})
    assert empty_name.status_code == 422 and list(empty_name.json["errors"]) == ["full_name"]


def test_openapi_lists_the_member_resources(client):
    spec = client.get("/api/v1/openapi.json").json
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/members"])
    assert {"get", "patch"} <= set(paths["/api/v1/members/{member_number}"])
    assert {"get", "post"} <= set(paths["/api/v1/groups"])
    assert "get" in paths["/api/v1/groups/{group_id}"]
    assert "get" in paths["/api/v1/products"]
    member = spec["components"]["schemas"]["Member"]["properties"]
    assert "nik_masked" in member and "nik" not in member
    create = paths["/api/v1/members"]["post"]
    assert {"200", "201"} <= set(create["responses"])


def test_a_program_cancels_an_enrollment_with_a_reason(client, make, api):
    created = client.post("/api/v1/members", headers=api.headers,
                          json=as_json(make.member_data(product_code="bkm"))).json
    number, (enrollment,) = created["member_number"], created["enrollments"]
    url = f"/api/v1/members/{number}/enrollments/{enrollment['id']}/cancel"
    response = client.post(url, headers=api.headers, json={"reason": " "})
    assert response.status_code == 422 and "reason" in response.json["errors"]
    response = client.post(url, headers=api.headers, json={})
    assert response.status_code == 422 and "reason" in response.json["errors"]
    response = client.post(url, headers=api.headers, json={"reason": "Meninggal dunia"})
    assert response.status_code == 200, response.json
    assert response.json["status"] == "cancelled" and response.json["cancelled_at"]
    again = client.post(url, headers=api.headers, json={"reason": "Meninggal dunia"})
    assert again.status_code == 409
    assert client.get(f"/api/v1/members/{number}",
                      headers=api.headers).json["enrollments"][0]["status"] == "cancelled"
    unknown = f"/api/v1/members/{number}/enrollments/{uuid.uuid4()}/cancel"
    assert client.post(unknown, headers=api.headers, json={"reason": "x"}).status_code == 404


def test_another_partners_enrollment_cannot_be_cancelled(client, make, api):
    product_b = make.product(api.b, code="PRB")
    enrollment = make.enrollment(api.b, product_b, member_number=api.b_number)
    db.session.commit()
    url = f"/api/v1/members/{api.b_number}/enrollments/{enrollment.id}/cancel"
    response = client.post(url, headers=api.headers, json={"reason": "x"})
    assert response.status_code == 404
    with tenancy.everything():
        assert db.session.get(type(enrollment), (api.b.id, enrollment.id)).cancelled_at is None
