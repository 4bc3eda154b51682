"""what each row of `modems` is: a modem, or an upstream provider standing in for one

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('modems') as batch:
        batch.add_column(sa.Column('kind', sa.String(length=16), nullable=False, server_default='modem'))


def downgrade() -> None:
    with op.batch_alter_table('modems') as batch:
        batch.drop_column('kind')
