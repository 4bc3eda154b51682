"""accounts (departments) with quotas and routes; the keys, users and messages that count against them, and
what each uses by day

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'accounts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(length=64), nullable=False, unique=True),
        sa.Column('per_day', sa.Integer(), nullable=True),
        sa.Column('per_month', sa.Integer(), nullable=True),
        sa.Column('budget', sa.Double(), nullable=True),
        sa.Column('routes', sa.String(length=512), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('cost', sa.Double(), nullable=True))
    op.create_table(
        'account_days',
        sa.Column('account_id', sa.Integer(), primary_key=True),
        sa.Column('day', sa.DateTime(), primary_key=True),
        sa.Column('parts', sa.Integer(), nullable=False),
        sa.Column('cost', sa.Double(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('account_days')
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('cost')
        batch.drop_column('account_id')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('account_id')
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('account_id')
    op.drop_table('accounts')
