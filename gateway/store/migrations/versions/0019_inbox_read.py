"""when a person read each received SMS (the conversations page's unread counts)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbox') as batch:
        batch.add_column(sa.Column('read_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbox') as batch:
        batch.drop_column('read_at')
