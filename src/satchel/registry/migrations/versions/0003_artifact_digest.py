"""Artifact digests: the digest each version's file is stored under.

A version whose column is NULL (registered before this revision) is stored under its
content digest.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``satchel_versions.file``."""
    with op.batch_alter_table("satchel_versions") as batch:
        batch.add_column(sa.Column("file", sa.String(80), nullable=True))
    op.create_index("ix_satchel_versions_file", "satchel_versions", ["file"])


def downgrade() -> None:
    """Drop ``satchel_versions.file``."""
    op.drop_index("ix_satchel_versions_file", table_name="satchel_versions")
    with op.batch_alter_table("satchel_versions") as batch:
        batch.drop_column("file")
