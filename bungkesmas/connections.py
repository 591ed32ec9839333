"""Checking pooled PostgreSQL connections before use: only those that sat idle.

SQLAlchemy's `pool_pre_ping` sends a ping on every checkout — one more round trip on
every request, about a sixth of a status check's database time. A connection given back
to the pool moments ago is as good as the ping would prove; the ones that can have died
unseen (a server restart, a firewall dropping idle sockets) are the ones that sat in the
pool. So a connection is pinged when it was last given back more than
`DB_PING_IDLE_SECONDS` ago (BUNGKESMAS_DB_PING_IDLE_SECONDS; 0 pings every checkout, as
`pool_pre_ping` does). A dead one is discarded and replaced before the request sees it
(the pool's checkout retry on DisconnectionError). A connection that dies while in
use, or within those seconds, fails its statement as it would with any pre-ping;
SQLAlchemy then invalidates the whole pool, so the next checkouts connect afresh.
"""

from __future__ import annotations

import time

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

_GIVEN_BACK = "bungkesmas.given_back_at"


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping the engine's pooled connections on checkout when they sat idle for more
    than `idle_seconds` (use with `pool_pre_ping` off)."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _given_back(_dbapi_connection, record) -> None:
        if record is not None:
            record.info[_GIVEN_BACK] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection, record, _proxy) -> None:
        given_back = record.info.get(_GIVEN_BACK)
        if given_back is None:  # new: it has just connected
            record.info[_GIVEN_BACK] = time.monotonic()
            return
        if time.monotonic() - given_back <= idle_seconds:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as err:  # noqa: BLE001 — whatever the driver raises, it is gone
            raise DisconnectionError("the pooled connection is gone") from err
        if alive is False:
            raise DisconnectionError("the pooled connection is gone")
