"""dynamic contact groups: the field and value whose contacts a group holds

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contact_groups') as batch:
        batch.add_column(sa.Column('match_field', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('match_value', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contact_groups') as batch:
        batch.drop_column('match_value')
        batch.drop_column('match_field')
