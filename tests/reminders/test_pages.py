"""The due and overdue page, its CSV export, the group page's summary and the reminders
page, on the partner's real local date."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.permissions import Role
from bungkesmas.contributions.coverage import add_months
from bungkesmas.extensions import db
from bungkesmas.members.models import Member
from bungkesmas.reminders import services
from bungkesmas.timeutil import local_today
from tests.reminders.conftest import Book
from tests.reminders.test_reminders import RecordingSender


def member_of(enrollment) -> Member:
    return db.session.get(Member, (enrollment.tenant_id, enrollment.member_id))


@pytest.fixture
def workspace(make):
    """A partner with a member in grace (due today), one lapsed and one never paid."""
    partner = make.partner(admin_email="admin-jatuh-tempo@contoh.id")
    book = Book(make, partner)
    today = local_today()
    pasar = book.group("Kelompok Pasar Lakessi")
    year_ago = add_months(today, -12)
    due_today = member_of(book.paid_on(year_ago, group_id=pasar, full_name="Siti Rahmawati"))
    lapsed = member_of(book.paid_on(year_ago - timedelta(days=90), full_name="Andi Baso"))
    never = member_of(book.member(full_name="Hasnah Daeng Ngai"))
    return {"book": book, "partner": partner, "group": pasar, "due": due_today,
            "lapsed": lapsed, "never": never, "make": make}


def test_the_due_page_lists_who_is_due_this_month_with_the_amount_and_a_link(
        client, login_as, workspace):
    officer = workspace["make"].staff(workspace["partner"], Role.PARTNER_OFFICER)
    login_as(officer)
    slug = workspace["partner"].slug
    page = client.get(f"/p/{slug}/jatuh-tempo")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Jatuh tempo bulan ini" in html and "Siti Rahmawati" in html
    assert "Rp150.000" in html and 'data-status="grace"' in html
    assert f"/p/{slug}/peserta/{workspace['due'].member_number}" in html
    assert "Andi Baso" not in html and "Hasnah" not in html
    assert 'data-tab="lapsed">Tidak aktif <span class="badge">1</span>' in html
    # Officers have no export permission: no CSV link.
    assert "ekspor.csv" not in html

    lapsed = client.get(f"/p/{slug}/jatuh-tempo?tab=lapsed").get_data(as_text=True)
    assert "Andi Baso" in lapsed and "Tidak aktif sejak" in lapsed and "Siti" not in lapsed
    pending = client.get(f"/p/{slug}/jatuh-tempo?tab=pending").get_data(as_text=True)
    assert "Hasnah Daeng Ngai" in pending and 'data-status="pending_payment"' in pending
    grouped = client.get(f"/p/{slug}/jatuh-tempo?tab=lapsed&group={workspace['group']}")
    assert "Andi Baso" not in grouped.get_data(as_text=True)


@pytest.mark.parametrize("query", [
    "tab=semua", "group=bukan-uuid", "group=00000000-0000-0000-0000-000000000000",
    "partner=abc", "partner=99999999999999999999", "page=-3", "page=abc",
    "page=99999999999999999999", "tab=due&tab=grace", "group=%00",
])
def test_garbage_in_the_filters_shows_a_list_never_an_error(client, login_as, workspace, query):
    login_as("admin-jatuh-tempo@contoh.id")
    response = client.get(f"/p/{workspace['partner'].slug}/jatuh-tempo?{query}")
    assert response.status_code == 200
    export = client.get(f"/p/{workspace['partner'].slug}/jatuh-tempo/ekspor.csv?{query}")
    assert export.status_code == 200


def test_the_export_holds_the_list_in_a_spreadsheet_and_is_audited(client, login_as, workspace):
    login_as("admin-jatuh-tempo@contoh.id")
    slug = workspace["partner"].slug
    assert "ekspor.csv" in client.get(f"/p/{slug}/jatuh-tempo").get_data(as_text=True)
    response = client.get(f"/p/{slug}/jatuh-tempo/ekspor.csv?tab=due")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["No. Peserta", "Nama Lengkap", "Telepon"]
    (row,) = rows[1:]
    member = workspace["due"]
    assert row[0] == member.member_number and row[1] == "Siti Rahmawati"
    assert row[2].startswith("0813") and row[3] == "Kelompok Pasar Lakessi"
    assert row[6] == "Masa tenggang" and row[9] == "150000"
    assert member.nik_masked not in response.get_data(as_text=True)
    with tenancy.everything():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "due.export"))
    assert event.partner_id == workspace["partner"].id and event.after["tab"] == "due"


def test_officers_may_not_export_the_list(client, login_as, workspace):
    login_as(workspace["make"].staff(workspace["partner"], Role.PARTNER_OFFICER))
    assert client.get(f"/p/{workspace['partner'].slug}/jatuh-tempo/ekspor.csv").status_code == 403


def test_the_group_page_sums_up_who_is_due_and_overdue_in_the_group(client, login_as, workspace):
    login_as("admin-jatuh-tempo@contoh.id")
    slug = workspace["partner"].slug
    html = client.get(f"/p/{slug}/kelompok/{workspace['group']}").get_data(as_text=True)
    assert "Jatuh tempo dan tunggakan" in html
    assert "Jatuh tempo bulan ini: <strong>1</strong>" in html
    assert "Tidak aktif: <strong>0</strong>" in html
    assert f"/p/{slug}/jatuh-tempo?tab=due&amp;group={workspace['group']}" in html


def test_a_parent_sees_its_childs_members_in_the_list_and_may_filter_by_partner(
        client, login_as, make):
    parent = make.partner(admin_email="admin-induk@contoh.id")
    child = Book(make, make.partner(parent=parent, name="Bank Sampah Labukkang"))
    child.paid_on(add_months(local_today(), -12), full_name="Nurhayati Child")
    login_as("admin-induk@contoh.id")
    html = client.get(f"/p/{parent.slug}/jatuh-tempo").get_data(as_text=True)
    assert "Nurhayati Child" in html and "Bank Sampah Labukkang" in html
    assert 'name="partner"' in html
    own_only = client.get(f"/p/{parent.slug}/jatuh-tempo?partner={parent.id}")
    assert "Nurhayati Child" not in own_only.get_data(as_text=True)


def test_the_reminders_page_lists_what_was_sent_with_the_phone_masked(
        app, client, login_as, workspace):
    RecordingSender.sent = []
    services.run(RecordingSender())
    login_as("admin-jatuh-tempo@contoh.id")
    slug = workspace["partner"].slug
    html = client.get(f"/p/{slug}/pengingat").get_data(as_text=True)
    phone = workspace["due"].phone
    assert "Siti Rahmawati" in html and "Dikirim" in html and "Masa tenggang" in html
    assert phone not in html and phone[:6] + "*****" + phone[-3:] in html
    assert "Yth. Siti Rahmawati" in html
    assert "Siti Rahmawati" not in client.get(
        f"/p/{slug}/pengingat?status=failed").get_data(as_text=True)
    for query in ("status=zzz", "reason=%00", "page=-1", "page=99999999999999999999"):
        assert client.get(f"/p/{slug}/pengingat?{query}").status_code == 200


def test_another_partners_group_or_id_in_the_filters_shows_nothing_of_theirs(
        client, login_as, make, workspace):
    other = Book(make, make.partner())
    their_group = other.group("Kelompok Rahasia")
    other.paid_on(add_months(local_today(), -12), group_id=their_group, full_name="Rahasia Bebe")
    login_as("admin-jatuh-tempo@contoh.id")
    slug = workspace["partner"].slug
    for query in (f"group={their_group}", f"partner={other.partner.id}", "tab=grace"):
        html = client.get(f"/p/{slug}/jatuh-tempo?{query}").get_data(as_text=True)
        assert "Rahasia" not in html and other.partner.name not in html
    services.run(RecordingSender())
    html = client.get(f"/p/{slug}/pengingat").get_data(as_text=True)
    assert "Rahasia Bebe" not in html and "Siti Rahmawati" in html
    assert client.get(f"/p/{other.partner.slug}/jatuh-tempo").status_code == 404
    assert client.get(f"/p/{other.partner.slug}/pengingat").status_code == 404
    csv_text = client.get(f"/p/{slug}/jatuh-tempo/ekspor.csv?tab=grace").get_data(as_text=True)
    assert "Rahasia" not in csv_text and "Siti Rahmawati" in csv_text
