"""Rate limits of the status check: per address, and per identifier from any address,
shared by the page and the API. With the limiter on (the other tests switch it off)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bungkesmas import create_app
from bungkesmas.extensions import db, limiter
from tests.selfservice.conftest import BORN


@pytest.fixture
def limited_app(app):
    limiter.reset()
    limited = create_app(env="testing", config=app.test_database.config(
        RATELIMIT_ENABLED=True, WTF_CSRF_ENABLED=False,
        STATUS_RATE_LIMIT="10 per minute;60 per hour",
        STATUS_IDENTIFIER_RATE_LIMIT="5 per 15 minutes;20 per day",
        CARD_RATE_LIMIT="30 per minute"))
    yield limited
    limiter.reset()
    with limited.app_context():
        db.engine.dispose()


def guess(client, number: str, born, address: str = "10.1.1.1"):
    with client.application.app_context():
        return client.post("/cek", data={"identifier": number, "birth_date": born.isoformat()},
                           environ_overrides={"REMOTE_ADDR": address}).status_code


def test_guessing_a_members_birth_date_stops_at_the_identifiers_limit(limited_app, active):
    """A known member number, birth dates tried one after another: five "not found",
    then 429 (before any lookup)."""
    client = limited_app.test_client()
    statuses = [guess(client, active.number, BORN - timedelta(days=i + 1)) for i in range(20)]
    assert statuses == [200] * 5 + [429] * 15


def test_a_blocked_check_says_when_to_try_again(limited_app, active):
    client = limited_app.test_client()
    for i in range(5):
        guess(client, active.number, BORN - timedelta(days=i + 1))
    with limited_app.app_context():
        response = client.post("/cek", data={"identifier": active.number,
                                             "birth_date": BORN.isoformat()},
                               environ_overrides={"REMOTE_ADDR": "10.1.1.1"})
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60 + 1
    assert "Terlalu banyak percobaan" in response.get_data(as_text=True)


def test_a_thousand_guesses_of_different_members_from_one_address(limited_app, active):
    """Trying many member numbers from one address: the address limit (10) blocks."""
    from bungkesmas.members.numbers import format_number

    client = limited_app.test_client()
    statuses = [guess(client, format_number(9000 + i // 900_000, i % 900_000 + 1), BORN)
                for i in range(1000)]
    assert statuses == [200] * 10 + [429] * 990
    # Even the right answer now waits.
    assert guess(client, active.number, BORN) == 429


def test_guessing_one_member_from_many_addresses_is_blocked_too(limited_app, active):
    client = limited_app.test_client()
    statuses = [guess(client, active.nik, BORN - timedelta(days=i + 1), f"10.2.0.{i}")
                for i in range(8)]
    assert statuses == [200] * 5 + [429] * 3
    # The same member's number is another identifier; the NIK stays blocked from anywhere.
    assert guess(client, active.number, BORN, "10.3.0.1") == 200
    assert guess(client, active.nik, BORN, "10.3.0.2") == 429


def test_the_page_and_the_api_share_the_limits(limited_app, active):
    client = limited_app.test_client()
    for i in range(5):
        assert guess(client, active.number, BORN - timedelta(days=i + 1)) == 200
    with limited_app.app_context():
        response = client.post("/api/v1/status", json={
            "member_number": active.number, "birth_date": BORN.isoformat()},
            environ_overrides={"REMOTE_ADDR": "10.9.9.9"})
    assert response.status_code == 429 and "errors" in response.get_json()


def test_the_rate_limit_storage_holds_no_nik(limited_app, active):
    client = limited_app.test_client()
    guess(client, active.nik, BORN)
    storage = limiter.storage
    keys = " ".join(str(k) for k in getattr(storage, "storage", {}))
    assert keys and active.nik not in keys and active.nik[:12] not in keys


def test_the_cards_address_is_limited_apart_from_the_checks(limited_app, active):
    client = limited_app.test_client()
    with limited_app.app_context():
        statuses = [client.get("/cek/not-a-card-token",
                               environ_overrides={"REMOTE_ADDR": "10.4.0.1"}).status_code
                    for _ in range(31)]
    assert statuses == [404] * 30 + [429]
    # The status checks from that address still have their own count.
    assert guess(client, active.number, BORN, "10.4.0.1") == 200
