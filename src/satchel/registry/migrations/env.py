"""alembic environment: migrations run on the connection the registry passes in."""

from alembic import context

from satchel.registry.database import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  version_table="satchel_alembic_version")
with context.begin_transaction():
    context.run_migrations()
