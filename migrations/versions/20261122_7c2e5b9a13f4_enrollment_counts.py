"""enrollment counts: members by coverage status without reading every enrollment

Revision ID: 7c2e5b9a13f4
Revises: 8b1e4c7d2a90
Create Date: 2026-11-22 21:40:00.000000

`enrollment_counts` (bungkesmas.contributions.models.EnrollmentCount) is kept by
triggers on `enrollments`: row triggers on SQLite, statement triggers with transition
tables on PostgreSQL (one grouped upsert per statement, so a COPY or a bulk insert of
enrollments costs one statement, not one per row). The existing enrollments are counted
once here.
"""

import sqlalchemy as sa
from alembic import op

from bungkesmas.tenancy import grant_app_role

revision = '7c2e5b9a13f4'
down_revision = '8b1e4c7d2a90'
branch_labels = None
depends_on = None

# The snapshot columns whose change moves an enrollment between counts.
COUNTED = ("tenant_id", "status", "enrolled_at", "cancelled_at", "waiting_until",
           "covered_until", "grace_until")


def _days(dialect: str) -> dict[str, str]:
    """SQL for W' (end of waiting or cover, whichever is later), G' (and grace) and the
    days of the undated kinds, over a relation `r` with the COUNTED columns."""
    if dialect == "postgresql":
        return {
            "covered": "GREATEST(r.waiting_until, r.covered_until)",
            "grace": "GREATEST(r.waiting_until, r.covered_until, r.grace_until)",
            "enrolled": "CAST(date_trunc('month', r.enrolled_at) AS date)",
            "cancelled": "CAST(date_trunc('month', COALESCE(r.cancelled_at, r.enrolled_at)) AS date)",
            "month": "CAST(date_trunc('month', {}) AS date)",
        }
    # SQLite: dates are ISO text, so max() orders them; max() of a NULL is NULL, hence
    # the COALESCEs (covered_until is never NULL where these are used).
    w = "COALESCE(r.waiting_until, r.covered_until)"
    return {
        "covered": f"max({w}, r.covered_until)",
        "grace": f"max({w}, r.covered_until, COALESCE(r.grace_until, r.covered_until))",
        "enrolled": "date(r.enrolled_at, 'start of month')",
        "cancelled": "date(COALESCE(r.cancelled_at, r.enrolled_at), 'start of month')",
        "month": "date({}, 'start of month')",
    }


def count_sql(dialect: str, source: str) -> str:
    """INSERT … ON CONFLICT adding the rows of `source` (the COUNTED columns and `sign`,
    +1 or -1) to enrollment_counts; rows that cancel out write nothing."""
    d = _days(dialect)
    open_ = "r.status <> 'cancelled'"
    funded = f"{open_} AND r.covered_until IS NOT NULL"
    month = d["month"]
    waiting = f"{funded} AND r.waiting_until IS NOT NULL"
    branches = [
        ("cancelled", d["cancelled"], "r.status = 'cancelled'"),
        ("pending", d["enrolled"], f"{open_} AND r.covered_until IS NULL"),
        ("funded", d["enrolled"], funded),
        ("waiting", "r.waiting_until", waiting),
        ("covered", d["covered"], funded),
        ("grace", d["grace"], funded),
        # The same days by month: the count reads days only within today's month.
        ("waiting_m", month.format("r.waiting_until"), waiting),
        ("covered_m", month.format(d["covered"]), funded),
        ("grace_m", month.format(d["grace"]), funded),
    ]
    union = " UNION ALL ".join(
        f"SELECT '{kind}' AS kind, {day} AS day, r.tenant_id AS partner_id, r.sign AS n "
        f"FROM ({source}) AS r WHERE {cond}" for kind, day, cond in branches)
    # WHERE true: SQLite's parser needs it before an upsert's ON CONFLICT. The ORDER BY
    # makes concurrent transactions lock the rows in one order.
    return (
        "INSERT INTO enrollment_counts (kind, day, partner_id, enrollments) "
        f"SELECT kind, day, partner_id, sum(n) FROM ({union}) AS d WHERE true "
        "GROUP BY kind, day, partner_id HAVING sum(n) <> 0 ORDER BY kind, day, partner_id "
        "ON CONFLICT (kind, day, partner_id) DO UPDATE "
        "SET enrollments = enrollment_counts.enrollments + excluded.enrollments")


def _row(prefix: str, sign: int) -> str:
    columns = ", ".join(f"{prefix}.{c} AS {c}" for c in COUNTED)
    return f"SELECT {columns}, {sign} AS sign"


def _table(name: str, sign: int) -> str:
    return f"SELECT {', '.join(COUNTED)}, {sign} AS sign FROM {name}"


def upgrade():
    op.create_table('enrollment_counts',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('enrollments', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_enrollment_counts_partner_id_partners')),
    sa.PrimaryKeyConstraint('kind', 'day', 'partner_id', name=op.f('pk_enrollment_counts')),
    sqlite_with_rowid=False,  # the key's b-tree holds the counts: one range scan
    )
    dialect = op.get_bind().dialect.name
    # The enrollments there are now (a kept database upgraded in place).
    op.execute(count_sql(dialect, _table("enrollments", 1)))
    if dialect == "postgresql":
        op.execute(f"""
            CREATE FUNCTION enrollment_counts_keep() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'INSERT' THEN
                {count_sql(dialect, _table("new_rows", 1))};
              ELSIF TG_OP = 'DELETE' THEN
                {count_sql(dialect, _table("old_rows", -1))};
              ELSE
                {count_sql(dialect, _table("old_rows", -1) + " UNION ALL "
                           + _table("new_rows", 1))};
              END IF;
              RETURN NULL;
            END $$""")
        # (PostgreSQL allows no column list on triggers with transition tables: every
        # UPDATE statement runs it; one that changes no counted column writes nothing.)
        for event, tables in (("INSERT", "NEW TABLE AS new_rows"),
                              ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                              ("DELETE", "OLD TABLE AS old_rows")):
            op.execute(f"""
                CREATE TRIGGER enrollment_counts_{event.lower()} AFTER {event} ON enrollments
                REFERENCING {tables} FOR EACH STATEMENT
                EXECUTE FUNCTION enrollment_counts_keep()""")
    else:
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COUNTED)
        # A new enrollment is nearly always pending (an enrollment page, an import of
        # thousands): one plain upsert for it, the general statement for the rest.
        pending = "NEW.status <> 'cancelled' AND NEW.covered_until IS NULL"
        op.execute(f"""
            CREATE TRIGGER enrollment_counts_insert_pending AFTER INSERT ON enrollments
            WHEN {pending}
            BEGIN
              INSERT INTO enrollment_counts (kind, day, partner_id, enrollments)
              VALUES ('pending', date(NEW.enrolled_at, 'start of month'), NEW.tenant_id, 1)
              ON CONFLICT (kind, day, partner_id) DO UPDATE
              SET enrollments = enrollment_counts.enrollments + 1;
            END""")
        op.execute(f"""
            CREATE TRIGGER enrollment_counts_insert AFTER INSERT ON enrollments
            WHEN NOT ({pending})
            BEGIN {count_sql(dialect, _row("NEW", 1))}; END""")
        op.execute(f"""
            CREATE TRIGGER enrollment_counts_update AFTER UPDATE OF {", ".join(COUNTED)}
            ON enrollments WHEN {changed}
            BEGIN {count_sql(dialect, _row("OLD", -1) + " UNION ALL " + _row("NEW", 1))}; END""")
        op.execute(f"""
            CREATE TRIGGER enrollment_counts_delete AFTER DELETE ON enrollments
            BEGIN {count_sql(dialect, _row("OLD", -1))}; END""")
    grant_app_role(op)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS enrollment_counts_{event} ON enrollments")
        op.execute("DROP FUNCTION IF EXISTS enrollment_counts_keep()")
    else:
        for event in ("insert_pending", "insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS enrollment_counts_{event}")
    op.drop_table('enrollment_counts')
