"""The member's status check: the domain function, the /cek page and POST /api/v1/status.

What a member learns: their status in plain Indonesian, the product, the partner and
its contact, the last payment and the amount due — nothing else; "not found" and "wrong
birth date" are the same answer."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from bungkesmas import tenancy
from bungkesmas.contributions.coverage import Status
from bungkesmas.errors import DomainError
from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment, EnrollmentStatus, Member
from bungkesmas.precompiled import Precompiled
from bungkesmas.selfservice import services
from bungkesmas.timeutil import local_today
from tests.selfservice.conftest import BORN, PARTNER_NAME, enrolled


def unknown_number() -> str:
    """A well-formed member number nobody has (partner 9999 does not exist)."""
    from bungkesmas.members.numbers import format_number

    return format_number(9999, 1)


def check(value: str, born):
    return services.check_status(services.parse_identifier(value), born)


# --- the domain function -----------------------------------------------------------------


def test_an_active_member_sees_cover_until_its_last_day_and_what_is_due_next(app, active):
    answer = check(active.number, BORN)
    today = local_today()
    assert answer.status == Status.ACTIVE
    # Paid 3 days ago, enrolled 10 days ago, no waiting: a year from the payment date.
    from bungkesmas.contributions.coverage import add_months

    last_day = add_months(today - timedelta(days=3), 12) - timedelta(days=1)
    assert answer.until == last_day
    assert answer.text == f"Aktif sampai {last_day.day} {_month(last_day)} {last_day.year}"
    assert answer.product == "Bungkesmas"
    assert answer.partner_name == PARTNER_NAME and answer.partner_phone.startswith("+62")
    assert answer.last_payment_on == today - timedelta(days=3)
    assert answer.amount_due == 150_000 and answer.due_on == last_day + timedelta(days=1)


def _month(d) -> str:
    return ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
            "September", "Oktober", "November", "Desember"][d.month - 1]


def test_the_answer_agrees_with_the_coverage_engine(app, active, pending, lapsed):
    """The answer reads the enrollment's snapshot; the engine over the ledger agrees."""
    from bungkesmas.contributions import services as ledger

    for someone in (active, pending, lapsed):
        answer = check(someone.number, BORN)
        with tenancy.everything():
            enrollment = db.session.scalar(select(Enrollment).where(
                Enrollment.member_id == someone.member_id))
            cover = ledger.coverage_of(enrollment)
        assert answer.amount_due == cover.amount_due
        assert answer.due_on == cover.next_due_on
        assert answer.status == cover.status_on(local_today())


def test_a_reversed_payment_is_not_the_last_payment(app, make, partner, product):
    from bungkesmas.contributions import services as ledger

    someone = enrolled(make, partner, product, local_today() - timedelta(days=9),
                       local_today() - timedelta(days=8))
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        enrollment = db.session.scalar(select(Enrollment).where(
            Enrollment.member_id == someone.member_id))
        wrong = ledger.record_payment(None, enrollment, "cash", 50_000,
                                      local_today() - timedelta(days=2))
        ledger.reverse(None, wrong, "Salah catat")
        db.session.commit()
    assert check(someone.number, BORN).last_payment_on == local_today() - timedelta(days=8)


def test_the_nik_finds_the_member_as_well_as_the_member_number(app, active):
    assert check(active.nik, BORN).status == Status.ACTIVE
    spaced = f"{active.nik[:6]} {active.nik[6:12]} {active.nik[12:]}"
    assert check(spaced, BORN).status == Status.ACTIVE


def test_statuses_in_plain_indonesian(app, make, partner, product, lapsed, pending, not_enrolled):
    assert check(lapsed.number, BORN).text == "Tidak aktif"
    assert check(pending.number, BORN).text == "Menunggu pembayaran"
    assert check(pending.number, BORN).amount_due == 150_000
    assert check(pending.number, BORN).last_payment_on is None
    nothing = check(not_enrolled.number, BORN)
    assert nothing.status is None and nothing.product is None and nothing.amount_due is None
    assert nothing.partner_name == PARTNER_NAME
    # In grace: cover ended ten days ago (the product's grace is 30 days).
    paid = local_today() - timedelta(days=375)
    grace = enrolled(make, partner, product, paid, paid)
    answer = check(grace.number, BORN)
    assert answer.status == Status.GRACE and answer.text.startswith("Masa tenggang sampai ")
    # A waiting period: the product waits 30 days after the first payment.
    waiting_product = make.product(partner, code="TUNGGU", waiting_days=30)
    waiting = enrolled(make, partner, waiting_product, local_today(), local_today())
    answer = check(waiting.number, BORN)
    assert answer.status == Status.WAITING
    assert answer.text.startswith("Masa tunggu: perlindungan mulai ")
    assert answer.until == local_today() + timedelta(days=30)


def test_a_cancelled_enrollment_says_so_and_asks_for_nothing(app, make, partner, pending):
    with tenancy.everything():
        enrollment = db.session.scalar(select(Enrollment).where(
            Enrollment.member_id == pending.member_id))
        enrollment.status = EnrollmentStatus.CANCELLED
        enrollment.cancelled_at = enrollment.enrolled_at
        db.session.commit()
    answer = check(pending.number, BORN)
    assert answer.text == "Kepesertaan dibatalkan" and answer.amount_due is None


def test_unknown_identifier_and_wrong_birth_date_give_the_same_none(app, active):
    assert check(active.number, BORN + timedelta(days=1)) is None
    assert check(active.nik, BORN.replace(year=1986)) is None
    assert check(unknown_number(), BORN) is None


def test_the_answer_carries_the_enrollment_for_the_pay_link_but_shows_no_id(app, active):
    answer = check(active.number, BORN)
    with tenancy.everything():
        enrollment_id = db.session.scalar(select(Enrollment.id).where(
            Enrollment.member_id == active.member_id))
    assert answer.enrollment_id == enrollment_id
    assert str(enrollment_id) not in repr(answer)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()],
                         ids=lambda d: d.name)
def test_the_lookup_statements_carry_the_tenant_wall_themselves(app, dialect):
    """They run as Core, outside the ORM's automatic tenant criteria: every partner-owned
    table (and alias) they read is restricted to the partner the registry routed the
    identifier to — its column, or on PostgreSQL the scope the statement set from it."""
    owned = {mapper.local_table.name for mapper in db.Model.registry.mappers
             if issubclass(mapper.class_, tenancy.TenantOwned)}
    partner = {"sqlite": "member_registry.partner_id",
               "postgresql": "scope.tenant"}[dialect.name]
    q = services._statements(dialect.name)
    for name in ("by_number", "by_digest", "by_card"):
        sql = str(getattr(q, name).compile(dialect=dialect))
        read = re.findall(r"(?:FROM|JOIN) (\w+)(?: AS (\w+))?", sql)
        aliases = {alias or table for table, alias in read if table in owned}
        assert aliases == {"members", "enrollments"}, sql
        for alias in aliases:
            assert f"{alias}.tenant_id = {partner}" in sql, (name, alias)


def test_each_member_is_answered_from_their_own_partner_only(app, make, active, product):
    """Two members born the same day at two partners: each lookup reads its member's
    partner, and only that partner's enrollments."""
    other = make.partner(slug="mitra-lain", admin_email="admin-lain@contoh.id",
                         name="Koperasi Lain")
    elsewhere = enrolled(make, other, make.product(other, code="LAIN", waiting_days=0),
                         local_today() - timedelta(days=10))
    mine, theirs = check(active.number, BORN), check(elsewhere.number, BORN)
    assert (mine.partner_name, mine.status) == (PARTNER_NAME, Status.ACTIVE)
    assert (theirs.partner_name, theirs.status) == ("Koperasi Lain", Status.PENDING_PAYMENT)
    with tenancy.everything():
        assert db.session.scalar(select(Enrollment.tenant_id).where(
            Enrollment.id == theirs.enrollment_id)) == other.id
        assert db.session.scalar(select(Enrollment.tenant_id).where(
            Enrollment.id == mine.enrollment_id)) != other.id


def test_the_lookup_scopes_itself_and_its_scope_ends_with_it(app, active, pg_only):
    """Row-Level Security (PostgreSQL), the second wall: the lookup's connection, as the
    app's role, sees no partner's rows unless scoped; the statement scopes itself to the
    partner it routed to (else it would find nobody), and that scope ends with it."""
    settings = text("SELECT current_setting('app.tenant_ids', true)")
    with services._reading() as connection:
        assert connection.scalar(select(func.count()).select_from(Member)) == 0
        q = services._precompiled(connection.dialect)
        rows = q.by_number.rows(connection, {"key": active.number, "born": BORN})
        assert len(rows) == 1 and rows[0].last_payment_on is not None
        assert connection.scalar(settings) in (None, "")
        assert connection.scalar(select(func.count()).select_from(Member)) == 0


def test_found_or_not_the_lookup_sends_the_same_statement(app, make, active, monkeypatch):
    """"Not found" and "wrong birth date" are not told apart by what goes to the
    database either: the same single statement. (It runs on the driver's cursor,
    `bungkesmas.precompiled`, which SQLAlchemy's statement events do not see: what each
    run sends is noted there.)"""
    sent: list[str] = []
    run = Precompiled.rows

    def noted(self, connection, params):
        sent.append(self.sql)
        return run(self, connection, params)

    monkeypatch.setattr(Precompiled, "rows", noted)
    runs = []
    for number, born in ((unknown_number(), BORN), (active.number, BORN + timedelta(1)),
                         (active.number, BORN)):
        sent.clear()
        services.check_status(services.parse_identifier(number), born)
        runs.append(list(sent))
    assert runs[0] == runs[1] == runs[2] and len(runs[0]) == 1


@pytest.mark.parametrize("typed", ["", "abc", "1234", "0012-000345-8", "1234567890123456",
                                   "7372021403850000"])
def test_a_malformed_identifier_is_refused_before_any_lookup(app, typed):
    with pytest.raises(DomainError) as err:
        services.parse_identifier(typed)
    assert err.value.field == "identifier"


def test_the_identifier_keeps_no_nik_and_its_rate_key_neither(app, active):
    identifier = services.parse_identifier(active.nik)
    assert active.nik not in repr(identifier)
    assert active.nik not in identifier.rate_key()
    assert identifier.rate_key() == services.parse_identifier(active.nik).rate_key()
    assert identifier.rate_key() != services.parse_identifier(active.number).rate_key()


def test_failed_lookups_are_logged_without_the_identifier(app, active, caplog):
    with caplog.at_level(logging.DEBUG):
        check(active.nik, BORN + timedelta(days=1))
        check(active.number, BORN + timedelta(days=1))
    assert caplog.records  # something is logged, but not who
    assert active.nik not in caplog.text and active.number not in caplog.text
    assert BORN.isoformat() not in caplog.text


# --- the page ----------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" type="hidden" value="[^"]*"')


def post(client, identifier, born, **kwargs):
    return client.post("/cek", data={"identifier": identifier, "birth_date": born.isoformat()},
                       **kwargs)


def test_the_page_shows_the_answer_in_reply_to_the_post_without_the_nik(client, active):
    response = post(client, active.nik, BORN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-status="active"' in html and "Aktif sampai" in html
    assert PARTNER_NAME in html and "Rp150.000" in html
    # The NIK typed is not written back into the page, nor the member's number or id.
    assert active.nik not in html and active.number not in html
    assert str(active.member_id) not in html
    with tenancy.everything():
        enrollment_id = db.session.scalar(select(Enrollment.id).where(
            Enrollment.member_id == active.member_id))
    assert str(enrollment_id) not in html


def test_the_form_posts_and_nothing_typed_ever_goes_into_a_url(client, active):
    html = client.get("/cek").get_data(as_text=True)
    assert re.search(r'<form method="post" action="/cek"', html)
    response = post(client, active.number, BORN)
    assert response.status_code == 200 and "Location" not in response.headers
    # A GET with the values in the query string is the empty form, not a lookup.
    html = client.get(f"/cek?identifier={active.number}&birth_date={BORN}").get_data(as_text=True)
    assert 'id="jawaban"' not in html and "Aktif" not in html


def test_not_found_and_wrong_birth_date_pages_are_byte_identical(client, active):
    wrong_birth = post(client, active.number, BORN + timedelta(days=1))
    unknown = post(client, unknown_number(), BORN + timedelta(days=1))
    wrong_nik_birth = post(client, active.nik, BORN.replace(year=1990))
    assert wrong_birth.status_code == unknown.status_code == wrong_nik_birth.status_code == 200
    pages = [CSRF.sub("", r.get_data(as_text=True))
             for r in (wrong_birth, unknown, wrong_nik_birth)]
    assert pages[0] == pages[1] == pages[2]
    assert 'id="tidak-ditemukan"' in pages[0] and "data-status" not in pages[0]


def test_field_errors_are_shown_next_to_the_fields(client):
    html = client.post("/cek", data={"identifier": "12ab", "birth_date": ""}).get_data(
        as_text=True)
    assert 'id="identifier-error"' in html and 'id="birth_date-error"' in html


@pytest.mark.parametrize(("identifier", "born", "errors"), [
    ("", "", {"identifier": "Kolom ini wajib diisi.", "birth_date": "Isi tanggal lahir."}),
    ("   ", "1985-03-14", {"identifier": "Kolom ini wajib diisi."}),
    ("1" * 41, "1985-03-14", {"identifier": "Gunakan paling banyak 40 karakter."}),
    ("12ab", "1985-03-14", {"identifier": "16 digit"}),
    ("7371011403850001", "14/03/1985", {"birth_date": "Bukan tanggal yang valid."}),
    ("0001-000001-2", "1985-02-30", {"birth_date": "Bukan tanggal yang valid."}),
])
def test_each_bad_field_of_the_form_gets_its_reason_in_indonesian(app, identifier, born,
                                                                  errors):
    from bungkesmas.selfservice.forms import read_status_form

    with app.test_request_context("/cek", method="POST"):
        entry = read_status_form({"identifier": identifier, "birth_date": born})
    assert set(entry.errors) == set(errors)
    for name, reason in errors.items():
        assert reason in " ".join(entry.errors[name])


def test_the_form_reads_what_a_phone_sends(app, active):
    from bungkesmas.selfservice.forms import read_status_form

    with app.test_request_context("/cek", method="POST"):
        entry = read_status_form({"identifier": f"  {active.number}\x00 ",
                                  "birth_date": f" {BORN.isoformat()}"})
        expected = services.parse_identifier(active.number)
    assert entry.errors == {} and entry.identifier == expected and entry.birth_date == BORN


def test_a_refused_form_comes_back_with_what_was_typed(client):
    html = client.post("/cek", data={"identifier": " 12ab ", "birth_date": "1985-02-30"}
                       ).get_data(as_text=True)
    assert 'value="12ab"' in html and 'value="1985-02-30"' in html
    assert 'aria-describedby="identifier-error"' in html


def test_the_language_switch_comes_back_to_the_check(client):
    html = client.get("/cek").get_data(as_text=True)
    assert 'href="/bahasa/en?next=%2Fcek"' in html
    response = client.get("/bahasa/en?next=%2Fcek")
    assert response.status_code == 302 and response.headers["Location"].endswith("/cek")
    assert "Check your membership" in client.get("/cek").get_data(as_text=True)


def test_the_page_works_without_javascript_and_weighs_under_100_kb(client, active):
    """The page, and everything it loads (stylesheet and the optional script), < 100 kB;
    the form is a plain POST form that needs no script."""
    for response in (client.get("/cek"), post(client, active.number, BORN)):
        html = response.get_data()
        assets = re.findall(rb'(?:href|src)="(/static/[^"]+)"', html)
        total = len(html)
        for asset in assets:
            loaded = client.get(asset.decode())
            total += len(loaded.get_data())
            loaded.close()
        assert total < 100_000, total
        assert b"<noscript" not in html  # nothing in it depends on a script
        assert re.search(rb'<button type="submit">', html) or b'id="jawaban"' in html


def test_english_is_one_click_away(client, active):
    client.get("/bahasa/en")
    html = post(client, active.number, BORN).get_data(as_text=True)
    assert "Active until" in html


def test_the_form_under_an_answer_is_in_each_members_language(app, client, active):
    """The empty form is rendered once per language and kept (pages.fragment)."""
    indonesian, english = client, app.test_client()  # each request in its own context
    english.get("/bahasa/en")
    for _ in range(2):
        assert "Nomor peserta atau NIK" in post(indonesian, active.number, BORN).get_data(
            as_text=True)
        html = post(english, active.number, BORN).get_data(as_text=True)
        assert "Member number or NIK" in html and "Nomor peserta" not in html


# --- the API -----------------------------------------------------------------------------


def test_the_api_answers_without_a_token(client, active):
    response = client.post("/api/v1/status", json={"nik": active.nik,
                                                   "birth_date": BORN.isoformat()})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "active" and body["status_text"].startswith("Aktif sampai")
    assert body["partner"]["name"] == PARTNER_NAME and body["amount_due"] == 150_000
    assert body["pay_url"] is None
    assert set(body) == {"status", "status_text", "until", "product", "partner",
                         "last_payment_on", "amount_due", "due_on", "pay_url"}


def test_the_api_gives_one_404_for_unknown_and_wrong_birth_date(client, active):
    answers = [client.post("/api/v1/status", json=body) for body in (
        {"member_number": active.number, "birth_date": "1999-01-01"},
        {"member_number": unknown_number(), "birth_date": BORN.isoformat()})]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].get_data() == answers[1].get_data()


@pytest.mark.parametrize(("body", "fields"), [
    ({}, {"birth_date", "member_number", "nik"}),
    ({"nik": "123", "birth_date": "1985-03-14"}, {"nik"}),
    ({"member_number": "0012-000345-8", "birth_date": "14-03-1985"},
     {"member_number", "birth_date"}),
    ({"member_number": "x", "nik": "y", "birth_date": "1985-03-14"}, {"member_number", "nik"}),
])
def test_the_api_names_each_bad_field(client, body, fields):
    response = client.post("/api/v1/status", json=body)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == fields


def test_the_status_check_is_in_the_openapi_document_without_security(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/status"]["post"]
    assert operation["security"] == []
    assert "404" in operation["responses"] and "200" in operation["responses"]


def test_a_member_with_money_due_is_offered_to_pay_online_when_it_is_configured(
        app, client, pending, not_enrolled):
    def pay_link(person):
        html = client.post("/cek", data={"identifier": person.number,
                                         "birth_date": person.birth_date.isoformat()}
                           ).get_data(as_text=True)
        found = re.search(r'id="bayar-online" href="([^"]+)"', html)
        return found and found.group(1)

    assert pay_link(pending) is None  # no Stripe keys: no online option
    app.config.update(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET="whsec_x")
    link = pay_link(pending)
    assert re.fullmatch(r"http://localhost/bayar/[A-Za-z0-9_-]{40,}", link)
    assert "Rp150.000" in client.get(link).get_data(as_text=True).replace("\xa0", "")
    assert pay_link(not_enrolled) is None  # nothing to pay for
