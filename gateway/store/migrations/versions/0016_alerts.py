"""alerts raised and resolved, with their history and mutes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'alerts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uid', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=160), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('subject', sa.String(length=128), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('raised_at', sa.DateTime(), nullable=False),
        sa.Column('resolved_at', sa.DateTime(), nullable=True),
        sa.Column('muted_until', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uid'),
    )
    op.create_index('ix_alerts_key_open', 'alerts', ['key', 'resolved_at'])


def downgrade() -> None:
    op.drop_index('ix_alerts_key_open', 'alerts')
    op.drop_table('alerts')
