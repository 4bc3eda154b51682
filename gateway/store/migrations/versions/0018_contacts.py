"""contacts and contact groups; inbound rules that match a sender's group and change a group

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'contacts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uid', sa.String(length=32), nullable=False),
        sa.Column('number', sa.String(length=128), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('fields', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uid'),
        sa.UniqueConstraint('number'),
    )
    op.create_table(
        'contact_groups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uid', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uid'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'group_members',
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('added_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['group_id'], ['contact_groups.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('group_id', 'contact_id'),
    )
    op.create_index('ix_group_members_contact', 'group_members', ['contact_id'])
    with op.batch_alter_table('inbound_rules') as batch:
        batch.add_column(sa.Column('sender_groups', sa.Text(), nullable=False, server_default=''))
        batch.add_column(sa.Column('add_to_group', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('remove_from_group', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbound_rules') as batch:
        batch.drop_column('remove_from_group')
        batch.drop_column('add_to_group')
        batch.drop_column('sender_groups')
    op.drop_index('ix_group_members_contact', 'group_members')
    op.drop_table('group_members')
    op.drop_table('contact_groups')
    op.drop_table('contacts')
