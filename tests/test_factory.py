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


@pytest.mark.parametrize(("variable", "value", "kind", "minimum"), [
    ("BUNGKESMAS_PAY_LINK_DAYS", "two weeks", int, 1), ("BUNGKESMAS_PAY_LINK_DAYS", "0", int, 1),
    ("BUNGKESMAS_IMPORT_INLINE_ROWS", "-5", int, 0),
    ("BUNGKESMAS_DB_PING_IDLE_SECONDS", "nan", float, 0)])
def test_a_numeric_setting_that_is_not_one_names_its_variable(monkeypatch, variable, value,
                                                             kind, minimum):
    import config

    monkeypatch.setenv(variable, value)
    with pytest.raises(config.ConfigError, match=f"^{variable} must be .*, not '{value}'"):
        config._number(variable, 1, kind, minimum)


def test_numeric_settings_are_read_from_the_environment(monkeypatch):
    import config

    monkeypatch.setenv("BUNGKESMAS_PAY_LINK_DAYS", " 21 ")
    assert config._number("BUNGKESMAS_PAY_LINK_DAYS", 14, minimum=1) == 21
    monkeypatch.setenv("BUNGKESMAS_PAY_LINK_DAYS", "")
    assert config._number("BUNGKESMAS_PAY_LINK_DAYS", 14, minimum=1) == 14


def test_the_app_does_not_start_with_a_bad_numeric_setting(tmp_path):
    """At start-up (the settings are read when `config` is imported): one line naming
    the variable, not Python's `invalid literal for int()`."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "BUNGKESMAS_MOU_MAX_BYTES": "10MB"}
    started = subprocess.run([sys.executable, "-c", "import config"], env=env,
                             capture_output=True, text=True, check=False)
    assert started.returncode != 0
    assert started.stderr.strip().splitlines()[-1] == (
        "config.ConfigError: BUNGKESMAS_MOU_MAX_BYTES must be a whole number of at least 1, "
        "not '10MB'.")


@pytest.mark.parametrize("setting", ["LOGIN_RATE_LIMIT", "STATUS_RATE_LIMIT",
                                     "STATUS_IDENTIFIER_RATE_LIMIT", "CARD_RATE_LIMIT"])
@pytest.mark.parametrize("env", ["production", "development"])
def test_a_rate_limit_setting_that_cannot_be_read_stops_the_start(setting, env):
    import config

    settings = {**PRODUCTION_SECRETS, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                setting: "10 per minutx"}
    with pytest.raises(config.ConfigError, match=f"BUNGKESMAS_{setting} must be limits"):
        create_app(env=env, config=settings)


def test_an_unknown_import_jobs_setting_stops_the_start():
    import config

    with pytest.raises(config.ConfigError, match="BUNGKESMAS_IMPORT_JOBS"):
        create_app(env="production", config={**PRODUCTION_SECRETS, "IMPORT_JOBS": "celery",
                                             "SQLALCHEMY_DATABASE_URI": "sqlite://"})


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
