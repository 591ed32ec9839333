"""enrollments.last_paid_on: the day of the last payment not reversed, in the snapshot

Revision ID: 3f6d2b8e9a41
Revises: 7c2e5b9a13f4
Create Date: 2026-12-07 03:30:00

The coverage snapshot of an enrollment (first_funded_on … terms_funded), recomputed with
every money row of the enrollment (bungkesmas.contributions.services._allocate), now
also keeps the day of its last payment that was not reversed: the member's status check
shows it, and read from the snapshot it costs no walk over the ledger and its reversals
on every check. Existing enrollments get it from their rows here.
"""

import sqlalchemy as sa
from alembic import op

revision = '3f6d2b8e9a41'
down_revision = '7c2e5b9a13f4'
branch_labels = None
depends_on = None


# Each enrollment's last payment that no reversal points at (what
# contributions.services._allocate keeps from now on).
BACKFILL = """
    UPDATE enrollments SET last_paid_on = (
        SELECT max(l.received_on) FROM ledger_entries l
        WHERE l.tenant_id = enrollments.tenant_id AND l.enrollment_id = enrollments.id
          AND l.kind = 'payment'
          AND NOT EXISTS (SELECT 1 FROM ledger_entries r
                          WHERE r.tenant_id = l.tenant_id AND r.reverses_id = l.id))
    WHERE EXISTS (SELECT 1 FROM ledger_entries l
                  WHERE l.tenant_id = enrollments.tenant_id
                    AND l.enrollment_id = enrollments.id AND l.kind = 'payment')"""


def upgrade():
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_paid_on', sa.Date(), nullable=True))
    op.execute(BACKFILL)


def downgrade():
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_column('last_paid_on')
