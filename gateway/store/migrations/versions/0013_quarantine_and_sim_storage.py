"""stored SMS the box cannot decode or store are kept raw in quarantine; a modem's SIM storage use is recorded;
a received message knows how many parts its sender sent

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'quarantine',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uid', sa.String(length=32), nullable=False),
        sa.Column('modem', sa.String(length=64), nullable=False),
        sa.Column('memory', sa.String(length=8), nullable=False),
        sa.Column('slot', sa.Integer(), nullable=False),
        sa.Column('pdu', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.Column('dedup_key', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uid'),
        sa.UniqueConstraint('dedup_key'),
    )
    with op.batch_alter_table('modems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('storage_used', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('storage_total', sa.Integer(), nullable=True))
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parts_expected', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_column('parts_expected')
    with op.batch_alter_table('modems', schema=None) as batch_op:
        batch_op.drop_column('storage_total')
        batch_op.drop_column('storage_used')
    op.drop_table('quarantine')
