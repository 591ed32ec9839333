"""The contributions API: recording, listing and reversing ledger rows, a member's
coverage, and the Idempotency-Key on both POSTs."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.auth.permissions import Role
from bungkesmas.auth.services import user_by_email
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.models import EntryKind, IdempotencyKey, LedgerEntry
from bungkesmas.extensions import db
from bungkesmas.members.models import Member
from bungkesmas.timeutil import local_today

C = 150_000


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(make):
    a = make.partner(admin_email="admin-iuran-a@contoh.id")
    b = make.partner(admin_email="admin-iuran-b@contoh.id")
    enrollment = make.enrollment(a, enrolled_on=local_today() - timedelta(days=30),
                                 waiting_days=0)
    b_enrollment = make.enrollment(b)
    b_entry = ledger.record_payment(None, b_enrollment, "cash", C, local_today())
    b_entry_id = b_entry.id
    db.session.commit()

    class Api:
        pass

    out = Api()
    out.a, out.b, out.make = a, b, make
    out.headers = bearer(make.token(user_by_email("admin-iuran-a@contoh.id"), a))
    out.officer = bearer(make.token(make.staff(a, Role.PARTNER_OFFICER), a))
    with tenancy.everything():
        out.number = db.session.scalar(select(Member.member_number).where(
            Member.id == enrollment.member_id))
        out.b_number = db.session.scalar(select(Member.member_number).where(
            Member.id == b_enrollment.member_id))
    out.b_entry_id = b_entry_id
    return out


def body(api, **overrides) -> dict:
    data = {"member_number": api.number, "method": "cash", "amount": C,
            "received_on": local_today().isoformat()}
    data.update(overrides)
    return data


def rows(kind=None, tenant=None) -> int:
    with tenancy.everything():
        stmt = select(func.count()).select_from(LedgerEntry)
        if kind:
            stmt = stmt.where(LedgerEntry.kind == kind)
        if tenant:
            stmt = stmt.where(LedgerEntry.tenant_id == tenant)
        return db.session.scalar(stmt)


def test_recording_a_contribution_answers_the_receipt_and_the_coverage(client, api):
    response = client.post("/api/v1/contributions", json=body(api), headers=api.headers)
    assert response.status_code == 201, response.json
    data = response.json
    assert data["receipt_number"].startswith(f"KW-{api.a.id:04d}-")
    assert data["kind"] == "payment" and data["amount"] == C
    assert data["member_number"] == api.number
    assert data["coverage"]["status"] == "active" and data["coverage"]["balance"] == 0
    assert data["coverage"]["periods"][0]["number"] == 1
    coverage = client.get(f"/api/v1/members/{api.number}/coverage", headers=api.headers).json
    assert coverage["status"] == "active" and coverage["covered_until"]
    assert coverage["amount_due"] == C and coverage["balance"] == 0
    member = client.get(f"/api/v1/members/{api.number}", headers=api.headers).json
    assert member["status"] == "active" and member["covered_until"] == coverage["covered_until"]
    assert member["enrollments"][0]["status"] == "active"


def test_listing_filters_by_member_and_dates_and_pages(client, api):
    today = local_today()
    for days, amount in ((20, 40_000), (10, 50_000), (0, 60_000)):
        client.post("/api/v1/contributions", headers=api.headers, json=body(
            api, amount=amount, received_on=(today - timedelta(days=days)).isoformat()))
    listed = client.get(f"/api/v1/contributions?member_number={api.number}&kind=payment"
                        f"&from={(today - timedelta(days=15)).isoformat()}&per_page=1",
                        headers=api.headers).json
    assert listed["total"] == 2 and len(listed["items"]) == 1
    assert listed["items"][0]["amount"] == 60_000
    everything = client.get("/api/v1/contributions", headers=api.headers).json
    # The three payments and the premium row of the term they funded; never B's rows.
    assert everything["total"] == 4
    assert {i["member_number"] for i in everything["items"]} == {api.number}


@pytest.mark.parametrize("changes, field", [
    ({"amount": 0}, "amount"),
    ({"amount": -C}, "amount"),
    ({"amount": 1.5}, "amount"),
    ({"amount": "150000"}, "amount"),
    ({"amount": 10 * C + 1}, "amount"),
    ({"received_on": "2999-01-01"}, "received_on"),
    ({"method": "bank_transfer"}, "reference"),
    ({"method": "waste"}, "method"),
])
def test_bad_input_is_a_field_error_and_nothing_is_recorded(client, api, changes, field):
    before = rows()
    response = client.post("/api/v1/contributions", json=body(api, **changes),
                           headers=api.headers)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]
    assert rows() == before


def test_another_partners_member_and_row_are_not_found(client, api):
    before = rows()
    assert client.post("/api/v1/contributions", json=body(api, member_number=api.b_number),
                       headers=api.headers).status_code == 404
    assert client.post(f"/api/v1/contributions/{api.b_entry_id}/reversal",
                       json={"reason": "Salah catat"}, headers=api.headers).status_code == 404
    assert client.get(f"/api/v1/members/{api.b_number}/coverage",
                      headers=api.headers).status_code == 404
    assert rows() == before


def test_a_reversal_once_by_a_partner_admin_and_never_of_a_reversal(client, api):
    entry = client.post("/api/v1/contributions", json=body(api), headers=api.headers).json
    url = f"/api/v1/contributions/{entry['id']}/reversal"
    assert client.post(url, json={"reason": "Salah catat"}, headers=api.officer
                       ).status_code == 403
    reversal = client.post(url, json={"reason": "Salah catat"}, headers=api.headers)
    assert reversal.status_code == 201 and reversal.json["amount"] == -C
    assert reversal.json["reverses_id"] == entry["id"]
    again = client.post(url, json={"reason": "Lagi"}, headers=api.headers)
    assert again.status_code == 409
    of_reversal = client.post(f"/api/v1/contributions/{reversal.json['id']}/reversal",
                              json={"reason": "Batal"}, headers=api.headers)
    assert of_reversal.status_code == 422
    coverage = client.get(f"/api/v1/members/{api.number}/coverage", headers=api.headers).json
    assert coverage["status"] == "pending_payment"


def test_the_same_idempotency_key_answers_the_first_response_and_records_once(client, api):
    headers = {**api.headers, "Idempotency-Key": "hp-kader-0001"}
    first = client.post("/api/v1/contributions", json=body(api), headers=headers)
    again = client.post("/api/v1/contributions", json=body(api), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert rows(EntryKind.PAYMENT, api.a.id) == 1
    other = client.post("/api/v1/contributions", json=body(api, amount=C + 1), headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json["errors"]
    assert rows(EntryKind.PAYMENT, api.a.id) == 1
    # The reversal honours its own key too.
    url = f"/api/v1/contributions/{first.json['id']}/reversal"
    key = {**api.headers, "Idempotency-Key": "batal-0001"}
    one = client.post(url, json={"reason": "Salah catat"}, headers=key)
    two = client.post(url, json={"reason": "Salah catat"}, headers=key)
    assert one.status_code == two.status_code == 201 and one.json == two.json
    bad = client.post("/api/v1/contributions", json=body(api),
                      headers={**api.headers, "Idempotency-Key": "x" * 101})
    assert bad.status_code == 422 and "Idempotency-Key" in bad.json["errors"]


def test_identical_requests_sent_at_once_record_once(app, api, pg_only):
    headers = {**api.headers, "Idempotency-Key": f"serentak-{uuid.uuid4()}"}
    payload = body(api)
    start = threading.Barrier(4)
    answers: list = []
    lock = threading.Lock()

    def send():
        client = app.test_client()
        start.wait(timeout=30)
        with app.app_context():
            response = client.post("/api/v1/contributions", json=payload, headers=headers)
        with lock:
            answers.append((response.status_code, (response.get_json() or {}).get("id")))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 4
    ids = {answer_id for status, answer_id in answers if status == 201}
    assert len(ids) == 1 and all(status in (201, 409) for status, _ in answers)
    assert rows(EntryKind.PAYMENT, api.a.id) == 1
    with tenancy.everything():
        assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 1


def test_the_openapi_document_describes_the_contribution_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/api/v1/contributions", "/api/v1/contributions/{entry_id}/reversal",
            "/api/v1/members/{member_number}/coverage"} <= set(paths)
    parameters = paths["/api/v1/contributions"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" for p in parameters)
