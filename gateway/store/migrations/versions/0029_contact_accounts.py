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


BOOKS = (('contacts', 'number'), ('contact_groups', 'name'))  # each table, and what is unique in a book


def upgrade() -> None:
    for table, column in BOOKS:
        with op.batch_alter_table(table, naming_convention=UNNAMED) as batch:
            batch.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
            batch.drop_constraint(f'{table}_{column}_key', type_='unique')
            batch.create_index(f'ix_{table}_box_{column}', [column], unique=True, sqlite_where=IN_THE_BOX,
                               postgresql_where=IN_THE_BOX)
            batch.create_index(f'ix_{table}_account_{column}', ['account_id', column], unique=True,
                               sqlite_where=IN_AN_ACCOUNT, postgresql_where=IN_AN_ACCOUNT)


def downgrade() -> None:
    """Back to one book: fails while two accounts hold the same number or group name."""
    for table, column in reversed(BOOKS):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f'ix_{table}_account_{column}')
            batch.drop_index(f'ix_{table}_box_{column}')
            batch.create_unique_constraint(f'{table}_{column}_key', [column])
            batch.drop_column('account_id')
