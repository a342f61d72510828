"""The initial registry schema: models, versions, aliases and the alias history.

Revision ID: 0001
Revises: none

The first revision creates its four tables exactly as
``satchel.registry.database`` declares them; every later revision states its
changes with explicit operations, so that old databases upgrade step by step.
"""

from alembic import op

from satchel.registry.database import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


#: The tables of this revision (later revisions add theirs themselves).
TABLES = ("satchel_models", "satchel_versions", "satchel_aliases", "satchel_alias_history")


def upgrade() -> None:
    """Create the first revision's tables."""
    metadata.create_all(bind=op.get_bind(), tables=[metadata.tables[n] for n in TABLES])


def downgrade() -> None:
    """Drop the first revision's tables."""
    metadata.drop_all(bind=op.get_bind(), tables=[metadata.tables[n] for n in TABLES])
