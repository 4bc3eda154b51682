"""the account a template belongs to (null: shared by everyone): an account's people and keys use only its own and
the shared ones

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('templates') as batch:
        batch.add_column(sa.Column('account_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('templates') as batch:
        batch.drop_column('account_id')
