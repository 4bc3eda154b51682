"""modems: the box that runs each one, the SIM's own number and balance

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('modems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('box', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('own_number', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('balance', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('balance_checked_at', sa.DateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('modems', schema=None) as batch_op:
        batch_op.drop_column('balance_checked_at')
        batch_op.drop_column('balance')
        batch_op.drop_column('own_number')
        batch_op.drop_column('box')

