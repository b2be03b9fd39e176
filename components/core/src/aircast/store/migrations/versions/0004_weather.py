"""Weather: forecasts keyed by the time they were issued, observed weather kept apart.

``weather_forecasts`` holds one row per (location, target hour, issued_at, source): the same
target hour forecast at different times is several rows, so a reader can ask "what was known
at ``t``" (the newest row with ``issued_at <= t``, :func:`aircast.weather.store.forecasts_as_of`)
and a training row issued at ``t`` never sees a later run. ``issued_at`` is when the values
existed for aircast: the fetch hour for the live Forecast API, and for history a conservative
bound derived from the API's definition (docs/weather.md). ``lead_hours`` (target minus issue)
is stored for queries and checks.

``weather_observations`` holds observed-like weather (ERA5 reanalysis): no issue time, and the
feature builder never reads it (docs/weather.md, "Observed weather").

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("weather_forecasts", "weather_observations")

VARIABLES = """
            temperature_2m        real,
            dew_point_2m          real,
            relative_humidity_2m  real,
            surface_pressure      real,
            precipitation         real,
            wind_speed_10m        real,
            wind_direction_10m    real,
            boundary_layer_height real,
            cloud_cover           real,
"""


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE weather_forecasts (
            location_id bigint NOT NULL,
            target_time timestamptz NOT NULL,
            issued_at   timestamptz NOT NULL,
            source      text NOT NULL
                CHECK (source IN ('forecast', 'previous_runs', 'historical_forecast')),
            lead_hours  integer NOT NULL,
            {VARIABLES}
            fetched_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (location_id, target_time, issued_at, source),
            CHECK (lead_hours = (extract(epoch FROM target_time - issued_at) / 3600)::integer)
        );
        -- the serving read: every location's rows issued up to t for the next hours
        CREATE INDEX weather_forecasts_issued ON weather_forecasts (issued_at);
        CREATE TABLE weather_observations (
            location_id bigint NOT NULL,
            target_time timestamptz NOT NULL,
            source      text NOT NULL CHECK (source IN ('era5')),
            {VARIABLES}
            fetched_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (location_id, target_time, source)
        );
        """
    )
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
    op.execute(f"DROP TABLE IF EXISTS {', '.join(reversed(TABLES))}")
