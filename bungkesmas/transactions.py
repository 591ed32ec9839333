"""How a request's transaction ends when nothing committed it (PostgreSQL).

Flask-SQLAlchemy closes the session after each request (and each app context), rolling
back whatever is still open. psycopg 3 forgets every statement it has prepared on a
connection at each rollback (`Connection.rollback`: they might refer to something the
rollback undid). So on pooled connections whose requests all end in ROLLBACK, no
statement is ever prepared — psycopg prepares one on its fifth run on a connection — and
the server plans every query of every request afresh: on the status check that was ~60 %
of the server's CPU per lookup (1.99 → 0.75 ms, measured in-process at a million members).

A transaction that only read ends with COMMIT instead, which leaves the data exactly as a
ROLLBACK would and keeps the prepared statements. "Only read" means both:

* no statement but SELECT (or SHOW) went to the database in it — `_note_writes` sees
  every statement SQLAlchemy sends, SAVEPOINTs included; the one statement sent around
  it, the import's COPY, fills a temporary table and is followed by INSERTs, which it
  sees — and
* the session holds no change it has not flushed (new, changed or deleted objects).

A SELECT's side effects are the same under either ending: `set_config(…, true)` and row
locks end with the transaction, sequences are not transactional. Anything else — a write
that nobody committed, an exception on the way out — is rolled back as before.
"""

from __future__ import annotations

import logging
import re

from flask import Flask
from sqlalchemy import event

from bungkesmas.extensions import db
from bungkesmas.tenancy import TenantSession

log = logging.getLogger(__name__)

WROTE = "bungkesmas.transaction_wrote"
_CONNECTION = "bungkesmas.transaction_connection"
_READS = re.compile(r"\s*(?:SELECT|SHOW)\b", re.IGNORECASE)


def install(app: Flask, engine) -> None:
    """For PostgreSQL (call after `db.init_app`: teardown functions run in reverse order
    of registration, so this one sees the session before Flask-SQLAlchemy removes it)."""
    if engine.dialect.name != "postgresql":
        return
    event.listen(engine, "begin", _transaction_begins)
    event.listen(engine, "before_cursor_execute", _note_writes)
    app.teardown_appcontext(_end_read_only)


def _transaction_begins(connection) -> None:
    connection.info.pop(WROTE, None)


def _note_writes(connection, _cursor, statement, _parameters, _context, _executemany) -> None:
    if not _READS.match(statement):
        connection.info[WROTE] = True


@event.listens_for(TenantSession, "after_begin")
def _session_connected(session, _transaction, connection) -> None:
    session.info[_CONNECTION] = connection


@event.listens_for(TenantSession, "after_transaction_end")
def _session_transaction_ends(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_CONNECTION, None)


def only_read(session) -> bool:
    """The session is in a transaction that went to the database and only read (see the
    module's docstring)."""
    connection = session.info.get(_CONNECTION)
    if connection is None or not session.in_transaction() or session.in_nested_transaction():
        return False
    if session.new or session.dirty or session.deleted:
        return False
    return not connection.info.get(WROTE, False)


def _end_read_only(exc: BaseException | None) -> None:
    if exc is not None or not db.session.registry.has():
        return
    session = db.session()
    try:
        if only_read(session):
            session.commit()
    except Exception:  # noqa: BLE001 — a failed COMMIT of reads: rolled back as before
        log.warning("ending a read-only transaction failed; rolled back", exc_info=True)
        session.rollback()
