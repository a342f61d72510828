"""The initial registry schema: models, versions, aliases and the alias history.

Revision ID: 0001
Revises: none

Each revision states its tables and changes with explicit operations, so that a
database upgrades step by step to what ``satchel.registry.database`` declares.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: The tables of this revision (later revisions add theirs themselves).
TABLES = ("satchel_models", "satchel_versions", "satchel_aliases", "satchel_alias_history")


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Create the first revision's tables."""
    op.create_table(
        "satchel_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        _time("created_at"),
    )
    op.create_table(
        "satchel_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("satchel_models.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        *(sa.Column(name, sa.JSON, nullable=False)
          for name in ("tags", "metrics", "params", "lineage", "artifact")),
        _time("created_at"),
        sa.UniqueConstraint("model_id", "version", name="uq_satchel_versions_model_version"),
    )
    op.create_index("ix_satchel_versions_digest", "satchel_versions", ["digest"])
    op.create_table(
        "satchel_aliases",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("satchel_models.id"), primary_key=True),
        sa.Column("alias", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        _time("updated_at"),
    )
    op.create_table(
        "satchel_alias_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("satchel_models.id"), nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("previous", sa.Integer, nullable=True),
        _time("at"),
    )


def downgrade() -> None:
    """Drop the first revision's tables."""
    for name in reversed(TABLES):
        op.drop_table(name)
