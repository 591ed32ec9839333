"""The JSON API: token authentication, the first resources, errors and OpenAPI."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.auth.models import ApiToken
from bungkesmas.extensions import db
from bungkesmas.partners.models import Partner, PartnerStatus


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_requests_without_a_valid_token_get_401_json(client):
    for headers in ({}, {"Authorization": "Bearer bkm_nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert "errors" in response.json
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_session_cookies_do_not_authenticate_the_api(client, make, login_as):
    partner = make.partner(admin_email="admin-cookie@contoh.id")
    login_as("admin-cookie@contoh.id")
    assert client.get("/api/v1/me").status_code == 401
    assert partner.id


def test_me_describes_a_partner_token(client, make):
    partner = make.partner(admin_email="admin-me@contoh.id")
    from bungkesmas.auth.services import user_by_email

    token = make.token(user_by_email("admin-me@contoh.id"), partner)
    body = client.get("/api/v1/me", headers=bearer(token)).json
    assert body["email"] == "admin-me@contoh.id"
    assert body["partner"] == {"id": partner.id, "slug": partner.slug, "name": partner.name}
    assert "staff.manage" in body["permissions"]
    assert body["provider_role"] is None


def test_provider_lists_and_filters_partners(client, make):
    make.partner()
    applicant = make.applicant()
    token = make.token(make.admin, None)
    body = client.get("/api/v1/partners?status=applied", headers=bearer(token)).json
    assert [p["id"] for p in body["items"]] == [applicant.id]
    assert body["total"] == 1
    everything = client.get("/api/v1/partners?per_page=1", headers=bearer(token)).json
    assert everything["total"] == 2 and len(everything["items"]) == 1


def test_provider_approves_through_the_api(client, make):
    applicant = make.applicant()
    token = make.token(make.admin, None)
    response = client.post(f"/api/v1/partners/{applicant.id}/approve", headers=bearer(token),
                           json={"slug": "mitra-baru"})
    assert response.status_code == 200, response.json
    assert response.json["status"] == "approved" and response.json["slug"] == "mitra-baru"
    with tenancy.everything():
        assert db.session.get(Partner, applicant.id).status == PartnerStatus.APPROVED


def test_bad_api_input_names_each_bad_field(client, make):
    applicant = make.applicant()
    token = make.token(make.admin, None)
    url = f"/api/v1/partners/{applicant.id}/approve"
    missing = client.post(url, headers=bearer(token), json={})
    assert missing.status_code == 422 and "slug" in missing.json["errors"]
    wrong = client.post(url, headers=bearer(token), json={"slug": "X!", "parent_id": "abc"})
    assert wrong.status_code == 422
    assert set(wrong.json["errors"]) == {"slug", "parent_id"}
    domain = client.post(url, headers=bearer(token), json={"slug": "Bad Slug"})
    assert domain.status_code == 422 and "slug" in domain.json["errors"]
    unknown = client.post("/api/v1/partners/99999/approve", headers=bearer(token),
                          json={"slug": "abc-def"})
    assert unknown.status_code == 404 and "errors" in unknown.json
    with tenancy.everything():
        assert db.session.get(Partner, applicant.id).status == PartnerStatus.APPLIED


def test_approving_twice_is_a_conflict(client, make):
    applicant = make.applicant()
    token = make.token(make.admin, None)
    url = f"/api/v1/partners/{applicant.id}/approve"
    assert client.post(url, headers=bearer(token), json={"slug": "satu-kali"}).status_code == 200
    again = client.post(url, headers=bearer(token), json={"slug": "dua-kali"})
    assert again.status_code == 409


def test_openapi_document_lists_the_resources_and_bearer_auth(client):
    spec = client.get("/api/v1/openapi.json").json
    assert {"/api/v1/me", "/api/v1/partners", "/api/v1/partners/{partner_id}/approve"} <= set(
        spec["paths"])
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_flask_tokens_create_prints_a_working_token(app, client, make):
    partner = make.partner(admin_email="admin-cli@contoh.id")
    runner = CliRunner()
    from bungkesmas.cli import tokens_create

    result = runner.invoke(tokens_create, ["admin-cli@contoh.id"], obj=app.cli,
                           catch_exceptions=False, standalone_mode=False)
    # click's FlaskGroup context is not needed: the command runs in the test's app context.
    secret = result.output.strip()
    assert secret.startswith("bkm_")
    body = client.get("/api/v1/me", headers=bearer(secret)).json
    assert body["partner"]["id"] == partner.id
    with tenancy.everything():
        stored = db.session.scalars(select(ApiToken)).all()
        assert all(secret not in (t.token_hash, t.prefix) for t in stored)


def test_a_revoked_token_stops_working(client, make):
    partner = make.partner(admin_email="admin-rev@contoh.id")
    from bungkesmas.auth.services import revoke_token, user_by_email

    user = user_by_email("admin-rev@contoh.id")
    secret = make.token(user, partner)
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    with tenancy.everything():
        token = db.session.scalars(select(ApiToken)).one()
        revoke_token(user, token.id, partner)
        db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401


def test_a_suspended_partners_tokens_stop_working(client, make):
    partner = make.partner(admin_email="admin-sus@contoh.id")
    from bungkesmas.auth.services import user_by_email
    from bungkesmas.partners.services import transition

    secret = make.token(user_by_email("admin-sus@contoh.id"), partner)
    transition(make.admin, partner, "suspend", "Laporan belum masuk")
    db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401
