"""The demo data's members and groups, loaded through the domain functions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bungkesmas import demo, tenancy
from bungkesmas.extensions import db
from bungkesmas.members import nik as nik_rules
from bungkesmas.members.models import Enrollment, Group, Member
from bungkesmas.partners.models import Partner
from tests.helpers import login


@pytest.fixture(autouse=True)
def mou_storage(app, tmp_path):
    app.config["MOU_STORAGE_DIR"] = str(tmp_path / "mous")


def test_demo_partners_have_groups_and_members(app, client):
    assert demo.load()
    with tenancy.everything():
        slugs = dict(db.session.execute(select(Partner.id, Partner.slug)).all())
        per_partner = {slugs[t]: n for t, n in db.session.execute(
            select(Member.tenant_id, func.count()).group_by(Member.tenant_id))}
        assert per_partner == {"ylp2em": 24, "pattiro-jeka": 5, "bank-sampah-labukkang": 3}
        groups = {g.name: g for g in db.session.scalars(select(Group))}
        assert {"Kelompok Labukkang", "Kelompok Ujung Sabbang"} <= groups.keys()
        assert groups["Kelompok Labukkang"].village_code == "7372021001"
        assert groups["Kelompok Ujung Sabbang"].village_code == "7372021002"
        for group in groups.values():
            group_members = list(db.session.scalars(select(Member).where(
                Member.tenant_id == group.tenant_id, Member.group_id == group.id)))
            assert sum(m.is_coordinator for m in group_members) == 1, group.name
        ylp2em = [m for m in db.session.scalars(select(Member)) if slugs[m.tenant_id] == "ylp2em"]
        enrolled = set(db.session.scalars(select(Enrollment.member_id)))
        assert all(m.id in enrolled for m in ylp2em)
        # Pattiro Jeka's members are registered on YLP2EM's behalf.
        ids = {slug: id_ for id_, slug in slugs.items()}
        assert {m.hosted_for_id for m in db.session.scalars(select(Member)) if
                m.tenant_id == ids["pattiro-jeka"]} == {ids["ylp2em"]}
        for member in db.session.scalars(select(Member)):
            nik = nik_rules.decrypt(member.nik_encrypted)
            check = nik_rules.check(nik, member.birth_date, member.sex)
            assert check.error is None and check.warning is None and nik.startswith("737202")
    login(client, "admin@ylp2em.demo", demo.DEMO_PASSWORD)
    html = client.get("/p/ylp2em/kelompok").get_data(as_text=True)
    assert "Kelompok Labukkang" in html and "Kelompok Ujung Sabbang" in html
    # The parent sees the waste bank's customers too.
    assert "Nurbaya" in client.get("/p/ylp2em/peserta").get_data(as_text=True)


def test_demo_members_show_every_coverage_status(app, client):
    from bungkesmas.contributions.services import status_expression
    from bungkesmas.timeutil import local_today

    assert demo.load()
    with tenancy.everything():
        statuses = dict(db.session.execute(
            select(Member.full_name, status_expression(local_today())).join(
                Enrollment, (Enrollment.tenant_id == Member.tenant_id)
                & (Enrollment.member_id == Member.id))).all())
    assert statuses["Hj. Sitti Aminah"] == statuses["Andi Nurhaeda"] == "active"
    assert statuses["Nurhayati Daeng Te'ne"] == "waiting"
    assert statuses["Muhammad Arsyad"] == "grace"
    assert statuses["Besse Tenriawaru"] == "lapsed"
    assert statuses["Syamsuddin Lantara"] == "pending_payment"
    login(client, "admin@ylp2em.demo", demo.DEMO_PASSWORD)
    html = client.get("/p/ylp2em/peserta?status=grace").get_data(as_text=True)
    assert "Muhammad Arsyad" in html and "Hj. Sitti Aminah" not in html


def test_demo_mous_tell_the_hosting_story(app):
    from bungkesmas.mous import services as mous
    from bungkesmas.mous.models import MouStatus

    assert demo.load()
    with tenancy.everything():
        by_slug = {p.slug: p for p in db.session.scalars(select(Partner)) if p.slug}
        status = {slug: [str(m.status) for m in mous.mous_of(p)] for slug, p in by_slug.items()}
        # YLP2EM's pilot ended; its city-wide MOU is sent and waits for its signature.
        assert status == {"ylp2em": [MouStatus.SENT, MouStatus.TERMINATED],
                          "pattiro-jeka": [MouStatus.ACTIVE],
                          "bank-sampah-labukkang": [MouStatus.ACTIVE],
                          "kpi-parepare": [MouStatus.ACTIVE]}
        assert mous.in_force(by_slug["ylp2em"].id) is None
        assert by_slug["ylp2em"].hosting_partner_id == by_slug["pattiro-jeka"].id
        assert mous.hosted_members(by_slug["ylp2em"]) == {by_slug["pattiro-jeka"].id: 5}
        # KPI's MOU ends within 90 days: on the expiry lists.
        assert [m.tenant_id for m, _days in mous.expiring()] == [by_slug["kpi-parepare"].id]
        # The sent MOU carries its generated text.
        sent = mous.mous_of(by_slug["ylp2em"])[0]
        assert [d.kind for d in mous.documents.documents_of(sent)] == ["generated"]
