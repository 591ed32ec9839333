"""MOU pages: the provider drafts, sends, countersigns; the partner's admin reads, signs
and downloads; officers, other partners and parents see nothing of it."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.auth.permissions import Role
from bungkesmas.extensions import db
from bungkesmas.mous import services as mous
from bungkesmas.mous.models import Mou, MouStatus

EXE = b"MZ\x90\x00" + b"\x00" * 100


def _terms_form(make, partner_id=None, **overrides) -> dict:
    terms = make.mou_terms()
    form = {"start_date": terms["start_date"].isoformat(),
            "end_date": terms["end_date"].isoformat(), "fee_share": "12.5",
            "remittance_frequency": "quarterly", "remittance_due_day": "15",
            "territory": "7372 737202", "member_quota": "", "clauses": "Pasal 6.",
            "provider_signatory_name": "Dr. Andi", "provider_signatory_title": "Direktur"}
    if partner_id is not None:
        form["partner_id"] = str(partner_id)
    form.update(overrides)
    return form


def _only_mou(partner) -> Mou:
    [mou] = mous.mous_of(partner)
    return mou


def test_the_provider_drafts_and_sends_and_the_partner_signs_in_the_browserless_flow(
        client, make, login_as):
    partner = make.partner(mou=False)
    login_as(make.admin)
    assert client.get(f"/admin/mou/baru?mitra={partner.id}").status_code == 200
    response = client.post("/admin/mou/baru", data=_terms_form(make, partner.id))
    assert response.status_code == 302, response.get_data(as_text=True)
    mou = _only_mou(partner)
    assert (mou.fee_share_bp, mou.remittance_frequency, mou.territory) == (
        1250, "quarterly", ["7372", "737202"])
    page = client.get(f"/admin/mou/{mou.id}").get_data(as_text=True)
    assert mou.number in page and "12.5%" in page
    assert client.post(f"/admin/mou/{mou.id}/kirim").status_code == 302
    client.post("/logout")

    login_as(partner.contact_email)
    html = client.get(f"/p/{partner.slug}/").get_data(as_text=True)
    assert mou.number in html  # waiting for the signature, on the dashboard
    html = client.get(f"/p/{partner.slug}/mou/{mou.id}").get_data(as_text=True)
    link = re.search(rf'href="(/p/{partner.slug}/mou/{mou.id}/dokumen/[^"]+)"', html).group(1)
    download = client.get(link)
    assert download.status_code == 200 and download.data.startswith(b"%PDF-")
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    download.close()
    response = client.post(f"/p/{partner.slug}/mou/{mou.id}/tandatangani", data={
        "method": "accept", "signatory_name": "Hj. Andi", "signatory_title": "Ketua",
        "accepted": "y"}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 302
    db.session.expire_all()
    mou = _only_mou(partner)
    assert (mou.status, mou.partner_signed_ip) == (MouStatus.PARTNER_SIGNED, "10.1.2.3")
    client.post("/logout")

    login_as(make.admin)
    response = client.post(f"/admin/mou/{mou.id}/tandatangani", data={
        "file": (io.BytesIO(b"%PDF-1.4\n%kedua pihak\n"), "mou-lengkap.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.expire_all()
    assert _only_mou(partner).status == MouStatus.ACTIVE
    assert mous.in_force(partner.id) is not None


def test_a_form_error_is_shown_next_to_its_field(client, make, login_as):
    partner = make.partner(mou=False)
    login_as(make.admin)
    start = mous.today()
    response = client.post("/admin/mou/baru", data=_terms_form(
        make, partner.id, start_date=start.isoformat(),
        end_date=(start - timedelta(days=1)).isoformat()))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="end_date-error"' in html
    assert mous.mous_of(partner) == []


def test_a_renamed_executable_is_refused_on_the_signing_page(client, make, login_as):
    partner = make.partner(mou=False)
    mou_id, _doc = make.sent_mou(partner)
    login_as(partner.contact_email)
    response = client.post(f"/p/{partner.slug}/mou/{mou_id}/tandatangani", data={
        "method": "upload", "signatory_name": "A", "signatory_title": "B",
        "file": (io.BytesIO(EXE), "mou-bertanda-tangan.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 422
    assert "PDF, JPEG" in response.get_data(as_text=True)
    assert _only_mou(partner).status == MouStatus.SENT


def test_officers_other_partners_and_parents_see_no_mou(client, make, login_as):
    parent = make.partner()
    child = make.partner(parent=parent, mou=False)
    mou_id, doc_id = make.sent_mou(child)
    officer = make.staff(child, Role.PARTNER_OFFICER)
    login_as(officer)
    assert client.get(f"/p/{child.slug}/mou").status_code == 403
    assert client.get(f"/p/{child.slug}/mou/{mou_id}/dokumen/{doc_id}").status_code == 403
    client.post("/logout")
    login_as(parent.contact_email)
    assert client.get(f"/p/{child.slug}/mou/{mou_id}").status_code == 403
    assert client.get(f"/p/{parent.slug}/mou/{mou_id}").status_code == 404
    assert client.get(f"/p/{parent.slug}/mou/{mou_id}/dokumen/{doc_id}").status_code == 404
    client.post("/logout")
    login_as(child.contact_email)
    download = client.get(f"/p/{child.slug}/mou/{mou_id}/dokumen/{doc_id}")
    assert download.status_code == 200
    download.close()


def test_provider_staff_read_but_do_not_change_mous(client, make, login_as):
    partner = make.partner(mou=False)
    mou_id, _doc = make.sent_mou(partner)
    login_as(make.provider(Role.PROVIDER_STAFF))
    assert client.get("/admin/mou").status_code == 200
    assert client.get(f"/admin/mou/{mou_id}").status_code == 200
    assert client.post(f"/admin/mou/{mou_id}/akhiri", data={"reason": "x"}).status_code == 403
    assert _only_mou(partner).status == MouStatus.SENT


def test_the_dashboards_list_mous_ending_within_90_days(client, make, login_as):
    partner = make.partner(mou=False, name="KPI Cabang Parepare")
    day = mous.today()
    make.active_mou(partner, start_date=day - timedelta(days=600),
                    end_date=day + timedelta(days=45))
    later = make.partner(mou=False, name="Mitra Lama Sekali")
    make.active_mou(later, start_date=day - timedelta(days=10),
                    end_date=day + timedelta(days=400))
    login_as(make.admin)
    html = client.get("/admin/mou").get_data(as_text=True)
    expiring = html.split('id="expiring"')[1].split("</section>")[0]
    assert "KPI Cabang Parepare" in expiring and "Mitra Lama Sekali" not in expiring
    assert "45" in expiring
    client.post("/logout")
    login_as(partner.contact_email)
    assert "45" in client.get(f"/p/{partner.slug}/").get_data(as_text=True)


def test_the_provider_assigns_a_host_and_transfers_the_hosted_members(client, make, login_as):
    host = make.partner(name="LSM Pattiro Jeka")
    hosted = make.partner(name="YLP2EM", mou=False)
    login_as(make.admin)
    html = client.get(f"/admin/partners/{hosted.id}").get_data(as_text=True)
    assert "LSM Pattiro Jeka" in html.split('id="host-form"')[1]
    response = client.post(f"/admin/partners/{hosted.id}/tuan-rumah",
                           data={"host_id": str(host.id)})
    assert response.status_code == 302
    with tenancy.everything():
        assert db.session.get(type(hosted), hosted.id).hosting_partner_id == host.id
    make.member(host, hosted_for_id=hosted.id)
    make.active_mou(hosted)
    html = client.get(f"/admin/partners/{hosted.id}").get_data(as_text=True)
    assert 'id="transfer-hosted-form"' in html
    response = client.post(f"/admin/partners/{hosted.id}/pindah-titipan", data={"note": ""})
    assert response.status_code == 302
    from bungkesmas.members.models import Member

    with tenancy.everything():
        assert set(db.session.scalars(select(Member.tenant_id))) == {hosted.id}


def test_a_host_chooses_on_whose_behalf_it_registers_a_member(client, make, login_as):
    from bungkesmas.members.models import Member

    host = make.partner(name="LSM Pattiro Jeka")
    hosted = make.partner(name="YLP2EM", mou=False)
    with tenancy.everything():
        mous.set_host(make.admin, hosted, host)
    db.session.commit()
    login_as(host.contact_email)
    html = client.get(f"/p/{host.slug}/peserta/baru").get_data(as_text=True)
    assert 'name="hosted_for_id"' in html and "YLP2EM" in html
    data = make.member_data()
    form = {k: v for k, v in data.items() if v is not None and k != "consent"}
    form.update(group_id="", product_id="")
    form.update(birth_date=data["birth_date"].isoformat(), consent="y",
                hosted_for_id=str(hosted.id))
    assert client.post(f"/p/{host.slug}/peserta/baru", data=form).status_code == 302
    with tenancy.everything():
        assert db.session.scalar(select(Member.hosted_for_id)) == hosted.id
    form.update(nik=make.nik(data["birth_date"], "P"), hosted_for_id="bukan-angka")
    response = client.post(f"/p/{host.slug}/peserta/baru", data=form)
    assert response.status_code == 422 and 'id="hosted_for_id-error"' in response.get_data(
        as_text=True)
