"""Signing in: where people land, who is refused and why, session renewal, rate limits,
cookie flags, security headers and password hashing."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import argon2
import pytest
from sqlalchemy import select

from bungkesmas import create_app, tenancy
from bungkesmas.auth import services as auth
from bungkesmas.auth.models import PartnerStaff, User
from bungkesmas.auth.permissions import Role
from bungkesmas.extensions import db, limiter
from bungkesmas.partners import services as partners
from config import config_class
from tests.conftest import PRODUCTION_SECRETS
from tests.helpers import PASSWORD

WRONG = "bukan-kata-sandinya-1"


def post_login(client, email: str, password: str = PASSWORD, **kwargs):
    return client.post("/login", data={"email": email, "password": password}, **kwargs)


def alerts(response) -> list[str]:
    """The messages shown at the top of the sign-in form."""
    return [html.unescape(m).strip() for m in re.findall(
        r'role="alert">(.*?)</p>', response.get_data(as_text=True), re.S)]


def signed_in(client) -> bool:
    return client.get("/akun").status_code == 302 and not urlsplit(
        client.get("/akun").location).path.startswith("/login")


def refused(response) -> str:
    """Assert the sign-in was refused with one message; return it."""
    assert response.status_code == 422, response.status_code
    messages = alerts(response)
    assert len(messages) == 1, messages
    return messages[0]


def admin_of(partner) -> User:
    with tenancy.everything():
        return auth.user_by_email(partner.contact_email)


# --- where people land, and the same answer for every wrong guess ------------------------


def test_provider_lands_on_the_partner_list(client, make):
    response = post_login(client, make.admin.email)
    assert response.status_code == 302
    assert urlsplit(response.location).path == "/admin/partners"
    assert client.get("/admin/partners").status_code == 200


def test_partner_admin_lands_in_their_workspace(client, make):
    partner = make.partner()
    response = post_login(client, partner.contact_email)
    assert response.status_code == 302
    assert urlsplit(response.location).path == f"/p/{partner.slug}/"
    assert client.get(f"/p/{partner.slug}/").status_code == 200


def test_e_mail_address_is_matched_without_regard_to_case(client, make):
    partner = make.partner()
    response = post_login(client, partner.contact_email.upper())
    assert response.status_code == 302


def test_wrong_password_and_unknown_e_mail_get_the_same_answer(client, make):
    user = make.admin
    wrong_password = post_login(client, user.email, WRONG)
    unknown_email = post_login(client, "tidak-ada@contoh.id", WRONG)
    assert refused(wrong_password) == refused(unknown_email)
    assert user.email not in refused(wrong_password)
    assert not signed_in(client)


def test_sign_in_ignores_a_next_address_on_another_site(client, make):
    for target in ("https://jahat.example/", "//jahat.example/", "javascript:alert(1)"):
        response = post_login(client, make.admin.email, query_string={"next": target})
        assert response.status_code == 302
        assert urlsplit(response.location).path == "/admin/partners", target
        client.post("/logout")


# --- the session is renewed at sign-in ---------------------------------------------------


def test_sign_in_starts_a_new_session(app, client, make):
    user = make.admin
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = 1
        session["lang"] = "en"
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    before = client.get_cookie(cookie_name).value

    assert post_login(client, user.email).status_code == 302

    after = client.get_cookie(cookie_name).value
    assert after != before
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == str(user.id)
        assert session["lang"] == "en"  # the language choice is kept on purpose


def test_a_refused_sign_in_does_not_sign_anyone_in(client, make):
    user = make.admin
    with client.session_transaction() as session:
        session["planted"] = 1
    refused(post_login(client, user.email, WRONG))
    with client.session_transaction() as session:
        assert "_user_id" not in session


# --- who is refused, and told why --------------------------------------------------------


@pytest.mark.parametrize("action", ["suspend", "terminate"])
def test_staff_of_a_suspended_or_terminated_partner_are_told_why(client, make, action):
    partner = make.partner()
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    reason = "Laporan keuangan triwulan belum diserahkan"
    partners.transition(make.admin, partner, action, reason)
    db.session.commit()
    for email in (partner.contact_email, officer.email):
        message = refused(post_login(client, email))
        assert reason in message
        assert partner.name in message
        assert not signed_in(client)


def test_staff_can_sign_in_again_after_reinstatement(client, make):
    partner = make.partner()
    partners.transition(make.admin, partner, "suspend", "Audit berjalan")
    db.session.commit()
    refused(post_login(client, partner.contact_email))
    partners.transition(make.admin, partner, "reinstate")
    db.session.commit()
    assert post_login(client, partner.contact_email).status_code == 302


def test_a_deactivated_officer_cannot_sign_in(client, make):
    partner = make.partner()
    officer = make.staff(partner, Role.PARTNER_OFFICER)
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        staff_id = db.session.scalar(select(PartnerStaff.id).where(
            PartnerStaff.user_id == officer.id))
        auth.set_staff_active(admin_of(partner), partner, staff_id, False)
    db.session.commit()

    message = refused(post_login(client, officer.email))
    assert message != refused(post_login(client, officer.email, WRONG))
    assert not signed_in(client)


def test_a_deactivated_account_cannot_sign_in(client, make):
    user = make.provider(Role.PROVIDER_STAFF)
    user.active = False
    db.session.commit()
    refused(post_login(client, user.email))
    assert not signed_in(client)


# --- rate limiting -----------------------------------------------------------------------


@pytest.fixture
def limited_app(app):
    limiter.reset()
    limited = create_app(env="testing", config=app.test_database.config(
        RATELIMIT_ENABLED=True, WTF_CSRF_ENABLED=False))
    yield limited
    limiter.reset()
    with limited.app_context():
        db.engine.dispose()


def test_the_eleventh_wrong_attempt_within_a_minute_is_refused_with_429(limited_app, make):
    email = make.admin.email
    client = limited_app.test_client()
    statuses = [post_login(client, email, WRONG).status_code for _ in range(11)]
    assert statuses == [422] * 10 + [429]
    # Even the right password now waits.
    assert post_login(client, email).status_code == 429


def test_guessing_one_account_from_many_addresses_is_rate_limited_too(limited_app, make):
    email = make.admin.email
    client = limited_app.test_client()
    statuses = [post_login(client, email, WRONG,
                           environ_overrides={"REMOTE_ADDR": f"10.0.0.{n}"}).status_code
                for n in range(11)]
    assert statuses == [422] * 10 + [429]


# --- cookies -----------------------------------------------------------------------------


def cookie_attributes(response, name: str) -> dict[str, str]:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            parts = [p.strip() for p in header.split(";")[1:]]
            return {k.lower(): v for k, _sep, v in (p.partition("=") for p in parts)}
    raise AssertionError(f"no {name} cookie set: {response.headers.getlist('Set-Cookie')}")


def test_session_cookie_is_http_only_and_same_site_lax(app, client, make):
    response = post_login(client, make.admin.email)
    attributes = cookie_attributes(response, app.config["SESSION_COOKIE_NAME"])
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"


def test_production_session_cookie_is_also_secure(app):
    production = create_app(env="production", config={
        **PRODUCTION_SECRETS, **app.test_database.config(RATELIMIT_ENABLED=False)})
    try:
        response = production.test_client().get("/bahasa/en")  # stores the language
        attributes = cookie_attributes(response, production.config["SESSION_COOKIE_NAME"])
        assert "secure" in attributes
        assert "httponly" in attributes
        assert attributes["samesite"] == "Lax"
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        limiter.reset()
        with production.app_context():
            db.engine.dispose()


# --- security headers --------------------------------------------------------------------


def assert_security_headers(response, where: str) -> None:
    headers = response.headers
    directives = {d.strip().split(" ", 1)[0]: d.strip().partition(" ")[2]
                  for d in headers.get("Content-Security-Policy", "").split(";") if d.strip()}
    assert directives.get("frame-ancestors") == "'none'", (where, headers)
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") in (
        "no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"), where


def anonymous_get_routes(app) -> list[str]:
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static")


def test_every_page_reachable_without_arguments_sends_security_headers(app, client):
    routes = anonymous_get_routes(app)
    assert "/" in routes and "/login" in routes
    for path in routes:
        response = client.get(path)
        assert response.status_code < 500, path
        assert_security_headers(response, path)


def test_error_pages_send_security_headers(client):
    for path in ("/tidak-ada-halaman-ini", "/api/v1/tidak-ada"):
        response = client.get(path)
        assert response.status_code == 404
        assert_security_headers(response, path)


def test_a_header_the_view_set_itself_is_kept_and_not_doubled(client):
    regions = client.get("/wilayah/73")
    assert regions.headers.getlist("Cache-Control") == ["public, max-age=86400"]
    page = client.get("/cek")
    for name in ("Content-Security-Policy", "X-Frame-Options", "Cache-Control"):
        assert len(page.headers.getlist(name)) == 1, name
    stylesheet = client.get("/static/app.css")
    assert "no-store" not in stylesheet.headers.get("Cache-Control", "")
    assert stylesheet.headers["X-Content-Type-Options"] == "nosniff"
    stylesheet.close()


# --- passwords ---------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_hashes(make):
    partner = make.partner()
    officer = make.staff(partner)
    for user in (make.admin, admin_of(partner), officer):
        stored = db.session.get(User, user.id).password_hash
        assert stored.startswith("$argon2id$"), stored
        assert PASSWORD not in stored


def test_production_argon2_parameters_meet_the_owasp_minimum(app):
    settings = config_class("production")
    assert settings.ARGON2_MEMORY_COST >= 19456  # KiB
    assert settings.ARGON2_TIME_COST >= 2
    assert settings.ARGON2_PARALLELISM >= 1
    production = create_app(env="production", config={
        **PRODUCTION_SECRETS, **app.test_database.config(RATELIMIT_ENABLED=False)})
    try:
        with production.app_context():
            params = argon2.extract_parameters(auth.hash_password("kata-sandi-produksi-1"))
    finally:
        limiter.reset()
        with production.app_context():
            db.engine.dispose()
    assert params.type is argon2.Type.ID
    assert params.memory_cost >= 19456
    assert params.time_cost >= 2
