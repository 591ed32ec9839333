"""The MOU journey in a real browser: the provider drafts and sends an MOU to YLP2EM →
YLP2EM's admin signs it → the provider countersigns → YLP2EM can now enroll, and the
members LSM Pattiro Jeka registered on YLP2EM's behalf are transferred to YLP2EM."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.auth import services as auth
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Enrollment, Member
from bungkesmas.mous import services as mous
from tests.helpers import Factory, sign_in

pytestmark = pytest.mark.browser

YLP_ADMIN = "admin@ylp2em-mou.example.org"
JEKA_ADMIN = "admin@pattiro-jeka-mou.example.org"


def _sign_out(page):
    page.click("header form[action='/logout'] button[type=submit]")
    page.wait_for_load_state()


def test_draft_send_sign_countersign_enroll_and_transfer_hosted_members(
        live_app, live_server, page, tmp_path):
    base = live_server
    live_app.config["MOU_STORAGE_DIR"] = str(tmp_path / "mous")
    with live_app.app_context():
        make = Factory()
        admin_email = make.admin.email
        jeka = make.partner(name="LSM Pattiro Jeka", slug="pattiro-jeka", admin_email=JEKA_ADMIN)
        ylp = make.partner(name="YLP2EM Parepare", slug="ylp2em", admin_email=YLP_ADMIN,
                           mou=False)
        product = make.product(jeka, ylp)
        jeka_id, ylp_id, product_id = jeka.id, ylp.id, product.id
        with tenancy.everything():
            mous.set_host(make.admin, ylp, jeka)
            db.session.commit()
            jeka_admin = auth.user_by_email(JEKA_ADMIN)
        with tenancy.scoped(tenancy.Scope.tenants(jeka_id)):
            group = members.create_group(jeka_admin, jeka, "Kelompok Ujung Bulu", "7372021003")
            group_id = group.id
            db.session.commit()
        hosted = [make.member(jeka, jeka_admin, hosted_for_id=ylp_id, group_id=group_id)
                  for _ in range(2)]
        with tenancy.scoped(tenancy.Scope.tenants(jeka_id)):
            for number in hosted:
                members.enroll(jeka_admin, jeka, members.by_number(number), product_id)
            db.session.commit()
        jeka_own = make.member(jeka, full_name="Peserta Pattiro Sendiri")
        start = mous.today()
        end = start.replace(year=start.year + 2) - timedelta(days=1)

    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"JS error: {err}"))
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))

    # 1. The provider drafts an MOU for YLP2EM and sends it.
    sign_in(page, base, admin_email)
    page.click("header nav a[href='/admin/mou']")
    page.click("#new-mou")
    page.wait_for_url(f"{base}/admin/mou/baru")
    page.select_option("#partner_id", str(ylp_id))
    page.fill("#start_date", start.isoformat())
    page.fill("#end_date", end.isoformat())
    page.fill("#fee_share", "12.5")
    page.select_option("#remittance_frequency", "monthly")
    page.fill("#remittance_due_day", "10")
    page.fill("#territory", "7372")
    page.fill("#provider_signatory_name", "Dr. Andi Mappanyukki")
    page.fill("#provider_signatory_title", "Direktur Program Bungkesmas")
    page.click("#mou-form button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/mou/[0-9a-f-]{36}$"))
    mou_path = page.url.removeprefix(base)
    mou_id = mou_path.rsplit("/", 1)[1]
    assert "12.5%" in page.inner_text("main")
    page.click("#send-form button[type=submit]")
    page.wait_for_selector("#documents a.document-link")
    _sign_out(page)

    # 2. YLP2EM's admin cannot enroll yet; finds the MOU on the dashboard, reads and signs it.
    sign_in(page, base, YLP_ADMIN)
    page.wait_for_url(f"{base}/p/ylp2em/")
    card = page.inner_text("#mou-card")
    assert "LSM Pattiro Jeka" in card  # the host, meanwhile
    page.click(f"#mou-card a[href='/p/ylp2em/mou/{mou_id}']")
    page.wait_for_url(f"{base}/p/ylp2em/mou/{mou_id}")
    with page.expect_download() as download:
        page.click("#documents a.document-link")
    assert download.value.suggested_filename.endswith(".pdf")
    page.check("input[name=method][value=accept]")
    page.fill("#signatory_name", "Hj. Andi Rahmawati")
    page.fill("#signatory_title", "Ketua Yayasan")
    page.check("#accepted")
    page.click("#sign-form button[type=submit]")
    page.wait_for_url(f"{base}/p/ylp2em/mou/{mou_id}")
    assert page.get_attribute("#mou-status", "class").endswith("mou-partner_signed")
    _sign_out(page)

    # 3. The provider countersigns and transfers Pattiro Jeka's hosted members.
    sign_in(page, base, admin_email)
    page.goto(f"{base}{mou_path}")
    page.click("#countersign-form button[type=submit]")
    page.wait_for_selector("#hosted-offer")
    assert page.get_attribute("#mou-status", "class").endswith("mou-active")
    assert "LSM Pattiro Jeka" in page.inner_text("#hosted-offer")
    page.click("#transfer-hosted-form button[type=submit]")
    page.wait_for_url(f"{base}/admin/partners/{ylp_id}")
    assert "2" in page.inner_text("main p.flash")
    _sign_out(page)

    # 4. YLP2EM now enrolls in its own name, and holds the transferred members.
    sign_in(page, base, YLP_ADMIN)
    page.goto(f"{base}/p/ylp2em/peserta")
    listed = page.inner_text("main")
    assert all(number in listed for number in hosted) and jeka_own not in listed
    page.goto(f"{base}/p/ylp2em/peserta/{hosted[0]}")
    assert "Kelompok Ujung Bulu" in page.inner_text("main")
    page.goto(f"{base}/p/ylp2em/peserta/baru")
    with live_app.app_context():
        nik = Factory().nik(sex="P")  # a woman born on 14-03-1985: day 14 + 40
    page.fill("#full_name", "Sitti Aminah")
    page.fill("#nik", nik)
    page.fill("#birth_date", "1985-03-14")
    page.select_option("#sex", "P")
    page.select_option("#product_id", str(product_id))
    page.check("#consent")
    page.click("form.card button[type=submit]")
    page.wait_for_url(re.compile(r"/p/ylp2em/peserta/\d{4}-\d{6}-\d$"))
    new_number = page.url.rsplit("/", 1)[1]

    with live_app.app_context(), tenancy.everything():
        tenants = dict(db.session.execute(select(Member.member_number, Member.tenant_id)).all())
        enrolled = {m for m, in db.session.execute(
            select(Member.member_number).join(Enrollment, (Enrollment.tenant_id == Member.tenant_id)
                                              & (Enrollment.member_id == Member.id)))}
    assert {n: tenants[n] for n in hosted} == dict.fromkeys(hosted, ylp_id)
    assert tenants[jeka_own] == jeka_id and tenants[new_number] == ylp_id
    assert new_number in enrolled and set(hosted) <= enrolled
    assert problems == []
