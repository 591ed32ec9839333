"""The transfer pages of the partner workspace (/p/<slug>/pindah…): offering, asking by
NIK from the registration form, accepting, declining, withdrawing."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.extensions import db
from bungkesmas.mail.models import OutboxMessage
from bungkesmas.members import services as members
from bungkesmas.members.models import Member
from bungkesmas.transfers.models import TransferRequest, TransferStatus
from tests.helpers import login

FIELD_ERROR = re.compile(r'<p class="error" id="([\w-]+)-error">(.*?)</p>', re.S)
JEKA, YLP = "/p/pattiro-jeka", "/p/ylp2em"


@pytest.fixture
def world(make):
    jeka = make.partner(name="LSM Pattiro Jeka", slug="pattiro-jeka",
                        admin_email="admin-jeka@contoh.id")
    ylp = make.partner(name="YLP2EM Parepare", slug="ylp2em", admin_email="admin-ylp@contoh.id")
    make.product(jeka, ylp)
    with tenancy.scoped(tenancy.Scope.tenants(jeka.id)):
        group_id = members.create_group(None, jeka, "Kelompok Labukkang", "7372021001").id
        db.session.commit()
    in_group = [make.member(jeka, full_name=f"Anggota Labukkang {i}", group_id=group_id)
                for i in range(2)]
    data = make.member_data(full_name="Siti Rahasia Jeka")
    held = make.member(jeka, **data)
    return {"jeka": jeka, "ylp": ylp, "group_id": group_id, "in_group": in_group,
            "held": held, "nik": data["nik"]}


@pytest.fixture
def en(client):
    client.get("/bahasa/en")
    return client


def switch(client, email):
    client.post("/logout")
    login(client, email)


def ids_of(numbers_):
    with tenancy.everything():
        return [str(db.session.scalar(select(Member.id).where(Member.member_number == n)))
                for n in numbers_]


def tenant_of(number):
    with tenancy.everything():
        return db.session.scalar(select(Member.tenant_id).where(Member.member_number == number))


def only_request():
    with tenancy.everything():
        req = db.session.scalars(select(TransferRequest)).one()
        db.session.expunge(req)
    return req


def field_errors(html):
    return {name: unescape(text) for name, text in FIELD_ERROR.findall(html)}


def registration(make, **overrides):
    data = make.member_data()
    out = {k: ("" if v is None else str(v)) for k, v in data.items() if k != "consent"}
    out.update(birth_date=data["birth_date"].isoformat(), consent="y", group_id="",
               product_id="")
    out.update(overrides)
    return out


def test_the_admin_offers_a_group_and_the_other_admin_accepts(en, world):
    login(en, "admin-jeka@contoh.id")
    group_page = en.get(f"{JEKA}/kelompok/{world['group_id']}").get_data(as_text=True)
    assert f'href="{JEKA}/pindah/tawarkan?kelompok={world["group_id"]}"' in group_page
    offer_page = en.get(f"{JEKA}/pindah/tawarkan?kelompok={world['group_id']}")
    html = offer_page.get_data(as_text=True)
    assert offer_page.status_code == 200
    assert f'<option selected value="{world["group_id"]}">' in html
    target = re.search(r'<select[^>]*name="target".*?</select>', html, re.S).group(0)
    assert "YLP2EM Parepare" in target and "LSM Pattiro Jeka" not in target
    response = en.post(f"{JEKA}/pindah/tawarkan", data={
        "mode": "group", "group_id": str(world["group_id"]), "target": str(world["ylp"].id),
        "reason": "MOU YLP2EM sudah ditandatangani"})
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    req = only_request()
    assert response.location.endswith(f"{JEKA}/pindah/{req.id}")
    sent = en.get(response.location).get_data(as_text=True)
    assert "waiting for an answer" in sent and 'id="cancel"' in sent and 'id="accept"' not in sent

    switch(en, "admin-ylp@contoh.id")
    assert "1 transfer request waiting for your answer" in en.get(f"{YLP}/").get_data(as_text=True)
    listing = en.get(f"{YLP}/pindah").get_data(as_text=True)
    assert f'href="{YLP}/pindah/{req.id}"' in listing and "LSM Pattiro Jeka" in listing
    page = en.get(f"{YLP}/pindah/{req.id}").get_data(as_text=True)
    assert "Kelompok Labukkang" in page and "Anggota Labukkang 0" in page
    assert all(n in page for n in world["in_group"]) and "******" in page
    assert 'id="accept"' in page and 'id="cancel"' not in page
    accepted = en.post(f"{YLP}/pindah/{req.id}/terima")
    assert accepted.status_code == 302
    assert only_request().status == TransferStatus.ACCEPTED
    members_page = en.get(f"{YLP}/peserta").get_data(as_text=True)
    assert all(n in members_page for n in world["in_group"])
    done = en.get(f"{YLP}/pindah/{req.id}").get_data(as_text=True)
    assert f'href="{YLP}/kelompok/{world["group_id"]}"' in done
    assert f'href="{YLP}/peserta/{world["in_group"][0]}"' in done

    # A second acceptance is refused with a clear message, and moves nothing twice.
    again = en.post(f"{YLP}/pindah/{req.id}/terima")
    assert again.status_code == 422
    assert "already been decided" in again.get_data(as_text=True)
    # Both audit trails show it.
    assert "member.transfer" in en.get(f"{YLP}/riwayat").get_data(as_text=True)
    switch(en, "admin-jeka@contoh.id")
    assert "member.transfer" in en.get(f"{JEKA}/riwayat").get_data(as_text=True)
    assert not any(n in en.get(f"{JEKA}/peserta").get_data(as_text=True)
                   for n in world["in_group"])


def test_the_member_page_leads_to_an_offer_with_the_member_ticked(en, world):
    login(en, "admin-jeka@contoh.id")
    page = en.get(f"{JEKA}/peserta/{world['held']}").get_data(as_text=True)
    assert f'href="{JEKA}/pindah/tawarkan?q={world["held"]}"' in page
    offer = en.get(f"{JEKA}/pindah/tawarkan?q={world['held']}").get_data(as_text=True)
    (member_id,) = ids_of([world["held"]])
    assert f'value="{member_id}" id="m-{member_id}" checked' in offer
    response = en.post(f"{JEKA}/pindah/tawarkan", data={
        "mode": "members", "member_ids": [member_id], "target": str(world["ylp"].id)})
    assert response.status_code == 302
    switch(en, "admin-ylp@contoh.id")
    req = only_request()
    declined = en.post(f"{YLP}/pindah/{req.id}/tolak", data={"reason": ""})
    assert declined.status_code == 422
    assert "reason" in field_errors(declined.get_data(as_text=True))
    declined = en.post(f"{YLP}/pindah/{req.id}/tolak", data={"reason": "Bukan wilayah kami"})
    assert declined.status_code == 302
    assert tenant_of(world["held"]) == world["jeka"].id
    switch(en, "admin-jeka@contoh.id")
    page = en.get(f"{JEKA}/pindah/{req.id}").get_data(as_text=True)
    assert "declined" in page and "Bukan wilayah kami" in page


def test_bad_offers_show_errors_and_save_nothing(en, world):
    login(en, "admin-jeka@contoh.id")
    base = {"target": str(world["ylp"].id)}
    for data, where in (({**base, "mode": "members"}, "member_ids"),
                        ({**base, "mode": "members", "member_ids": ["bukan-uuid"]}, "member_ids"),
                        ({**base, "mode": "group"}, "group_id"),
                        ({"mode": "members", "member_ids": ids_of([world["held"]])}, "target"),
                        ({**base, "member_ids": ids_of([world["held"]])}, "mode")):
        response = en.post(f"{JEKA}/pindah/tawarkan", data=data)
        assert response.status_code == 422, data
        html = response.get_data(as_text=True)
        assert where in field_errors(html) or 'role="alert"' in html, (data, where)
    with tenancy.everything():
        assert db.session.scalar(select(TransferRequest.id)) is None


def test_a_held_nik_on_the_registration_form_leads_to_a_request(en, make, world):
    """The NIK goes by POST from the registration form to the request; the requester
    learns nothing of the holder until it accepts."""
    login(en, "admin-ylp@contoh.id")
    response = en.post(f"{YLP}/peserta/baru", data=registration(make, nik=world["nik"]))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "request a transfer" in field_errors(html)["nik"]
    form = re.search(r'<form method="post" action="([^"]+)" id="request-transfer-form".*?</form>',
                     html, re.S)
    assert form and form.group(1) == f"{YLP}/pindah/minta"
    assert f'name="nik" value="{world["nik"]}"' in form.group(0)
    assert 'form="request-transfer-form"' in html

    prepared = en.post(f"{YLP}/pindah/minta", data={"nik": world["nik"]})
    assert prepared.status_code == 200
    masked = world["nik"][:6] + "******" + world["nik"][-4:]
    assert masked in prepared.get_data(as_text=True)
    sent = en.post(f"{YLP}/pindah/minta/kirim", data={"nik": world["nik"],
                                                       "reason": "Tinggal di wilayah kami"})
    assert sent.status_code == 302 and world["nik"] not in sent.location
    req = only_request()
    assert (req.from_partner_id, req.to_partner_id) == (world["jeka"].id, world["ylp"].id)
    secrets = ["LSM Pattiro Jeka", "pattiro-jeka", "Siti Rahasia Jeka", world["held"]]
    for url in (sent.location, f"{YLP}/pindah", f"{YLP}/riwayat", f"{YLP}/"):
        page = en.get(url).get_data(as_text=True)
        assert not any(s in page for s in secrets), url
        assert world["nik"] not in page
    assert "the partner that holds this NIK" in en.get(f"{YLP}/pindah").get_data(as_text=True)

    switch(en, "admin-jeka@contoh.id")
    page = en.get(f"{JEKA}/pindah/{req.id}").get_data(as_text=True)
    assert "YLP2EM Parepare" in page and "Siti Rahasia Jeka" in page and world["held"] in page
    assert en.post(f"{JEKA}/pindah/{req.id}/terima").status_code == 302
    assert tenant_of(world["held"]) == world["ylp"].id

    switch(en, "admin-ylp@contoh.id")
    page = en.get(f"{YLP}/pindah/{req.id}").get_data(as_text=True)
    assert "LSM Pattiro Jeka" in page and "Siti Rahasia Jeka" in page
    assert en.get(f"{YLP}/peserta/{world['held']}").status_code == 200


def test_an_officer_sees_the_held_nik_message_but_cannot_request(en, make, world):
    officer = make.staff(world["ylp"], Role.PARTNER_OFFICER)
    login(en, officer.email)
    response = en.post(f"{YLP}/peserta/baru", data=registration(make, nik=world["nik"]))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "nik" in field_errors(html)
    assert "request-transfer-form" not in html
    for method, url in (("GET", "/pindah"), ("GET", "/pindah/tawarkan"), ("GET", "/pindah/minta"),
                        ("POST", "/pindah/minta"), ("POST", "/pindah/minta/kirim")):
        assert en.open(f"{YLP}{url}", method=method,
                       data={"nik": world["nik"]}).status_code == 403, url
    assert 'id="nav-transfers"' not in en.get(f"{YLP}/").get_data(as_text=True)
    with tenancy.everything():
        assert db.session.scalar(select(TransferRequest.id)) is None


def test_the_admin_navigation_links_to_transfers(en, world):
    login(en, "admin-ylp@contoh.id")
    assert f'href="{YLP}/pindah" id="nav-transfers"' in en.get(f"{YLP}/").get_data(as_text=True)


def test_a_request_form_with_a_bad_nik_shows_the_reason(en, world):
    login(en, "admin-ylp@contoh.id")
    response = en.post(f"{YLP}/pindah/minta", data={"nik": "1234"})
    assert response.status_code == 422
    assert "16 digits" in field_errors(response.get_data(as_text=True))["nik"]
    response = en.post(f"{YLP}/pindah/minta/kirim", data={"nik": ""})
    assert response.status_code == 422 and "nik" in field_errors(response.get_data(as_text=True))


def test_the_requester_withdraws_and_the_holder_is_told(en, world):
    login(en, "admin-ylp@contoh.id")
    en.post(f"{YLP}/pindah/minta/kirim", data={"nik": world["nik"]})
    req = only_request()
    assert en.post(f"{YLP}/pindah/{req.id}/batalkan").status_code == 302
    assert only_request().status == TransferStatus.CANCELLED
    with tenancy.everything():
        bodies = [m.body for m in db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.recipient == "admin-jeka@contoh.id",
            OutboxMessage.body.contains("/pindah/")))]
    assert len(bodies) == 2 and "withdrew" in bodies[1]


def test_another_partners_request_is_not_found(en, make, world):
    make.partner(name="Bank Sampah", slug="bank-sampah", admin_email="admin-bank@contoh.id")
    login(en, "admin-ylp@contoh.id")
    en.post(f"{YLP}/pindah/minta/kirim", data={"nik": world["nik"]})
    req = only_request()
    switch(en, "admin-bank@contoh.id")
    for method, suffix in (("GET", ""), ("POST", "/terima"), ("POST", "/tolak"),
                           ("POST", "/batalkan")):
        response = en.open(f"/p/bank-sampah/pindah/{req.id}{suffix}", method=method,
                           data={"reason": "x"})
        assert response.status_code == 404, suffix
    assert "Siti" not in en.get("/p/bank-sampah/pindah").get_data(as_text=True)
    assert only_request().status == TransferStatus.PENDING


def test_a_declined_request_by_nik_tells_the_requester_the_reason_only(en, world):
    login(en, "admin-ylp@contoh.id")
    en.post(f"{YLP}/pindah/minta/kirim", data={"nik": world["nik"]})
    req = only_request()
    switch(en, "admin-jeka@contoh.id")
    assert en.post(f"{JEKA}/pindah/{req.id}/tolak",
                   data={"reason": "Peserta ingin tetap"}).status_code == 302
    switch(en, "admin-ylp@contoh.id")
    page = en.get(f"{YLP}/pindah/{req.id}").get_data(as_text=True)
    assert "declined" in page and "Peserta ingin tetap" in page
    assert "LSM Pattiro Jeka" not in page and "Siti Rahasia Jeka" not in page
    trail = en.get(f"{YLP}/riwayat").get_data(as_text=True)
    assert "transfer_request.decline" in trail and "LSM Pattiro Jeka" not in trail
    with tenancy.everything():
        (event,) = db.session.scalars(select(AuditEvent).where(
            AuditEvent.partner_id == world["ylp"].id,
            AuditEvent.action == "transfer_request.decline")).all()
    assert (event.actor_id, event.actor_label, event.ip_address) == (None, "holder", None)
