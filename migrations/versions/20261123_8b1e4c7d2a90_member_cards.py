"""member cards: a card version per member, bumped to revoke the cards printed before

Revision ID: 8b1e4c7d2a90
Revises: c97e90460d32
Create Date: 2026-11-23 09:00:00

The QR code on a member card carries a signed token bound to the member and this
version (bungkesmas.selfservice.services); a transfer or an explicit revocation adds one,
and every card printed before stops working.
"""

import sqlalchemy as sa
from alembic import op

revision = '8b1e4c7d2a90'
down_revision = 'c97e90460d32'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_version', sa.Integer(), server_default='1',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('card_version')
