"""templates, opt-outs, OTP, idempotency and batches (issue 7, part 2)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa  # noqa: F401 - used once the revision has operations


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
