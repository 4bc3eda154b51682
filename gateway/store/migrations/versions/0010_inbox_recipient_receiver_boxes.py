"""the receiving SIM's number on received SMS, the boxes whose config names a receiver, events found by subject

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient', sa.String(length=32), nullable=True))
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('config_boxes', sa.Text(), nullable=True))
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_subject', ['subject'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_subject')
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.drop_column('config_boxes')
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_column('recipient')
