"""The partner workspace: team, invitations, profile, tokens."""

from __future__ import annotations

from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.models import Invitation, PartnerStaff
from bungkesmas.auth.permissions import Role
from bungkesmas.extensions import db
from bungkesmas.mail.models import OutboxMessage
from tests.conftest import find_link
from tests.helpers import PASSWORD, login


def _partner_with_admin(make, email="admin-ws@contoh.id"):
    return make.partner(admin_email=email, slug="ylp2em-test")


def test_partner_admin_invites_an_officer_who_joins_and_signs_in(app, client, make):
    partner = _partner_with_admin(make)
    login(client, "admin-ws@contoh.id")
    response = client.post("/p/ylp2em-test/staf/undang", data={
        "name": "Rini Kader", "email": "Rini@Contoh.id", "role": "partner_officer"})
    assert response.status_code == 302
    with tenancy.everything():
        message = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.recipient == "rini@contoh.id")).one()
    link = find_link(message.body)
    client.post("/logout")
    page = client.get(link)
    assert page.status_code == 200 and partner.name in page.get_data(as_text=True)
    joined = client.post(link, data={"name": "Rini Kader", "password": "rahasia-kader-1"})
    assert joined.status_code == 302 and joined.location.endswith("/p/ylp2em-test/")
    assert client.get("/p/ylp2em-test/").status_code == 200
    # The link is single-use.
    client.post("/logout")
    assert client.get(link).status_code == 404
    login(client, "rini@contoh.id", "rahasia-kader-1")


def test_an_officer_cannot_manage_the_team(client, make):
    partner = _partner_with_admin(make)
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    login(client, officer.email)
    assert client.get("/p/ylp2em-test/staf").status_code == 200
    assert client.post("/p/ylp2em-test/staf/undang", data={
        "name": "X", "email": "x@contoh.id", "role": "partner_admin"}).status_code == 403
    assert client.get("/p/ylp2em-test/token").status_code == 403
    assert client.post("/p/ylp2em-test/profil", data={"name": "Diganti"}).status_code == 403


def test_admin_deactivates_and_reactivates_an_officer(client, make):
    partner = _partner_with_admin(make)
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    with tenancy.everything():
        staff_id = db.session.scalar(select(PartnerStaff.id).where(
            PartnerStaff.user_id == officer.id))
    login(client, "admin-ws@contoh.id")
    assert client.post(f"/p/ylp2em-test/staf/{staff_id}/nonaktifkan").status_code == 302
    client.post("/logout")
    refused = client.post("/login", data={"email": officer.email, "password": PASSWORD})
    assert refused.status_code != 302
    login(client, "admin-ws@contoh.id")
    assert client.post(f"/p/ylp2em-test/staf/{staff_id}/aktifkan").status_code == 302
    client.post("/logout")
    login(client, officer.email)
    with tenancy.everything():
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"staff.deactivate", "staff.activate"} <= actions


def test_the_last_admin_cannot_deactivate_themselves(client, make):
    _partner_with_admin(make)
    with tenancy.everything():
        own = db.session.scalars(select(PartnerStaff)).one()
        key = (own.tenant_id, own.id)
    login(client, "admin-ws@contoh.id")
    client.post(f"/p/ylp2em-test/staf/{key[1]}/nonaktifkan")
    with tenancy.everything():
        assert db.session.get(PartnerStaff, key).active


def test_inviting_a_current_team_member_is_refused_next_to_the_field(client, make):
    _partner_with_admin(make)
    login(client, "admin-ws@contoh.id")
    response = client.post("/p/ylp2em-test/staf/undang", data={
        "name": "Admin", "email": "admin-ws@contoh.id", "role": "partner_officer"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="email-error"' in html
    with tenancy.everything():
        assert db.session.scalars(select(Invitation)).all() == [] or all(
            i.accepted_at for i in db.session.scalars(select(Invitation)))


def test_admin_edits_the_profile_and_the_change_is_audited(client, make):
    partner = _partner_with_admin(make)
    login(client, "admin-ws@contoh.id")
    form = {"name": "YLP2EM Kota Parepare", "org_type": "ngo", "province_code": "73",
            "regency_code": "7372", "address": "Jl. Bau Massepe", "contact_name": "Andi",
            "contact_phone": "0812-4200-1100", "contact_email": "kantor@contoh.id",
            "expected_members": "700", "expected_groups": "22"}
    assert client.post("/p/ylp2em-test/profil", data=form).status_code == 302
    db.session.expire_all()
    assert partner.name == "YLP2EM Kota Parepare"
    assert partner.contact_phone == "+6281242001100"
    with tenancy.everything():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "partner.update_profile")).one()
    assert event.after["name"] == "YLP2EM Kota Parepare" and event.actor_id is not None


def test_a_regency_outside_the_province_is_refused(client, make):
    _partner_with_admin(make)
    login(client, "admin-ws@contoh.id")
    form = {"name": "YLP2EM", "org_type": "ngo", "province_code": "73", "regency_code": "3201",
            "contact_name": "Andi", "contact_phone": "081242001100",
            "contact_email": "kantor@contoh.id", "expected_members": "7", "expected_groups": "2"}
    response = client.post("/p/ylp2em-test/profil", data=form)
    assert response.status_code == 422
    assert 'id="regency_code-error"' in response.get_data(as_text=True)


def test_admin_creates_a_token_shown_once_and_revokes_it(client, make):
    _partner_with_admin(make)
    login(client, "admin-ws@contoh.id")
    page = client.post("/p/ylp2em-test/token", data={"name": "aplikasi lapangan"})
    html = page.get_data(as_text=True)
    secret = html.split('<code id="new-token">')[1].split("</code>")[0]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert secret not in client.get("/p/ylp2em-test/token").get_data(as_text=True)
    from bungkesmas.auth.models import ApiToken

    with tenancy.everything():
        token_id = db.session.scalars(select(ApiToken.id)).one()
    assert client.post(f"/p/ylp2em-test/token/{token_id}/cabut").status_code == 302
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_the_partner_history_shows_its_own_events_only(client, make):
    _partner_with_admin(make)
    other = make.partner(admin_email="admin-lain@contoh.id")
    from bungkesmas.partners.services import update_profile

    with tenancy.everything():
        update_profile(make.admin, other, {"address": "Jl. Rahasia Lain 7"})
        db.session.commit()
    login(client, "admin-ws@contoh.id")
    html = client.get("/p/ylp2em-test/riwayat").get_data(as_text=True)
    assert "staff.join" in html
    assert "Rahasia Lain" not in html
