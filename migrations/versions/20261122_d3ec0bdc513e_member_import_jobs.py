"""member import jobs: progress of background checks and imports

Revision ID: d3ec0bdc513e
Revises: 2cbc0d98bb86
Create Date: 2026-11-22 18:23:02.559177
"""

import sqlalchemy as sa
from alembic import op

revision = 'd3ec0bdc513e'
down_revision = '2cbc0d98bb86'
branch_labels = None
depends_on = None

BEFORE = ('uploaded', 'previewed', 'committed', 'failed')
AFTER = ('uploaded', 'checking', 'previewed', 'importing', 'committed', 'failed', 'rejected')


def _status_check(values):
    return "status IN ({})".format(", ".join(f"'{v}'" for v in values))


def upgrade():
    with op.batch_alter_table('member_imports', schema=None) as batch_op:
        # The job record's columns; existing imports have no job.
        batch_op.add_column(sa.Column('job_token', sa.String(length=32), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('job_actor_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('job_locale', sa.String(length=8), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('confirm_when_clean', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('progress_done', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('progress_total', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('job_started_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('job_heartbeat_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('job_finished_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_member_imports_job_actor_id_users'),
                                    'users', ['job_actor_id'], ['id'])
        # The statuses of a background job: checking, importing, rejected.
        batch_op.drop_constraint(op.f('ck_member_imports_import_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_member_imports_import_status'),
                                         sa.text(_status_check(AFTER)))
    # The defaults served the existing rows; the application sets every value itself.
    with op.batch_alter_table('member_imports', schema=None) as batch_op:
        for column in ('job_token', 'job_locale', 'confirm_when_clean', 'progress_done'):
            batch_op.alter_column(column, server_default=None)


def downgrade():
    op.execute("UPDATE member_imports SET status = 'uploaded' WHERE status IN "
               "('checking', 'rejected')")
    op.execute("UPDATE member_imports SET status = 'failed' WHERE status = 'importing'")
    with op.batch_alter_table('member_imports', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_member_imports_import_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_member_imports_import_status'),
                                         sa.text(_status_check(BEFORE)))
        batch_op.drop_constraint(batch_op.f('fk_member_imports_job_actor_id_users'),
                                 type_='foreignkey')
        batch_op.drop_column('job_finished_at')
        batch_op.drop_column('job_heartbeat_at')
        batch_op.drop_column('job_started_at')
        batch_op.drop_column('progress_total')
        batch_op.drop_column('progress_done')
        batch_op.drop_column('confirm_when_clean')
        batch_op.drop_column('job_locale')
        batch_op.drop_column('job_actor_id')
        batch_op.drop_column('job_token')
