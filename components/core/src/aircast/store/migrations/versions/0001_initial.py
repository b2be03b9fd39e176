"""Initial schema: locations, sensors, measurements, watermarks, rejected measurements.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = ("locations", "sensors", "measurements", "ingest_watermarks", "rejected_measurements")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE locations (
            location_id     bigint PRIMARY KEY,
            name            text NOT NULL,
            locality        text,
            timezone        text NOT NULL,
            country         text,
            latitude        double precision,
            longitude       double precision,
            provider        text,
            owner           text,
            license         text,
            attribution     text,
            attribution_url text,
            is_monitor      boolean NOT NULL DEFAULT true,
            is_synthetic    boolean NOT NULL DEFAULT false,
            updated_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE sensors (
            sensor_id    bigint PRIMARY KEY,
            location_id  bigint NOT NULL REFERENCES locations (location_id) ON DELETE CASCADE,
            parameter    text NOT NULL,
            parameter_id integer,
            unit         text NOT NULL,
            updated_at   timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX sensors_location_parameter ON sensors (location_id, parameter);
        -- datetime is hour-ending UTC, as OpenAQ reports it.
        CREATE TABLE measurements (
            sensor_id      bigint NOT NULL REFERENCES sensors (sensor_id) ON DELETE CASCADE,
            datetime       timestamptz NOT NULL,
            location_id    bigint NOT NULL,
            parameter      text NOT NULL,
            value          double precision NOT NULL,
            unit           text NOT NULL,
            coverage_count integer,
            source         text NOT NULL,
            ingested_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (sensor_id, datetime)
        );
        -- The newest hour committed per sensor: incremental ingests resume after it.
        CREATE TABLE ingest_watermarks (
            sensor_id     bigint PRIMARY KEY REFERENCES sensors (sensor_id) ON DELETE CASCADE,
            last_datetime timestamptz NOT NULL,
            source        text NOT NULL,
            updated_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE rejected_measurements (
            id          bigserial PRIMARY KEY,
            source      text NOT NULL,
            sensor_id   bigint,
            location_id bigint,
            datetime    timestamptz,
            parameter   text,
            value       double precision,
            unit        text,
            reason      text NOT NULL,
            raw         jsonb NOT NULL,
            -- md5 of source, reason and row: a re-run of the same window adds nothing.
            fingerprint text NOT NULL UNIQUE,
            rejected_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX rejected_measurements_reason ON rejected_measurements (reason);
        """
    )
    # The reader role is created by the stack / Terraform; a bare database may not have it.
    # The role name was checked against a plain-identifier pattern in aircast.store.migrate.
    role = op.get_context().config.attributes.get("reader_role", "aircast_reader")
    tables = ", ".join(TABLES)
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                EXECUTE 'GRANT SELECT ON {tables} TO "{role}"';
            END IF;
        END
        $$;
        """  # noqa: S608
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS rejected_measurements, ingest_watermarks, measurements, sensors, "
        "locations"
    )
