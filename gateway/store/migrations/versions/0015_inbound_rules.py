"""inbound rules run on each received SMS, their history, and the follow-up flag on received SMS

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inbound_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uid', sa.String(length=32), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('stop', sa.Boolean(), nullable=False),
        sa.Column('keyword', sa.String(length=64), nullable=True),
        sa.Column('pattern', sa.String(length=500), nullable=True),
        sa.Column('senders', sa.Text(), nullable=False),
        sa.Column('modem', sa.String(length=64), nullable=True),
        sa.Column('hours', sa.String(length=16), nullable=True),
        sa.Column('time_zone', sa.String(length=64), nullable=False),
        sa.Column('reply', sa.Text(), nullable=True),
        sa.Column('forward_to', sa.Text(), nullable=False),
        sa.Column('forward_text', sa.Text(), nullable=True),
        sa.Column('email_to', sa.Text(), nullable=False),
        sa.Column('webhook_url', sa.String(length=2048), nullable=True),
        sa.Column('follow_up', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uid'),
    )
    op.create_table(
        'rule_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_uid', sa.String(length=32), nullable=False),
        sa.Column('inbox_id', sa.Integer(), nullable=False),
        sa.Column('sender', sa.String(length=128), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('replied', sa.Boolean(), nullable=False),
        sa.Column('outcome', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['inbox_id'], ['inbox.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_rule_runs_at', 'rule_runs', ['at'])
    with op.batch_alter_table('inbox') as batch:
        batch.add_column(sa.Column('follow_up', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('inbox') as batch:
        batch.drop_column('follow_up')
    op.drop_index('ix_rule_runs_at', 'rule_runs')
    op.drop_table('rule_runs')
    op.drop_table('inbound_rules')
