"""phone numbers sealed under the box key: their columns widen to hold the sealed form (bodies are TEXT already)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# (table, column, width before, nullable)
NUMBER_COLUMNS = [
    ('messages', 'to_number', 20, False),
    ('inbox', 'sender', 32, False),
    ('inbox', 'recipient', 32, True),
    ('inbound_parts', 'sender', 32, False),
    ('status_reports', 'recipient', 32, False),
    ('suppressions', 'number', 32, False),
    ('consent_events', 'number', 32, False),
    ('otp_codes', 'to_number', 20, False),
]


def _widen(to_sealed: bool) -> None:
    for table, column, width, nullable in NUMBER_COLUMNS:
        before, after = (width, 128) if to_sealed else (128, width)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(length=before), type_=sa.String(length=after),
                                  existing_nullable=nullable)


def upgrade() -> None:
    _widen(True)


def downgrade() -> None:
    _widen(False)
