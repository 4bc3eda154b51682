"""the account whose book a contact or a contact group is in (null: the box's own book): a number is a contact, and
a name a group, once in each book

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

# 0018 left its unique constraints unnamed: PostgreSQL named them so, and SQLite's copy of the table names them alike
UNNAMED = {"uq": "%(table_name)s_%(column_0_name)s_key"}
IN_THE_BOX = sa.text('account_id IS NULL')
IN_AN_ACCOUNT = sa.text('account_id IS NOT NULL')


def upgrade() -> None:
    with op.batch_alter_table('contacts', naming_convention=UNNAMED) as batch:
        batch.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
        batch.drop_constraint('contacts_number_key', type_='unique')
        batch.create_index('ix_contacts_box_number', ['number'], unique=True, sqlite_where=IN_THE_BOX,
                           postgresql_where=IN_THE_BOX)
        batch.create_index('ix_contacts_account_number', ['account_id', 'number'], unique=True,
                           sqlite_where=IN_AN_ACCOUNT, postgresql_where=IN_AN_ACCOUNT)
    with op.batch_alter_table('contact_groups', naming_convention=UNNAMED) as batch:
        batch.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
        batch.drop_constraint('contact_groups_name_key', type_='unique')
        batch.create_index('ix_contact_groups_box_name', ['name'], unique=True, sqlite_where=IN_THE_BOX,
                           postgresql_where=IN_THE_BOX)
        batch.create_index('ix_contact_groups_account_name', ['account_id', 'name'], unique=True,
                           sqlite_where=IN_AN_ACCOUNT, postgresql_where=IN_AN_ACCOUNT)


def downgrade() -> None:
    """Back to one book: fails while two accounts hold the same number or group name."""
    with op.batch_alter_table('contact_groups') as batch:
        batch.drop_index('ix_contact_groups_account_name')
        batch.drop_index('ix_contact_groups_box_name')
        batch.create_unique_constraint('contact_groups_name_key', ['name'])
        batch.drop_column('account_id')
    with op.batch_alter_table('contacts') as batch:
        batch.drop_index('ix_contacts_account_number')
        batch.drop_index('ix_contacts_box_number')
        batch.create_unique_constraint('contacts_number_key', ['number'])
        batch.drop_column('account_id')
