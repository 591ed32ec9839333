"""Test fixtures: an app per database (SQLite always, PostgreSQL when reachable — and
required under CI=true), the schema built once per database by running the migrations,
rows truncated after each test."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from bungkesmas import create_app
from bungkesmas.extensions import db, limiter

PG_SERVER = os.environ.get("BUNGKESMAS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
# What production refuses to start without, as test values.
PRODUCTION_SECRETS = {
    "SECRET_KEY": "x" * 48,
    "NIK_ENCRYPTION_KEY": "dGVzdGluZy1rZXktbm90LWZvci1wcm9kdWN0aW9uLTA=",
    "NIK_DIGEST_KEY": "production-test-digest-key",
}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytest_plugins = ["tests.helpers"]


def _pg_reachable() -> str | None:
    """Return None if PostgreSQL answers, else the reason."""
    try:
        engine = create_engine(f"{PG_SERVER}/postgres", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as err:  # noqa: BLE001
        return str(err).splitlines()[0]
    return None


_PG_PROBLEM = _pg_reachable()


def pytest_report_header(config):
    if _PG_PROBLEM is None:
        return f"databases: sqlite, postgresql ({PG_SERVER})"
    return f"databases: sqlite only — PostgreSQL is not reachable at {PG_SERVER}: {_PG_PROBLEM}"


def _backends():
    pg_marks = []
    if _PG_PROBLEM is not None and not IN_CI:
        pg_marks = [pytest.mark.skip(reason=f"PostgreSQL not reachable: {_PG_PROBLEM}")]
    return [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgresql", id="postgresql", marks=pg_marks)]


class Database:
    """A migrated test database: `url` for the app, `owner` engine for housekeeping."""

    def __init__(self, backend: str, url: str):
        self.backend = backend
        self.url = url
        self.owner = create_engine(url)
        self.tables: list[str] = []

    def config(self, **extra) -> dict:
        return {"SQLALCHEMY_DATABASE_URI": self.url, "MIGRATION_DATABASE_URI": self.url, **extra}

    def truncate(self) -> None:
        with self.owner.begin() as conn:
            if self.backend == "postgresql":
                conn.execute(text("TRUNCATE {} RESTART IDENTITY CASCADE".format(
                    ", ".join(f'"{t}"' for t in self.tables))))
            else:
                for table in reversed(self.tables):  # children before parents
                    conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture(scope="session", params=_backends())
def database(request, tmp_path_factory):
    backend = request.param
    if backend == "postgresql":
        if _PG_PROBLEM is not None:
            pytest.fail(f"CI=true but PostgreSQL is not reachable at {PG_SERVER}: {_PG_PROBLEM}")
        name = f"bungkesmas_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{PG_SERVER}/{name}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    database = Database(backend, url)
    app = create_app(env="testing", config=database.config())
    with app.app_context():
        upgrade(directory=str(Path(__file__).parent.parent / "migrations"))
        database.tables = [t.name for t in db.metadata.sorted_tables]
        db.engine.dispose()
    yield database
    database.owner.dispose()
    if backend == "postgresql":
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def _shared_app(database):
    """One application per backend and test process: building one compiles ~150 URL
    rules and the OpenAPI document, which costs more than most tests. Each test gets it
    with its configuration restored and its database emptied (`app`)."""
    app = create_app(env="testing", config=database.config(RATELIMIT_ENABLED=False,
                                                           WTF_CSRF_ENABLED=False))
    app.test_database = database
    return app


@pytest.fixture
def app(_shared_app, database):
    app = _shared_app
    config = dict(app.config)
    # The limiter is one object for every app: a test that builds an app with rate
    # limits on (`init_app`) leaves it enabled, so each test sets it from its app again.
    limiter.enabled = app.config["RATELIMIT_ENABLED"]
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    app.config.clear()
    app.config.update(config)
    app.test_client_class = None
    limiter.reset()
    database.truncate()


class RequestLikeProductionClient(FlaskClient):
    """Each request runs in its own application context — its own `g`, database session
    and tenant scope — as in production. Without this, Flask would reuse the test's
    context and let per-request state leak from one request into the next.

    The test's own transaction is committed first, so the request sees the test's data and
    the test afterwards sees the request's writes (SQLite keeps a read snapshot otherwise)."""

    def open(self, *args, **kwargs):
        db.session.commit()
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = RequestLikeProductionClient
    return app.test_client()


@pytest.fixture
def pg_only(database):
    if database.backend != "postgresql":
        pytest.skip("PostgreSQL-only behaviour")


def find_link(text_: str) -> str:
    """The first /undangan/ link in a message, as a path."""
    match = re.search(r"https?://[^/\s]+(/undangan/\S+)", text_)
    assert match, text_
    return match.group(1)
