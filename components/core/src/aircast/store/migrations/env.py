"""Alembic environment: runs the aircast migrations on the connection given by the caller."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

config = context.config


def _run(connection: object) -> None:
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        # Two writers starting at once (Mage and a CLI run) must not race on the DDL.
        context.get_bind().execute(text("SELECT pg_advisory_xact_lock(4242001)"))
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
