"""Remittance in the API: statements for partner and provider tokens, receipts with an
Idempotency-Key, errors as {"errors": {field: [message]}}, the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.auth.services import user_by_email
from bungkesmas.contributions import services as ledger
from bungkesmas.extensions import db
from bungkesmas.remittance import services as remittance
from bungkesmas.remittance.models import RemittanceReceipt
from bungkesmas.remittance.periods import Frequency, period_of
from bungkesmas.timeutil import local_today

C = 150_000


@pytest.fixture
def world(make):
    partner = make.partner(admin_email="admin-api-setoran@contoh.id")
    with tenancy.everything():
        admin = user_by_email("admin-api-setoran@contoh.id")
    today = local_today()
    last = period_of(today, Frequency.MONTHLY).previous()
    remittance.update_settings(make.admin, partner, 1000, "monthly", 10)
    db.session.commit()
    enrollment = make.enrollment(partner, enrolled_on=today - timedelta(days=400))
    ledger.record_payment(None, enrollment, "cash", C, last.start + timedelta(days=1))
    db.session.commit()
    number = remittance.issue(None, partner, last).number
    db.session.commit()
    return {"partner": partner, "last": last, "today": today, "number": number,
            "partner_token": {"Authorization": f"Bearer {make.token(admin, partner)}"},
            "provider_token": {"Authorization": f"Bearer {make.token(make.admin, None)}"}}


def receipts_count() -> int:
    with tenancy.everything():
        return db.session.scalar(select(func.count()).select_from(RemittanceReceipt))


def test_a_partner_token_reads_its_statements(world, client):
    response = client.get("/api/v1/remittance/statements", headers=world["partner_token"])
    assert response.status_code == 200, response.json
    items = response.json["items"]
    current = period_of(world["today"], Frequency.MONTHLY).key
    assert [(i["period"], i["state"]) for i in items] == [(current, "open"),
                                                          (world["last"].key, "issued")]
    issued = items[1]
    assert issued["number"] == world["number"]
    assert (issued["collected"], issued["fee"], issued["due_to_provider"]) == (C, 15_000, 135_000)
    assert issued["by_method"] == [{"method": "cash", "amount": C, "count": 1}]
    assert issued["status"] in ("not_yet_due", "overdue") and issued["difference"] == -135_000
    for ref in (world["number"], world["last"].key):
        detail = client.get(f"/api/v1/remittance/statements/{ref}",
                            headers=world["partner_token"])
        assert detail.status_code == 200 and detail.json["number"] == world["number"]
        assert detail.json["receipts"] == [] and detail.json["adjustment_lines"] == []
    year = client.get(f"/api/v1/remittance/statements?year={world['last'].start.year}",
                      headers=world["partner_token"])
    assert world["last"].key in [i["period"] for i in year.json["items"]]
    bad = client.get("/api/v1/remittance/statements?year=20", headers=world["partner_token"])
    assert bad.status_code == 422 and "year" in bad.json["errors"]


def test_another_partners_statement_is_not_found(world, client, make):
    other = make.partner()
    with tenancy.everything():
        admin = user_by_email(other.contact_email)
    headers = {"Authorization": f"Bearer {make.token(admin, other)}"}
    response = client.get(f"/api/v1/remittance/statements/{world['number']}", headers=headers)
    assert response.status_code == 404 and "errors" in response.json


def test_a_provider_token_names_the_partner(world, client):
    headers = world["provider_token"]
    missing = client.get("/api/v1/remittance/statements", headers=headers)
    assert missing.status_code == 422 and "partner_id" in missing.json["errors"]
    response = client.get(f"/api/v1/remittance/statements?partner_id={world['partner'].id}",
                          headers=headers)
    assert response.status_code == 200 and len(response.json["items"]) == 2
    detail = client.get(f"/api/v1/remittance/statements/{world['number']}"
                        f"?partner_id={world['partner'].id}", headers=headers)
    assert detail.status_code == 200 and detail.json["partner_id"] == world["partner"].id


def body(world, **change):
    return {"partner_id": world["partner"].id, "statement": world["number"], "amount": 135_000,
            "received_on": world["today"].isoformat(), "bank_reference": "BRI-API-1", **change}


def test_the_provider_records_money_received_once_per_idempotency_key(world, client):
    headers = {**world["provider_token"], "Idempotency-Key": "trf-2026-001"}
    first = client.post("/api/v1/remittance/receipts", json=body(world), headers=headers)
    assert first.status_code == 201, first.json
    again = client.post("/api/v1/remittance/receipts", json=body(world), headers=headers)
    assert again.status_code == 201 and again.json == first.json
    assert receipts_count() == 1
    other = client.post("/api/v1/remittance/receipts", json=body(world, amount=1), headers=headers)
    assert other.status_code == 422 and list(other.json["errors"]) == ["Idempotency-Key"]
    assert receipts_count() == 1
    detail = client.get(f"/api/v1/remittance/statements/{world['number']}"
                        f"?partner_id={world['partner'].id}", headers=world["provider_token"])
    assert detail.json["received"] == 135_000 and detail.json["status"] == "settled"
    assert [r["bank_reference"] for r in detail.json["receipts"]] == ["BRI-API-1"]


@pytest.mark.parametrize(("change", "field"), [
    ({"amount": 0}, "amount"),
    ({"amount": -5}, "amount"),
    ({"received_on": "future"}, "received_on"),
    ({"statement": "2099-01"}, "statement"),
    ({"statement": "open"}, "statement"),
    ({"partner_id": 999_999}, "partner_id"),
    ({"bank_reference": "   "}, "bank_reference"),
])
def test_bad_receipts_are_refused_with_field_errors(world, client, change, field):
    if change.get("received_on") == "future":
        change["received_on"] = (world["today"] + timedelta(days=1)).isoformat()
    if change.get("statement") == "open":
        change["statement"] = period_of(world["today"], Frequency.MONTHLY).key
    response = client.post("/api/v1/remittance/receipts", json=body(world, **change),
                           headers=world["provider_token"])
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]
    assert receipts_count() == 0


def test_partner_tokens_cannot_record_receipts(world, client):
    response = client.post("/api/v1/remittance/receipts", json=body(world),
                           headers=world["partner_token"])
    assert response.status_code == 403 and receipts_count() == 0


def test_the_openapi_document_describes_remittance(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/api/v1/remittance/statements", "/api/v1/remittance/statements/{statement}",
            "/api/v1/remittance/receipts"} <= set(paths)
    parameters = paths["/api/v1/remittance/receipts"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in parameters)
