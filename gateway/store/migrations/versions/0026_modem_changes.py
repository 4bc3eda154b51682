"""what an admin changed of a modem while the box runs, over its config: the name people see, its routing
group, its cost per SMS and its SIM plan's caps (null: as the config says)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('modems') as batch:
        batch.add_column(sa.Column('label', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('changed_group', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('changed_cost', sa.Double(), nullable=True))
        batch.add_column(sa.Column('changed_per_minute', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('changed_per_hour', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('modems') as batch:
        for column in ('changed_per_hour', 'changed_per_minute', 'changed_cost', 'changed_group', 'label'):
            batch.drop_column(column)
