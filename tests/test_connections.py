"""Pooled PostgreSQL connections are pinged before use only when they sat idle
(bungkesmas.connections): a dead one is replaced before a request sees it, a connection
given back moments ago goes out without the round trip."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bungkesmas.connections import _GIVEN_BACK
from bungkesmas.extensions import db

pytestmark = pytest.mark.usefixtures("pg_only")


@pytest.fixture
def pings(app, monkeypatch):
    """The pings the app's engine sends (counted around the dialect's own ping)."""
    with app.app_context():
        engine = db.engine
    seen: list[bool] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection):
        seen.append(True)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return engine, seen


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        pid = connection.scalar(text("SELECT pg_backend_pid()"))
        connection.commit()
    return pid


def _age_pool(engine, seconds: float) -> None:
    """Make every connection in the pool look as if given back `seconds` ago."""
    for record in list(engine.pool._pool.queue):
        record.info[_GIVEN_BACK] -= seconds


def test_the_app_does_not_ping_at_every_checkout(app):
    with app.app_context():
        assert db.engine.pool._pre_ping is False
        assert app.config["DB_PING_IDLE_SECONDS"] > 0


def test_a_connection_given_back_moments_ago_is_not_pinged(pings):
    engine, seen = pings
    first = _backend_pid(engine)
    assert _backend_pid(engine) == first
    assert seen == []


def test_a_connection_that_sat_idle_is_pinged_and_kept_when_alive(app, pings):
    engine, seen = pings
    first = _backend_pid(engine)
    _age_pool(engine, app.config["DB_PING_IDLE_SECONDS"] + 1)
    assert _backend_pid(engine) == first
    assert seen == [True]


def test_a_dead_idle_connection_is_replaced_before_use(app, database, pings):
    engine, seen = pings
    dead = _backend_pid(engine)
    with database.owner.connect() as owner:
        assert owner.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": dead})
    _age_pool(engine, app.config["DB_PING_IDLE_SECONDS"] + 1)
    replacement = _backend_pid(engine)  # no error: the ping found it gone
    assert replacement != dead and seen == [True]
