"""routing, scheduling, validity, quiet hours and rate limits (issue 7, part 1)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('route_group', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('modems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group', sa.String(length=64), nullable=True))
    op.create_index('ix_inbox_sender', 'inbox', ['sender', 'id'], unique=False)
    op.create_table('api_request_windows',
    sa.Column('api_key_id', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.DateTime(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name='fk_api_request_windows_api_key_id',
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('api_key_id', 'window_start', name='pk_api_request_windows')
    )


def downgrade() -> None:
    op.drop_table('api_request_windows')
    op.drop_index('ix_inbox_sender', table_name='inbox')
    with op.batch_alter_table('modems', schema=None) as batch_op:
        batch_op.drop_column('group')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('route_group')
