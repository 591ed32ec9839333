"""MOUs in the API: provider tokens draft and move MOUs along, partner tokens see and
sign their own; another partner's MOU is not found; documents up and down."""

from __future__ import annotations

import io

from bungkesmas import tenancy
from bungkesmas.auth import services as auth
from bungkesmas.mous import services as mous


def _headers(token):
    return {"Authorization": f"Bearer {token}"}


def _partner_token(make, partner):
    with tenancy.everything():
        user = auth.user_by_email(partner.contact_email)
    return make.token(user, partner)


def test_provider_drafts_sends_partner_signs_provider_countersigns(client, make):
    partner = make.partner(mou=False)
    provider = _headers(make.token(make.admin, None))
    ours = _headers(_partner_token(make, partner))
    terms = make.mou_terms()
    body = {**terms, "partner_id": partner.id, "start_date": terms["start_date"].isoformat(),
            "end_date": terms["end_date"].isoformat()}
    response = client.post("/api/v1/mous", json=body, headers=provider)
    assert response.status_code == 201, response.json
    mou_id = response.json["id"]
    assert response.json["status"] == "draft" and response.json["fee_share_bp"] == 1000
    assert client.post("/api/v1/mous", json=body, headers=ours).status_code == 403
    sent = client.post(f"/api/v1/mous/{mou_id}/send", json={}, headers=provider).json
    assert sent["status"] == "sent" and sent["documents"][0]["kind"] == "generated"
    # Out of order: 409, as {"errors": …}.
    response = client.post(f"/api/v1/mous/{mou_id}/countersign", json={}, headers=provider)
    assert response.status_code == 409 and set(response.json) == {"errors"}
    # The partner signs by accepting.
    assert client.post(f"/api/v1/mous/{mou_id}/sign", json={}, headers=provider).status_code == 403
    response = client.post(f"/api/v1/mous/{mou_id}/sign", headers=ours, json={
        "signatory_name": "Hj. Andi", "signatory_title": "Ketua", "accepted": True})
    assert response.status_code == 200 and response.json["partner_sign_method"] == "accept"
    response = client.post(f"/api/v1/mous/{mou_id}/countersign", json={}, headers=provider)
    assert response.json["status"] == "active"
    # A scan as a new version; download it back.
    response = client.post(f"/api/v1/mous/{mou_id}/documents", headers=ours,
                           data={"file": (io.BytesIO(b"%PDF-1.4\n%ttd\n"), "ttd.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 201 and response.json["kind"] == "signed_scan"
    doc_id = response.json["id"]
    download = client.get(f"/api/v1/mous/{mou_id}/documents/{doc_id}", headers=ours)
    assert download.data == b"%PDF-1.4\n%ttd\n"
    assert "attachment" in download.headers["Content-Disposition"]
    download.close()
    listed = client.get("/api/v1/mous", headers=ours).json
    assert [m["id"] for m in listed["items"]] == [mou_id]


def test_an_executable_upload_is_a_field_error(client, make):
    partner = make.partner()
    mou = mous.in_force(partner.id)
    response = client.post(f"/api/v1/mous/{mou.id}/documents",
                           headers=_headers(make.token(make.admin, None)),
                           data={"file": (io.BytesIO(b"MZ\x90\x00" * 10), "scan.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and list(response.json["errors"]) == ["file"]


def test_another_partners_mou_is_not_found(client, make):
    ours, theirs = make.partner(), make.partner()
    their_mou = mous.in_force(theirs.id)
    headers = _headers(_partner_token(make, ours))
    assert client.get(f"/api/v1/mous/{their_mou.id}", headers=headers).status_code == 404
    response = client.post(f"/api/v1/mous/{their_mou.id}/sign", headers=headers, json={
        "signatory_name": "A", "signatory_title": "B", "accepted": True})
    assert response.status_code == 404
    assert client.get("/api/v1/mous", headers=headers).json["total"] == 1


def test_renewal_through_the_api_needs_the_new_dates(client, make):
    partner = make.partner()
    mou = mous.in_force(partner.id)
    provider = _headers(make.token(make.admin, None))
    response = client.post(f"/api/v1/mous/{mou.id}/renew", json={}, headers=provider)
    assert response.status_code == 422 and "start_date" in response.json["errors"]
    start = mou.end_date.replace(day=1)
    response = client.post(f"/api/v1/mous/{mou.id}/renew", headers=provider, json={
        "start_date": (mou.end_date.fromordinal(mou.end_date.toordinal() + 1)).isoformat(),
        "end_date": start.replace(year=start.year + 2).isoformat(), "fee_share_bp": 1100})
    assert response.status_code == 200, response.json
    assert (response.json["version"], response.json["previous_id"]) == (2, str(mou.id))


def test_the_openapi_document_describes_the_mou_routes(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/api/v1/mous", "/api/v1/mous/{mou_id}", "/api/v1/mous/{mou_id}/{action}",
            "/api/v1/mous/{mou_id}/documents",
            "/api/v1/mous/{mou_id}/documents/{document_id}"} <= set(paths)
    assert "post" in paths["/api/v1/mous"] and "get" in paths["/api/v1/mous"]


def test_a_host_registers_a_member_on_behalf_of_the_hosted_partner(client, make):
    host, hosted = make.partner(), make.partner(mou=False)
    product = make.product(host, hosted)
    with tenancy.everything():
        mous.set_host(make.admin, hosted, host)
    from bungkesmas.extensions import db

    db.session.commit()
    data = make.member_data()
    body = {**{k: v for k, v in data.items() if v is not None},
            "birth_date": data["birth_date"].isoformat(), "hosted_for_id": hosted.id,
            "product_code": product.code}
    headers = _headers(_partner_token(make, host))
    response = client.post("/api/v1/members", json=body, headers=headers)
    assert response.status_code == 201, response.json
    assert response.json["hosted_for_id"] == hosted.id
    assert response.json["partner_id"] == host.id and response.json["enrollments"]
    # The hosted partner enrolls nobody in its own name yet.
    own = _headers(_partner_token(make, hosted))
    other = make.member_data()
    response = client.post("/api/v1/members", headers=own, json={
        **{k: v for k, v in other.items() if v is not None},
        "birth_date": other["birth_date"].isoformat(), "product_code": product.code})
    assert response.status_code == 422 and "product_code" in response.json["errors"]
