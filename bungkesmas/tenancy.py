"""The current tenant and the automatic scoping of every query.

Every partner-owned model inherits `TenantOwned`. The session carries a `Scope`:

* `Scope.nobody()` (the default): partner-owned rows are invisible, inserts refused;
* `Scope.tenants(home, visible)`: a partner workspace or a partner API token — rows of
  the visible partners (the partner and its descendants) only; inserts are stamped with
  `home`;
* `Scope.everything()`: provider staff and operator commands, entered explicitly.

The ORM applies the scope to every SELECT, UPDATE and DELETE (`do_orm_execute` +
`with_loader_criteria`) and stamps or checks `tenant_id` before every flush, so a view
that forgets to filter is still safe. On PostgreSQL the same scope is written into the
transaction (`set_config(..., true)`, i.e. SET LOCAL) for the Row-Level Security
policies, the second wall.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from flask_sqlalchemy.session import Session as _FlaskSession
from sqlalchemy import ForeignKey, String, Uuid, cast, event, func, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, ORMExecuteState, mapped_column, with_loader_criteria
from sqlalchemy.pool import Pool

SCOPE_KEY = "bungkesmas.scope"


class TenantScopeError(RuntimeError):
    """A write outside the current scope: a programming error, never user input."""


@dataclass(frozen=True)
class Scope:
    kind: Literal["nobody", "tenants", "everything"]
    home: int | None = None
    visible: tuple[int, ...] = ()

    @classmethod
    def nobody(cls) -> Scope:
        return cls("nobody")

    @classmethod
    def tenants(cls, home: int, visible: Iterable[int] = ()) -> Scope:
        ids = tuple(sorted({home, *visible}))
        return cls("tenants", home, ids)

    @classmethod
    def everything(cls) -> Scope:
        return cls("everything")

    def allows(self, tenant_id: int | None) -> bool:
        return self.kind == "everything" or (tenant_id is not None and tenant_id in self.visible)


def new_id() -> uuid.UUID:
    """Return a time-ordered UUID (version 7 layout) for good index locality."""
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10))  # 74 of its 80 bits are used, one system call
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (random >> 62 & 0xFFF) << 64
    value |= 0b10 << 62
    value |= random & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def new_ids(count: int) -> list[uuid.UUID]:
    """`count` ids as `new_id` makes them, with one clock reading and one system call for
    all of their random bits (bulk writes: a system call each cost as much as the rest)."""
    return [uuid.UUID(int=value) for value in new_id_values(count)]


def new_id_values(count: int) -> list[int]:
    """The 128-bit values of `new_ids` (for bulk writes that format them themselves)."""
    head = (((time.time_ns() // 1_000_000) & ((1 << 48) - 1)) << 80) | 0x7 << 76 | 0b10 << 62
    random = os.urandom(10 * count)
    from_bytes, low = int.from_bytes, (1 << 62) - 1
    return [head | (bits >> 62 & 0xFFF) << 64 | bits & low
            for bits in (from_bytes(random[i:i + 10]) for i in range(0, 10 * count, 10))]


class TenantOwned:
    """Mixin for every partner-owned table: primary key (tenant_id, id)."""

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="RESTRICT"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)


class TenantSession(_FlaskSession):
    """The application's session class; the listeners below are bound to it."""


def current_scope(session=None) -> Scope:
    session = session if session is not None else _db_session()
    return session.info.get(SCOPE_KEY) or Scope.nobody()


def activate(scope: Scope, session=None) -> None:
    """Make `scope` the session's scope, also inside a transaction already begun."""
    session = session if session is not None else _db_session()
    # Objects already in the identity map stay: every query still goes to the database
    # with the new criteria, and identity lookups need the full (tenant_id, id) key.
    # Expunging them here would silently drop pending changes to them.
    session.info[SCOPE_KEY] = scope
    if session.in_transaction():
        _apply_to_connection(session.connection(), scope)  # unless it holds it already


@contextmanager
def scoped(scope: Scope, session=None) -> Iterator[Scope]:
    """Run a block under `scope`, restoring the previous scope afterwards."""
    session = session if session is not None else _db_session()
    previous = current_scope(session)
    activate(scope, session)
    try:
        yield scope
    finally:
        activate(previous, session)


def everything(session=None):
    """Cross-tenant block for provider functions, sign-in and operator commands."""
    return scoped(Scope.everything(), session)


def enter_workspace(partner_id: int, session=None, *, has_children: bool = True) -> Scope:
    """Scope the session to a partner and its descendants (a parent sees its children).
    `has_children=False` (the caller knows the partner has none) saves the query for
    them."""
    from bungkesmas.partners.services import descendant_ids

    session = session if session is not None else _db_session()
    # `partners` is a global table (no tenant criteria, no RLS): no scope switch needed,
    # which on PostgreSQL would cost two set_config round trips.
    visible = descendant_ids(partner_id) if has_children else []
    scope = Scope.tenants(partner_id, visible)
    activate(scope, session)
    return scope


def _db_session():
    from bungkesmas.extensions import db

    return db.session()


# --- the ORM wall ---------------------------------------------------------------------


@event.listens_for(TenantSession, "do_orm_execute")
def _filter_queries(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    # Relationship and column loads inherit the criteria from the parent statement.
    if state.is_column_load or state.is_relationship_load:
        return
    scope = current_scope(state.session)
    if scope.kind == "everything":
        return
    state.statement = state.statement.options(_tenant_criteria(scope.visible))


@lru_cache(maxsize=16_384)  # one entry per workspace in use: room for 7,000 partners and more
def _tenant_criteria(visible: tuple[int, ...]):
    """The loader criteria of one set of visible tenants, built once per set (building
    it costs more than compiling the statement it is added to). `visible` is bound as an
    expanding parameter, so the compiled statements are shared by every set."""
    return with_loader_criteria(
        TenantOwned,
        lambda cls: cls.tenant_id.in_(visible),
        include_aliases=True,
    )


@event.listens_for(TenantSession, "before_flush")
def _stamp_and_check_writes(session, flush_context, instances) -> None:
    scope = current_scope(session)
    for obj in session.new:
        if not isinstance(obj, TenantOwned):
            continue
        if obj.tenant_id is None:
            if scope.home is None:
                raise TenantScopeError(f"No tenant to stamp on a new {type(obj).__name__}")
            obj.tenant_id = scope.home
        if not scope.allows(obj.tenant_id):
            raise TenantScopeError(f"Insert of {type(obj).__name__} outside the scope")
    for obj in list(session.dirty) + list(session.deleted):
        if not isinstance(obj, TenantOwned):
            continue
        history = inspect(obj).attrs.tenant_id.history
        if history.has_changes() and scope.kind != "everything":
            raise TenantScopeError("Only provider functions move rows between tenants")
        if not scope.allows(obj.tenant_id):
            raise TenantScopeError(f"Write to {type(obj).__name__} outside the scope")


# --- the database wall (PostgreSQL Row-Level Security) ---------------------------------


@event.listens_for(TenantSession, "after_begin")
def _scope_transaction(session, transaction, connection) -> None:
    _apply_to_connection(connection, current_scope(session))


def scope_connection(connection, scope: Scope) -> None:
    """Write `scope` into the transaction of a connection used outside the session (a
    background job's short side transaction): Row-Level Security on PostgreSQL."""
    _apply_to_connection(connection, scope, force=True)


def scope_columns(tenant_column) -> tuple:
    """Columns that, selected by a PostgreSQL statement, write the selected row's partner
    (`tenant_column`) into the transaction as its scope — the settings `scope_connection`
    writes, without a round trip of their own. A row is scoped only if it is computed;
    what the statement reads under that scope must come after it (the status lookup:
    `selfservice.services._statements`). The connection's record of its scope
    (`_APPLIED_KEY`) does not know of it: use it where the transaction ends with the
    statement (autocommit)."""
    return (func.set_config("app.tenant_ids", cast(tenant_column, String), True).label(
                "scoped_tenants"),
            func.set_config("app.all_tenants", "off", True).label("scoped_all"))


# The scope last written into the connection's current transaction, kept in the DBAPI
# connection's `info` so that switching back and forth (a provider lookup inside a
# workspace request) and scopes that are already in force cost no round trip. The
# settings are transaction-local (set_config(..., true)): when a transaction ends they
# are gone, which is the `nobody` scope (no setting: the policies let nothing through).
_APPLIED_KEY = "bungkesmas.scope_applied"


@event.listens_for(Engine, "begin")
@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _transaction_bounds(connection) -> None:
    # A transaction begins, and ends, with no setting in force: `nobody`. So a request's
    # first statement (in the `nobody` scope every request starts with) needs no write.
    # (A connection lost and discarded in its transaction has no settings, and no `info`
    # to write them to until it is rolled back: the rollback that ends it comes here.)
    if connection.invalidated:
        return
    connection.info[_APPLIED_KEY] = Scope.nobody()


@event.listens_for(Engine, "rollback_savepoint")
def _savepoint_rolled_back(connection, _name, _context) -> None:
    # The settings go back to what they were when the savepoint began: unknown here, so
    # the next `activate` writes its scope whatever it is.
    connection.info.pop(_APPLIED_KEY, None)


@event.listens_for(Pool, "checkin")
def _connection_returned(_dbapi_connection, record) -> None:
    if record is not None:
        record.info.pop(_APPLIED_KEY, None)


@event.listens_for(Pool, "reset")
def _connection_reset(_dbapi_connection, record, _reset_state) -> None:
    _connection_returned(_dbapi_connection, record)


def _apply_to_connection(connection, scope: Scope, force: bool = False) -> None:
    if connection.dialect.name != "postgresql":
        return
    if not force and connection.info.get(_APPLIED_KEY) == scope:
        return
    connection.info.pop(_APPLIED_KEY, None)
    connection.execute(
        text(
            "SELECT set_config('app.tenant_ids', :ids, true),"
            " set_config('app.all_tenants', :all, true)"
        ),
        {
            "ids": ",".join(str(i) for i in scope.visible),
            "all": "on" if scope.kind == "everything" else "off",
        },
    )
    connection.info[_APPLIED_KEY] = scope


# The settings are read in sub-selects so PostgreSQL evaluates them once per query (as
# InitPlans), not once per row: the difference between 20 ms and 500 ms on a partner with
# 200,000 members.
RLS_PREDICATE = (
    "(SELECT current_setting('app.all_tenants', true)) = 'on' OR tenant_id = ANY (CAST((SELECT "
    "string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ',')) AS integer[]))"
)


def enable_rls(op, table: str) -> None:
    """Migration helper: turn on and force Row-Level Security for a partner-owned table."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING ({RLS_PREDICATE}) WITH CHECK ({RLS_PREDICATE})"
    )


def switch_to_app_role(dbapi_connection, role: str) -> None:
    """Pool hook: drop the login role's privileges so RLS always applies."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f'SET ROLE "{role}"')
    cursor.close()
    # Commit, or the pool's reset-on-return rollback would undo the SET.
    dbapi_connection.commit()


def grant_app_role(op, append_only: tuple[str, ...] = ()) -> None:
    """Migration helper: create the application role (no BYPASSRLS) and grant it the
    data privileges it needs — and no UPDATE or DELETE on append-only tables."""
    if op.get_bind().dialect.name != "postgresql":
        return
    config = getattr(op.get_context(), "config", None)
    role = (config.attributes.get("app_role") if config is not None else None) or "bungkesmas_app"
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
            CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        END $$""")
    # Tables an earlier migration made append-only (readable, not updatable) stay so: the
    # blanket GRANT below would otherwise hand UPDATE and DELETE back.
    earlier = op.get_bind().execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') "
        "AND has_table_privilege(:role, c.oid, 'SELECT') "
        "AND NOT has_table_privilege(:role, c.oid, 'UPDATE')"), {"role": role}).scalars().all()
    op.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
    op.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    op.execute(f'REVOKE ALL ON alembic_version FROM "{role}"')
    for table in sorted(set(append_only) | set(earlier)):
        op.execute(f'REVOKE UPDATE, DELETE ON "{table}" FROM "{role}"')
