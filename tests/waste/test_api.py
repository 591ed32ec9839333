"""The waste bank API: price lists and deposits, scoped by the token's partner."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.auth.services import user_by_email
from bungkesmas.contributions.models import EntryMethod, LedgerEntry
from bungkesmas.extensions import db
from bungkesmas.members.models import Member
from bungkesmas.partners.models import PartnerType
from bungkesmas.timeutil import local_today
from bungkesmas.waste.models import WasteDeposit, WastePrice


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(make):
    bank = make.partner(org_type=PartnerType.WASTE_BANK, admin_email="admin-api-bs@contoh.id")
    ngo = make.partner(admin_email="admin-api-ngo@contoh.id")
    today = local_today(bank)
    enrollment = make.enrollment(bank, enrolled_on=today - timedelta(days=30))
    with tenancy.everything():
        number = db.session.scalar(select(Member.member_number).where(
            Member.id == enrollment.member_id))
        headers = bearer(make.token(user_by_email("admin-api-bs@contoh.id"), bank))
        ngo_headers = bearer(make.token(user_by_email("admin-api-ngo@contoh.id"), ngo))
    return {"bank": bank, "headers": headers, "ngo": ngo_headers, "number": number,
            "today": today}


def _category(client, api, name="Plastik PET", material="plastic", price=2500, days_ago=10):
    response = client.post("/api/v1/waste/categories", headers=api["headers"],
                           json={"name": name, "material": material})
    assert response.status_code == 201, response.json
    category = response.json["id"]
    response = client.post("/api/v1/waste/prices", headers=api["headers"], json={
        "category_id": category, "price_per_kg": price,
        "effective_from": (api["today"] - timedelta(days=days_ago)).isoformat()})
    assert response.status_code == 201, response.json
    return category


def test_the_price_list_shows_the_price_in_force_the_next_change_and_the_history(client, api):
    pet = _category(client, api)
    tomorrow = (api["today"] + timedelta(days=1)).isoformat()
    response = client.post("/api/v1/waste/prices", headers=api["headers"], json={
        "category_id": pet, "price_per_kg": 3000, "effective_from": tomorrow})
    assert response.status_code == 201
    listed = client.get("/api/v1/waste/prices", headers=api["headers"]).json
    item = listed["items"][0]
    assert (item["name"], item["material"], item["price"]["price_per_kg"]) == (
        "Plastik PET", "plastic", 2500)
    assert item["next_price"]["price_per_kg"] == 3000
    assert [h["state"] for h in item["history"]] == ["scheduled", "in_force"]
    later = client.get(f"/api/v1/waste/prices?on={tomorrow}", headers=api["headers"]).json
    assert later["items"][0]["price"]["price_per_kg"] == 3000


def test_a_bad_price_is_a_field_error_and_nothing_is_saved(client, api):
    pet = _category(client, api)
    for body, field in (({"price_per_kg": 0}, "price_per_kg"),
                        ({"price_per_kg": 2500.5}, "price_per_kg"),
                        ({"effective_from": (api["today"] - timedelta(days=1)).isoformat()},
                         "effective_from"),
                        ({"category_id": "00000000-0000-7000-8000-000000000000"}, "category_id")):
        response = client.post("/api/v1/waste/prices", headers=api["headers"], json={
            "category_id": pet, "price_per_kg": 2600,
            "effective_from": api["today"].isoformat(), **body})
        assert response.status_code == 422, body
        assert field in response.json["errors"], response.json
    with tenancy.everything():
        assert db.session.scalar(select(func.count()).select_from(WastePrice)) == 1


def test_a_deposit_is_valued_credited_and_listed(client, api):
    pet = _category(client, api)
    cans = _category(client, api, "Kaleng aluminium", "metal", 12000)
    response = client.post("/api/v1/waste/deposits", headers=api["headers"], json={
        "member_number": api["number"], "deposited_on": api["today"].isoformat(),
        "lines": [{"category_id": pet, "weight_kg": 3.25}, {"category_id": cans,
                                                             "weight_kg": "0.05"}]})
    assert response.status_code == 201, response.json
    body = response.json
    assert [(ln["weight_kg"], ln["price_per_kg"], ln["value"]) for ln in body["lines"]] == [
        ("3.25", 2500, 8125), ("0.05", 12000, 600)]
    assert body["total_value"] == 8725 and body["total_kg"] == "3.30"
    assert body["receipt_number"].startswith("KW-")
    with tenancy.everything():
        entry = db.session.scalar(select(LedgerEntry).where(
            LedgerEntry.id == uuid.UUID(body["ledger_entry_id"])))
    assert (entry.method, entry.amount) == (EntryMethod.WASTE, 8725)
    listed = client.get(f"/api/v1/waste/deposits?member_number={api['number']}",
                        headers=api["headers"]).json
    assert listed["total"] == 1 and listed["items"][0]["number"] == body["number"]
    none = client.get(f"/api/v1/waste/deposits?date_to={api['today'] - timedelta(days=1)}",
                      headers=api["headers"]).json
    assert none["total"] == 0


@pytest.mark.parametrize(("line", "field"), [
    ({"weight_kg": 0}, "lines.0.weight_kg"),
    ({"weight_kg": -1}, "lines.0.weight_kg"),
    ({"weight_kg": 500.01}, "lines.0.weight_kg"),
    ({"weight_kg": 1.005}, "lines.0.weight_kg"),
    ({"weight_kg": "1,5"}, "lines.0.weight_kg"),
    ({"weight_kg": True}, "lines.0.weight_kg"),
    ({"category_id": "00000000-0000-7000-8000-000000000000"}, "lines.0.category_id"),
    ({"category_id": "bukan"}, "lines.0.category_id"),
])
def test_a_bad_line_is_a_field_error_naming_the_line(client, api, line, field):
    pet = _category(client, api)
    response = client.post("/api/v1/waste/deposits", headers=api["headers"], json={
        "member_number": api["number"], "deposited_on": api["today"].isoformat(),
        "lines": [{"category_id": pet, "weight_kg": 1, **line}]})
    assert response.status_code == 422, response.json
    assert list(response.json["errors"]) == [field], response.json
    with tenancy.everything():
        assert db.session.scalar(select(func.count()).select_from(WasteDeposit)) == 0
        assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_a_deposit_without_a_price_in_force_or_in_the_future_is_refused(client, api):
    pet = _category(client, api, days_ago=0)
    for day, field in ((api["today"] - timedelta(days=1), "lines.0.category_id"),
                       (api["today"] + timedelta(days=1), "deposited_on")):
        response = client.post("/api/v1/waste/deposits", headers=api["headers"], json={
            "member_number": api["number"], "deposited_on": day.isoformat(),
            "lines": [{"category_id": pet, "weight_kg": 2}]})
        assert response.status_code == 422
        assert list(response.json["errors"]) == [field]


def test_an_idempotency_key_records_a_deposit_once(client, api):
    pet = _category(client, api)
    body = {"member_number": api["number"], "deposited_on": api["today"].isoformat(),
            "lines": [{"category_id": pet, "weight_kg": 2}]}
    headers = {**api["headers"], "Idempotency-Key": "setoran-001"}
    first = client.post("/api/v1/waste/deposits", headers=headers, json=body)
    again = client.post("/api/v1/waste/deposits", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers.get("Idempotent-Replayed") == "true"
    other = client.post("/api/v1/waste/deposits", headers=headers,
                        json={**body, "lines": [{"category_id": pet, "weight_kg": 3}]})
    assert other.status_code == 422 and "Idempotency-Key" in other.json["errors"]
    with tenancy.everything():
        assert db.session.scalar(select(func.count()).select_from(WasteDeposit)) == 1
        assert db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.method == EntryMethod.WASTE)) == 1


def test_a_partner_that_is_not_a_waste_bank_is_refused(client, api):
    for method, url in (("GET", "/api/v1/waste/prices"), ("GET", "/api/v1/waste/deposits"),
                        ("POST", "/api/v1/waste/categories")):
        response = client.open(url, method=method, headers=api["ngo"],
                               json={"name": "Kardus", "material": "paper"})
        assert response.status_code == 403, (url, response.json)
        assert response.json["errors"]


def test_the_waste_routes_are_in_the_openapi_document(client, api):
    spec = client.get("/api/v1/openapi.json").json
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/waste/prices"])
    assert {"get", "post"} <= set(paths["/api/v1/waste/deposits"])
    parameters = paths["/api/v1/waste/deposits"]["post"].get("parameters", [])
    assert any(p["name"] == "Idempotency-Key" for p in parameters)
