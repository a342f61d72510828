"""Claims: the digests that registrations in progress are storing, which gc keeps.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``satchel_claims``."""
    op.create_table(
        "satchel_claims",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_satchel_claims_digest", "satchel_claims", ["digest"])


def downgrade() -> None:
    """Drop ``satchel_claims``."""
    op.drop_index("ix_satchel_claims_digest", table_name="satchel_claims")
    op.drop_table("satchel_claims")
