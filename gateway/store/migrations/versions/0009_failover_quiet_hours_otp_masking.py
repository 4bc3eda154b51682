"""failover after enqueue, quiet hours at claim, one-time codes masked once sent (issue 7, gaps)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fallback_group', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('quiet_hours', sa.String(length=11), nullable=True))
    with op.batch_alter_table('parts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('masked_text', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('parts', schema=None) as batch_op:
        batch_op.drop_column('masked_text')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('quiet_hours')
        batch_op.drop_column('fallback_group')
