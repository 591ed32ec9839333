"""Core statements compiled once and run on the driver's cursor, for the hottest reads.

SQLAlchemy spends ~40-100 µs of Python on every execution of an already compiled and
cached Core statement: the parameters and each row's values through the column types,
the execution context and its events, the result's metadata. On the status check — the
public page members' phones load most, measured against a bare endpoint doing one raw
lookup (README, "Status check") — that was a sixth of the request's CPU for its two
statements, against ~15 µs each when the driver runs them.

A `Precompiled` statement is compiled for one dialect once. Each run converts its
parameters and its rows' values with the same type processors SQLAlchemy uses for the
statement's columns and parameters (so a Uuid, a Date on SQLite, an Enum come back as the
same objects), and sends the SQL on the cursor of the caller's pooled connection, in the
transaction the caller's `Connection` began: its begin and commit go through SQLAlchemy,
so the engine's transaction events (the tenant scope's bookkeeping in `tenancy`) see them.

What is given up, on these statements only: SQLAlchemy's statement events
(`before_cursor_execute`, …) and its echo logging do not see them. A driver error is
raised as SQLAlchemy would raise it (`DBAPIError.instance`), and a lost connection is
discarded from the pool (`Connection.invalidate`) as SQLAlchemy discards it.
"""

from __future__ import annotations

from collections import namedtuple

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


class Precompiled:
    """`statement` (a Core SELECT) compiled for `dialect`; `rows(connection, params)`
    runs it. Parameters not in `params` take the values the statement bound (literals
    such as an enum member); a parameter without one must be given."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise ValueError("expanding (IN) and literal-execute parameters are not supported")
        self.sql = compiled.string
        binds = {name: bind for bind, name in compiled.bind_names.items()}

        def processor(type_):
            return type_.dialect_impl(dialect).bind_processor(dialect)

        self.fixed = {name: bind.effective_value for name, bind in binds.items()
                      if not bind.required}
        self.required = frozenset(name for name, bind in binds.items() if bind.required)
        self.bind_processors = tuple((name, process) for name, bind in binds.items()
                                     if (process := processor(bind.type)) is not None)
        # The driver's placeholder style: positional (sqlite3's "?", each occurrence in
        # order) or named (psycopg's "%(name)s").
        self.positions = tuple(compiled.positiontup) if dialect.positional else None
        columns = list(statement.selected_columns)
        self.result_processors = tuple(
            (i, process) for i, column in enumerate(columns)
            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
            is not None)
        self.row = namedtuple("Row", [column.key for column in columns])  # noqa: PYI024
        self.error_base = dialect.loaded_dbapi.Error

    def parameters(self, params: dict):
        """The driver's parameters for `params`."""
        missing = self.required - params.keys()
        if missing:
            raise KeyError(f"no value for {', '.join(sorted(missing))}")
        values = {**self.fixed, **params}
        for name, process in self.bind_processors:
            values[name] = process(values[name])
        if self.positions is not None:
            return tuple([values[name] for name in self.positions])
        return values

    def rows(self, connection: Connection, params: dict) -> list:
        """The statement's rows (named tuples of the columns' keys) on `connection`,
        in its transaction (begun here if none is)."""
        args = self.parameters(params)
        if not connection.in_transaction():
            connection.begin()
        dbapi_connection = connection.connection
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, args)
            fetched = cursor.fetchall()
        except self.error_base as err:
            # As SQLAlchemy does: a lost connection is discarded (the pool then connects
            # afresh), any other error leaves it to the caller's rollback.
            gone = connection.dialect.is_disconnect(err, dbapi_connection, cursor)
            if gone:
                connection.invalidate(err)
            raise DBAPIError.instance(self.sql, args, err, self.error_base,
                                      connection_invalidated=gone,
                                      dialect=connection.dialect) from err
        finally:
            cursor.close()
        make, processors = self.row._make, self.result_processors
        if not processors:
            return [make(values) for values in fetched]
        out = []
        for values in fetched:
            values = list(values)
            for i, process in processors:
                values[i] = process(values[i])
            out.append(make(values))
        return out
