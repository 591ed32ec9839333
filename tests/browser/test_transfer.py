"""The transfer journeys in a real browser: LSM Pattiro Jeka's group — registered on
YLP2EM's behalf — moves to YLP2EM once its MOU is signed, either by the provider admin or
agreed by the two partners' admins (an offer, then its acceptance)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Member
from tests.helpers import Factory, sign_in

pytestmark = pytest.mark.browser


def test_provider_admin_moves_a_group_to_another_partner(live_app, live_server, page):
    base = live_server
    with live_app.app_context():
        make = Factory()
        admin_email = make.admin.email
        jeka = make.partner(name="LSM Pattiro Jeka", slug="pattiro-jeka")
        ylp = make.partner(name="YLP2EM", slug="ylp2em")
        jeka_id, ylp_id = jeka.id, ylp.id
        with tenancy.scoped(tenancy.Scope.tenants(jeka_id)):
            group = members.create_group(None, jeka, "Kelompok Ujung Sabbang", "7372021002")
            group_uuid = group.id
            db.session.commit()
        group_id = str(group_uuid)
        moving = [make.member(jeka, group_id=group_uuid) for _ in range(3)]
        staying = make.member(jeka, full_name="Peserta Tetap")

    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"JS error: {err}"))
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))

    sign_in(page, base, admin_email, "/admin/partners")

    # From the partner's page to the transfer page, with the partner preselected.
    page.goto(f"{base}/admin/partners/{jeka_id}")
    page.click("#transfer-members")
    page.wait_for_url(re.compile(rf"/admin/pindah\?sumber={jeka_id}$"))
    assert page.input_value("#sumber") == str(jeka_id)
    listed = page.locator("#move-members table").inner_text()
    assert all(number in listed for number in [*moving, staying])
    # The "tick all" box is added by the script, and ticks every member of the page.
    page.check("#move-members th[data-check-all] input[type=checkbox]")
    assert page.locator("input[name=member_ids]:checked").count() == 4
    page.uncheck("#move-members th[data-check-all] input[type=checkbox]")

    # Choose the group, the target and the reason; move.
    page.select_option("#group_id", group_id)
    page.select_option("#target", str(ylp_id))
    page.fill("#reason", "MOU YLP2EM sudah ditandatangani")
    page.click("button[name=mode][value=group]")
    page.wait_for_url(re.compile(r"/admin/pindah/\d+$"))
    result = page.locator("#transfer-result").inner_text()
    assert "LSM Pattiro Jeka" in result and "YLP2EM" in result
    assert "Kelompok Ujung Sabbang" in result
    body = page.locator("main").inner_text()
    assert all(number in body for number in moving) and staying not in body
    assert page.locator(f"#transfer-result a[href='/admin/partners/{ylp_id}']").count() == 1
    assert page.locator(f"#transfer-result a[href='/admin/partners/{jeka_id}']").count() == 1

    # The source's list no longer holds them.
    page.goto(f"{base}/admin/pindah?sumber={jeka_id}")
    listed = page.locator("#move-members table").inner_text()
    assert staying in listed and not any(number in listed for number in moving)

    with live_app.app_context(), tenancy.everything():
        tenants = dict(db.session.execute(select(Member.member_number, Member.tenant_id)).all())
    assert {n: tenants[n] for n in moving} == dict.fromkeys(moving, ylp_id)
    assert tenants[staying] == jeka_id
    assert problems == []


def test_two_partner_admins_agree_on_moving_a_group(live_app, live_server, page):
    """Pattiro Jeka's admin offers its group to YLP2EM; YLP2EM's admin sees the members
    and accepts; the members, with their numbers, are now YLP2EM's."""
    base = live_server
    jeka_admin, ylp_admin = "admin-jeka@contoh.id", "admin-ylp@contoh.id"
    with live_app.app_context():
        make = Factory()
        jeka = make.partner(name="LSM Pattiro Jeka", slug="pattiro-jeka", admin_email=jeka_admin)
        ylp = make.partner(name="YLP2EM", slug="ylp2em", admin_email=ylp_admin)
        jeka_id, ylp_id = jeka.id, ylp.id
        with tenancy.scoped(tenancy.Scope.tenants(jeka_id)):
            group_uuid = members.create_group(None, jeka, "Kelompok Ujung Sabbang",
                                              "7372021002").id
            db.session.commit()
        moving = [make.member(jeka, group_id=group_uuid) for _ in range(3)]
        staying = make.member(jeka, full_name="Peserta Tetap")

    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"JS error: {err}"))
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))

    def sign_in_to(email: str, slug: str) -> None:
        sign_in(page, base, email, f"/p/{slug}/")

    # Pattiro Jeka's admin offers the group, from the group's page.
    sign_in_to(jeka_admin, "pattiro-jeka")
    page.goto(f"{base}/p/pattiro-jeka/kelompok/{group_uuid}")
    page.click("#offer-group")
    page.wait_for_url(re.compile(r"/p/pattiro-jeka/pindah/tawarkan\?kelompok="))
    assert page.input_value("#group_id") == str(group_uuid)
    page.select_option("#target", str(ylp_id))
    page.fill("#reason", "MOU YLP2EM sudah ditandatangani")
    page.click("button[name=mode][value=group]")
    page.wait_for_url(re.compile(r"/p/pattiro-jeka/pindah/[0-9a-f-]{36}$"))
    transfer_path = page.url[len(base):].replace("pattiro-jeka", "ylp2em")
    assert page.inner_text("#transfer-status") == "menunggu jawaban"
    assert "YLP2EM" in page.inner_text("#transfer-request")
    page.click("header form.inline button[type=submit]")  # sign out
    page.wait_for_url(re.compile(r"/(login)?$"))

    # YLP2EM's admin finds it waiting, sees whom it is offered, and accepts.
    sign_in_to(ylp_admin, "ylp2em")
    page.click("#transfers-waiting")
    page.wait_for_url(f"{base}/p/ylp2em/pindah")
    assert "LSM Pattiro Jeka" in page.inner_text("#incoming")
    page.click(f"#incoming a[href='{transfer_path}']")
    page.wait_for_url(f"{base}{transfer_path}")
    offered = page.inner_text("#transfer-members")
    assert all(number in offered for number in moving) and staying not in offered
    assert "Kelompok Ujung Sabbang" in page.inner_text("#transfer-request")
    assert "******" in offered
    page.click("#accept")
    page.wait_for_url(f"{base}{transfer_path}")
    assert page.inner_text("#transfer-status") == "diterima"

    # The members are YLP2EM's now, with the numbers they had.
    page.click("header nav a[href='/p/ylp2em/peserta']")
    page.wait_for_url(f"{base}/p/ylp2em/peserta")
    listed = page.locator("table.members").inner_text()
    assert all(number in listed for number in moving) and staying not in listed

    with live_app.app_context(), tenancy.everything():
        tenants = dict(db.session.execute(select(Member.member_number, Member.tenant_id)).all())
    assert {n: tenants[n] for n in moving} == dict.fromkeys(moving, ylp_id)
    assert tenants[staying] == jeka_id
    assert problems == []
