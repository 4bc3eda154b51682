"""a user's second login step: the sealed TOTP secret of their authenticator app, and the last time step a code
was accepted for (a code opens one login only)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('totp_secret', sa.Text(), nullable=True))
        batch.add_column(sa.Column('totp_step', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('totp_step')
        batch.drop_column('totp_secret')
