"""canary probes between the box's own SIMs, and the modems they found degraded

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'probes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=16), nullable=False),
        sa.Column('from_modem', sa.String(length=64), nullable=False),
        sa.Column('to_modem', sa.String(length=64), nullable=False),
        sa.Column('message_uid', sa.String(length=32), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=False),
        sa.Column('arrived_at', sa.DateTime(), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token'),
    )
    op.create_index('ix_probes_state', 'probes', ['state', 'sent_at'])
    with op.batch_alter_table('modems') as batch:
        batch.add_column(sa.Column('degraded_since', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('modems') as batch:
        batch.drop_column('degraded_since')
    op.drop_index('ix_probes_state', 'probes')
    op.drop_table('probes')
