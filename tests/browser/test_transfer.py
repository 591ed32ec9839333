"""The transfer journey in a real browser: the provider admin moves LSM Pattiro Jeka's
group — registered on YLP2EM's behalf — to YLP2EM once its MOU is signed."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Member
from tests.helpers import PASSWORD, Factory

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

    page.goto(f"{base}/login")
    page.fill("#email", admin_email)
    page.fill("#password", PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{base}/admin/partners")

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
