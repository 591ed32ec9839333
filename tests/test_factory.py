"""The application factory and its configuration."""

import pytest

from bungkesmas import create_app
from tests.conftest import PRODUCTION_SECRETS


def test_testing_config_is_used_when_asked(app):
    assert app.testing
    assert app.config["BABEL_DEFAULT_LOCALE"] == "id"


@pytest.mark.parametrize("secret", [None, "", "dev", "short-secret"])
def test_production_refuses_to_start_without_a_real_secret_key(secret):
    config = {"SECRET_KEY": secret, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    with pytest.raises(RuntimeError, match="BUNGKESMAS_SECRET_KEY"):
        create_app(env="production", config=config)


@pytest.mark.parametrize("missing", ["NIK_ENCRYPTION_KEY", "NIK_DIGEST_KEY"])
def test_production_refuses_to_start_without_the_nik_keys(missing):
    config = {**PRODUCTION_SECRETS, missing: None, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    with pytest.raises(RuntimeError, match=missing):
        create_app(env="production", config=config)


def test_production_starts_with_a_real_secret_and_secure_cookies():
    app = create_app(env="production", config={**PRODUCTION_SECRETS,
                                                "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["SESSION_COOKIE_SECURE"]
    assert app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_a_released_savepoint_is_undone_with_its_transaction(app):
    """A savepoint's release is not a commit, whatever ran before it in the transaction:
    on SQLite the driver opens no transaction before a read, so a SAVEPOINT issued after
    reads only would otherwise start one of its own, and its RELEASE would commit."""
    from sqlalchemy import func, select

    from bungkesmas import tenancy
    from bungkesmas.auth.models import User
    from bungkesmas.extensions import db

    with app.app_context(), tenancy.everything():
        before = db.session.scalar(select(func.count()).select_from(User))  # a read only
        with db.session.begin_nested():
            db.session.add(User(email="savepoint@contoh.id", name="Savepoint"))
        db.session.rollback()  # e.g. a later step of the request failed
        assert db.session.scalar(select(func.count()).select_from(User)) == before
