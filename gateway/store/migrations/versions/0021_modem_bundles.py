"""each SIM's monthly bundle of SMS: its size, what was used of it, and when it renews

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('modems') as batch:
        batch.add_column(sa.Column('bundle_size', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('bundle_used', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('bundle_resets_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('modems') as batch:
        batch.drop_column('bundle_resets_at')
        batch.drop_column('bundle_used')
        batch.drop_column('bundle_size')
