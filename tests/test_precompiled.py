"""Statements compiled once and run on the driver's cursor (bungkesmas.precompiled) give
what SQLAlchemy gives for the same statement, in the caller's transaction; a driver error
comes out as SQLAlchemy's exception and the connection is not used again."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import bindparam, column, event, literal_column, select, table, text
from sqlalchemy.exc import DBAPIError

from bungkesmas.contributions.models import EntryKind, LedgerEntry
from bungkesmas.extensions import db
from bungkesmas.members.models import Enrollment, EnrollmentStatus
from bungkesmas.precompiled import Precompiled


def _typed_values():
    """A statement whose columns and parameters go through type processors on one
    database or the other: Uuid, Date, DateTime, Enum (a bound literal and a parameter)."""
    return select(
        bindparam("id", type_=Enrollment.id.type).label("id"),
        bindparam("day", type_=Enrollment.covered_until.type).label("day"),
        bindparam("at", type_=Enrollment.enrolled_at.type).label("at"),
        bindparam("status", type_=Enrollment.status.type).label("status"),
        bindparam("kind", EntryKind.PAYMENT, type_=LedgerEntry.kind.type).label("kind"),
        bindparam("empty", type_=Enrollment.covered_until.type).label("empty"),
        literal_column("42").label("number"))


def test_rows_are_what_sqlalchemy_gives_for_the_same_statement(app):
    statement = _typed_values()
    params = {"id": uuid.uuid4(), "day": date(2027, 1, 14),
              "at": datetime(2026, 12, 7, 3, 4, 5, tzinfo=UTC).replace(tzinfo=None),
              "status": EnrollmentStatus.CANCELLED, "empty": None}
    with db.engine.connect() as connection:
        expected = connection.execute(statement, params).all()
        got = Precompiled(statement, connection.dialect).rows(connection, params)
    assert [tuple(row) for row in got] == [tuple(row) for row in expected]
    row = got[0]
    assert row.id == params["id"] and isinstance(row.id, uuid.UUID)
    assert row.day == date(2027, 1, 14) and row.status is EnrollmentStatus.CANCELLED
    assert row.empty is None and row.number == 42
    assert row.kind is EntryKind.PAYMENT


def test_a_parameter_without_a_value_is_refused_before_anything_is_sent(app):
    with db.engine.connect() as connection:
        statement = Precompiled(_typed_values(), connection.dialect)
        with pytest.raises(KeyError, match="day"):
            statement.rows(connection, {"id": uuid.uuid4(), "at": None, "status": None,
                                        "empty": None})
        assert not connection.in_transaction()


def test_it_runs_in_the_transaction_the_connection_began(app):
    """Begin and commit go through SQLAlchemy: its transaction events see them (the
    tenant scope's bookkeeping listens to them)."""
    seen: list[str] = []
    listeners = {name: (lambda *_a, name=name: seen.append(name))
                 for name in ("begin", "commit")}
    for name, listener in listeners.items():
        event.listen(db.engine, name, listener)
    try:
        with db.engine.connect() as connection:
            statement = Precompiled(select(literal_column("1").label("one")),
                                    connection.dialect)
            assert statement.rows(connection, {})[0].one == 1
            assert connection.in_transaction()
            connection.commit()
    finally:
        for name, listener in listeners.items():
            event.remove(db.engine, name, listener)
    assert seen == ["begin", "commit"]


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(app):
    missing = select(column("x")).select_from(table("no_such_table"))
    with db.engine.connect() as connection:
        statement = Precompiled(missing, connection.dialect)
        with pytest.raises(DBAPIError) as err:
            statement.rows(connection, {})
        assert "no_such_table" in str(err.value) and not err.value.connection_invalidated
        assert not connection.invalidated
        connection.rollback()
        assert Precompiled(select(literal_column("1").label("one")),
                           connection.dialect).rows(connection, {})[0].one == 1


def test_a_lost_connection_is_discarded_and_the_next_one_works(app, database, pg_only):
    with db.engine.connect() as connection:
        statement = Precompiled(select(literal_column("pg_backend_pid()").label("pid")),
                                connection.dialect)
        dead = statement.rows(connection, {})[0].pid
        connection.commit()
        with database.owner.connect() as owner:
            assert owner.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": dead})
        with pytest.raises(DBAPIError) as err:
            statement.rows(connection, {})
        assert err.value.connection_invalidated and connection.invalidated
    with db.engine.connect() as connection:
        assert statement.rows(connection, {})[0].pid != dead


def test_expanding_parameters_are_refused_when_compiled(app):
    statement = select(literal_column("1")).where(
        literal_column("1").in_(bindparam("values", expanding=True)))
    with pytest.raises(ValueError, match="expanding"):
        Precompiled(statement, db.engine.dialect)
