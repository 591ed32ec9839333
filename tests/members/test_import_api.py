"""The import over the API: POST /api/v1/members/imports (preview, or confirm=true for a
clean file), GET …/<id>, POST …/<id>/confirm; and their OpenAPI description."""

from __future__ import annotations

import io
from datetime import date

import pytest

from bungkesmas.auth.services import user_by_email
from tests.members.test_import import csv_bytes, person, written


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path):
    app.config["IMPORT_UPLOAD_DIR"] = str(tmp_path / "uploads")


@pytest.fixture
def partner(make):
    partner = make.partner()
    make.product(partner)
    return partner


@pytest.fixture
def headers(make, partner):
    token = make.token(user_by_email(partner.contact_email), partner)
    return {"Authorization": f"Bearer {token}"}


def post_file(client, headers, data: bytes, name="peserta.csv", **form):
    return client.post("/api/v1/members/imports", headers=headers,
                       data={"file": (io.BytesIO(data), name), **form},
                       content_type="multipart/form-data")


def test_preview_then_confirm(client, make, partner, headers):
    rows = [person(make, kode_produk="BKM"), person(make, nama_lengkap="A"),
            person(make, tanggal_lahir="kemarin")]
    response = post_file(client, headers, csv_bytes(rows))
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "previewed" and body["good_rows"] == 1
    assert body["error_rows"] == 2 and body["total_rows"] == 3
    assert [(e["row"], e["column"]) for e in body["errors"]] == [
        (3, "nama_lengkap"), (4, "tanggal_lahir")]
    assert all(e["message"] for e in body["errors"])
    assert written(partner.id)["members"] == 0
    import_id = body["import_id"]
    assert client.get(f"/api/v1/members/imports/{import_id}", headers=headers).json == body
    response = client.post(f"/api/v1/members/imports/{import_id}/confirm", headers=headers)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "committed" and response.json["imported_rows"] == 1
    assert written(partner.id) == {"members": 1, "registry": 1, "enrollments": 1, "audit": 1}
    again = client.post(f"/api/v1/members/imports/{import_id}/confirm", headers=headers)
    assert again.status_code == 409 and list(again.json) == ["errors"]


def test_confirm_true_imports_a_clean_file_at_once(client, make, partner, headers):
    response = post_file(client, headers, csv_bytes([person(make), person(make)]),
                         confirm="true")
    assert response.status_code == 201, response.json
    assert response.json["status"] == "committed" and response.json["imported_rows"] == 2
    assert written(partner.id)["members"] == 2


def test_confirm_true_never_imports_a_file_with_errors(client, make, partner, headers):
    response = post_file(client, headers, csv_bytes([person(make), person(make, nik="123")]),
                         confirm="true")
    assert response.status_code == 200
    assert response.json["status"] == "previewed" and response.json["imported_rows"] == 0
    assert written(partner.id)["members"] == 0


def test_a_change_since_the_preview_answers_409_and_refreshes_it(client, make, partner,
                                                                 headers):
    rows = [person(make), person(make)]
    import_id = post_file(client, headers, csv_bytes(rows)).json["import_id"]
    make.member(make.partner(), nik=rows[1]["nik"], birth_date=date(1985, 3, 14), sex="P")
    response = client.post(f"/api/v1/members/imports/{import_id}/confirm", headers=headers)
    assert response.status_code == 409 and list(response.json["errors"]) == ["_schema"]
    body = client.get(f"/api/v1/members/imports/{import_id}", headers=headers).json
    assert body["status"] == "failed" and body["good_rows"] == 1 and body["failure"]
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(3, "nik")]
    assert written(partner.id)["members"] == 0


@pytest.mark.parametrize("data, name", [(b"%PDF-1.4", "a.pdf"), (b"", "kosong.csv"),
                                        (b"nik,nama\r\n1,2\r\n", "a.csv")])
def test_an_unreadable_file_answers_422_naming_the_file(client, partner, headers, data, name):
    response = post_file(client, headers, data, name)
    assert response.status_code == 422
    assert list(response.json) == ["errors"] and list(response.json["errors"]) == ["file"]


def test_a_missing_file_answers_422(client, partner, headers):
    for kwargs in ({"json": {"file": "x"}}, {"data": {"confirm": "true"}}):
        response = client.post("/api/v1/members/imports", headers=headers, **kwargs)
        assert response.status_code == 422
        assert "file" in response.json["errors"]


def test_provider_tokens_and_unknown_imports_are_refused(client, make, partner, headers):
    provider = make.token(make.admin, None)
    response = post_file(client, {"Authorization": f"Bearer {provider}"},
                         csv_bytes([person(make)]))
    assert response.status_code == 403
    unknown = "01a20000-0000-7000-8000-000000000000"
    assert client.get(f"/api/v1/members/imports/{unknown}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/members/imports/{unknown}/confirm",
                       headers=headers).status_code == 404


def test_another_partners_token_cannot_see_or_confirm_the_import(client, make, partner,
                                                                  headers):
    import_id = post_file(client, headers, csv_bytes([person(make)])).json["import_id"]
    other = make.partner()
    other_headers = {"Authorization": "Bearer " + make.token(
        user_by_email(other.contact_email), other)}
    assert client.get(f"/api/v1/members/imports/{import_id}",
                      headers=other_headers).status_code == 404
    assert client.post(f"/api/v1/members/imports/{import_id}/confirm",
                       headers=other_headers).status_code == 404
    assert written(partner.id)["members"] == written(other.id)["members"] == 0


def test_the_openapi_document_describes_the_import(client):
    spec = client.get("/api/v1/openapi.json").json
    upload = spec["paths"]["/api/v1/members/imports"]["post"]
    schema = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert schema["properties"]["file"]["format"] == "binary"
    assert "confirm" in schema["properties"]
    assert {"200", "201"} <= set(upload["responses"])
    confirm = spec["paths"]["/api/v1/members/imports/{import_id}/confirm"]["post"]
    assert {"200", "409"} <= set(confirm["responses"])
