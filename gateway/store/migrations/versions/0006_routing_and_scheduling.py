"""routing, scheduling, validity, quiet hours and rate limits (issue 7, part 1)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa  # noqa: F401 - used once the revision has operations


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
