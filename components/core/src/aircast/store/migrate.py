"""Schema migrations (alembic, shipped inside the package) for the aircast database."""

from __future__ import annotations

import re
from pathlib import Path

from aircast.settings import DatabaseSettings

MIGRATIONS = Path(__file__).parent / "migrations"
_ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def sqlalchemy_url(conninfo: str) -> str:
    """The SQLAlchemy (psycopg 3) spelling of a libpq ``postgresql://`` URL."""
    for prefix in ("postgresql://", "postgres://"):
        if conninfo.startswith(prefix):
            return "postgresql+psycopg://" + conninfo[len(prefix) :]
    if conninfo.startswith("postgresql+"):
        return conninfo
    raise ValueError(f"not a PostgreSQL URL: {conninfo.split('@')[-1]!r}")


def _config(conninfo: str, reader_role: str | None) -> object:
    from alembic.config import Config

    role = reader_role or DatabaseSettings().database_reader_role
    if not _ROLE.match(role):
        raise ValueError(f"database reader role {role!r} is not a plain SQL identifier")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would choke on '%' in URL-encoded passwords.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(conninfo).replace("%", "%%"))
    config.attributes["reader_role"] = role
    return config


def upgrade(conninfo: str, revision: str = "head", *, reader_role: str | None = None) -> None:
    """Bring the database at ``conninfo`` to ``revision`` (default: the newest schema).

    Safe to call on every run and from several processes at once (an advisory lock serialises
    the DDL). ``reader_role`` (default ``AIRCAST_DATABASE_READER_ROLE``) is granted SELECT when
    it exists.
    """
    import psycopg
    from alembic import command

    # Fail on an unreachable database with psycopg's own error, not one wrapped by SQLAlchemy.
    psycopg.connect(conninfo, connect_timeout=10).close()
    command.upgrade(_config(conninfo, reader_role), revision)


def downgrade(conninfo: str, revision: str = "base") -> None:
    """Undo migrations down to ``revision`` (default: drop everything aircast created)."""
    from alembic import command

    command.downgrade(_config(conninfo, None), revision)


def current_revision(conninfo: str) -> str | None:
    """The revision the database is at, or None before the first migration."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        exists = conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()
        if not exists or exists[0] is None:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(row[0]) if row else None
