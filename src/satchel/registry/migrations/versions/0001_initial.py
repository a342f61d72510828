"""The initial registry schema: models, versions, aliases and the alias history.

Revision ID: 0001
Revises: none

The first revision creates the tables exactly as ``satchel.registry.database``
declares them; every later revision states its changes with explicit
operations, so that old databases upgrade step by step.
"""

from alembic import op

from satchel.registry.database import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table."""
    metadata.create_all(bind=op.get_bind())


def downgrade() -> None:
    """Drop every table."""
    metadata.drop_all(bind=op.get_bind())
