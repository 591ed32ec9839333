"""search speed: byte-order member name keys, RLS settings read once per query

Revision ID: 5f3c2a9d41e7
Revises: db36885f0870
Create Date: 2026-11-22 18:45:00

PostgreSQL only (SQLite compares bytes already and has no RLS):
- members.name_key gets the "C" collation, so the (tenant_id, name_key) index answers
  name-prefix ranges in byte order whatever the database's default locale;
- every tenant_isolation policy is rewritten with the settings read in sub-selects
  (evaluated once per query instead of once per row).
"""

from alembic import op
from sqlalchemy import text

revision = '5f3c2a9d41e7'
down_revision = 'db36885f0870'
branch_labels = None
depends_on = None

OLD_PREDICATE = (
    "current_setting('app.all_tenants', true) = 'on' OR tenant_id = ANY ("
    "string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ',')::integer[])"
)
NEW_PREDICATE = (
    "(SELECT current_setting('app.all_tenants', true)) = 'on' OR tenant_id = ANY (CAST((SELECT "
    "string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ',')) AS integer[]))"
)


def _policies(predicate):
    bind = op.get_bind()
    tables = bind.execute(text(
        "SELECT tablename FROM pg_policies WHERE schemaname = current_schema() "
        "AND policyname = 'tenant_isolation' ORDER BY tablename")).scalars().all()
    for table in tables:
        op.execute(f'ALTER POLICY tenant_isolation ON "{table}" '
                   f"USING ({predicate}) WITH CHECK ({predicate})")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute('ALTER TABLE members ALTER COLUMN name_key TYPE VARCHAR(200) COLLATE "C"')
    _policies(NEW_PREDICATE)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    _policies(OLD_PREDICATE)
    op.execute("ALTER TABLE members ALTER COLUMN name_key TYPE VARCHAR(200) "
               'COLLATE "default"')
