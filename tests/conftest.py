"""Test fixtures: an app per database (SQLite always, PostgreSQL when reachable — and
required under CI=true), the schema built once per database by running the migrations,
rows truncated after each test."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
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
        self._is_superuser: bool | None = None
        # Set by a fixture whose rows the next test reuses (tests/test_bad_input.py's
        # world, when the test left them as built): the `app` fixture then keeps them.
        self.keep_rows = False
        self.truncations = 0  # how many times emptied: rows kept from before are gone

    def config(self, **extra) -> dict:
        return {"SQLALCHEMY_DATABASE_URI": self.url, "MIGRATION_DATABASE_URI": self.url, **extra}

    def truncate(self) -> None:
        """Empty every table the test filled and restart the id sequences, as
        `TRUNCATE … RESTART IDENTITY CASCADE` would — but that costs ~0.5 s per test on
        PostgreSQL even with the tables empty (a new file per table), where deleting the
        few rows a test writes costs milliseconds."""
        self.truncations += 1
        with self.owner.begin() as conn:
            filled = conn.execute(text(self._filled_tables)).scalars().all()
            if self.backend == "postgresql" and not self._superuser(conn):
                if filled:
                    conn.execute(text("TRUNCATE {} CASCADE".format(
                        ", ".join(f'"{t}"' for t in filled))))
                conn.execute(text(self._restart_used_sequences))
            elif self.backend == "postgresql":
                if filled:
                    # Replica mode skips the triggers (the append-only ledger refuses
                    # DELETE) and the foreign key checks: every row of these tables
                    # goes, so nothing is left dangling.
                    conn.execute(text("SET LOCAL session_replication_role = replica"))
                    for table in filled:
                        conn.execute(text(f'DELETE FROM "{table}"'))
                # Sequences that handed out a value since their last restart (a
                # rolled-back insert uses one up, too) start again.
                conn.execute(text(self._restart_used_sequences))
            else:
                order = {t: i for i, t in enumerate(self.tables)}
                for table in sorted(filled, key=order.get, reverse=True):  # children first
                    conn.execute(text(f'DELETE FROM "{table}"'))

    def _superuser(self, conn) -> bool:
        if self._is_superuser is None:
            self._is_superuser = bool(conn.execute(text(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar())
        return self._is_superuser

    @property
    def _filled_tables(self) -> str:
        return " UNION ALL ".join(
            f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in self.tables)

    # The sequences owned by a table column (serial and identity columns): what RESTART
    # IDENTITY restarts.
    _restart_used_sequences = """
        SELECT setval(s.oid, q.start_value, false) FROM pg_class s
        JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')
        JOIN pg_sequences q ON q.schemaname = s.relnamespace::regnamespace::text
                           AND q.sequencename = s.relname
        WHERE s.relkind = 'S' AND q.last_value IS NOT NULL"""


def _memory_backed_dir(tmp_path_factory) -> Path:
    """A directory for the SQLite test database in memory (/dev/shm) where there is one:
    SQLite syncs the disk at each commit (~1 ms each), for a file thrown away after."""
    shm = Path("/dev/shm")  # noqa: S108 (mkdtemp: a new directory only we may enter)
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="bungkesmas-test-", dir=shm))
    return tmp_path_factory.mktemp("db")


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
            # A throwaway database need not wait for the disk at each commit (~1.5 ms
            # each); what a transaction sees is unchanged.
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        url = f"{PG_SERVER}/{name}"
    else:
        url = f"sqlite:///{_memory_backed_dir(tmp_path_factory) / 'test.db'}"
    database = Database(backend, url)
    app = create_app(env="testing", config=database.config())
    with app.app_context():
        upgrade(directory=str(Path(__file__).parent.parent / "migrations"))
        database.tables = [t.name for t in db.metadata.sorted_tables]
        db.engine.dispose()
    yield database
    database.owner.dispose()
    if backend == "sqlite":
        shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)
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
    if database.keep_rows:
        database.keep_rows = False
    else:
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
