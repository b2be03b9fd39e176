"""Forecast archive, live verification scores and drift/skill alarms.

``forecasts`` is range-partitioned by issue month (declarative partitioning): a year of hourly
issues for thousands of locations is hundreds of millions of rows, and retention then drops
whole months (``DROP TABLE`` of a partition, no vacuum debt) instead of deleting rows; a read
of a location's recent issues touches one or two partitions through the primary key
(location, parameter, issue time, ...). Partitions are created by the writer
(``aircast.forecast_archive.ensure_partitions``) as months come. A BRIN index on the issue time
(rows arrive in issue order, so block ranges are tight) lets the scoring step find the issues
of a few hours across every location for the cost of a few pages of index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = (
    "forecasts",
    "forecast_issues",
    "forecast_scores",
    "verification_daily",
    "verification_summary",
    "verification_alarms",
)


def upgrade() -> None:
    op.execute(
        """
        -- One row per (issue, horizon). Fixed-width columns first: no alignment padding.
        CREATE TABLE forecasts (
            location_id   bigint NOT NULL,
            issue_time    timestamptz NOT NULL,
            target_time   timestamptz NOT NULL,
            point         double precision NOT NULL,
            p10           double precision NOT NULL,
            p90           double precision NOT NULL,
            model_version integer NOT NULL,
            horizon       smallint NOT NULL,
            parameter     text NOT NULL,
            PRIMARY KEY (location_id, parameter, issue_time, model_version, horizon)
        ) PARTITION BY RANGE (issue_time);
        CREATE INDEX forecasts_issue_time_brin ON forecasts USING brin (issue_time);
        -- One row per issue: the idempotency key of a write, and the persistence forecast
        -- available at the issue time (the observation of the issue hour, as it was then).
        CREATE TABLE forecast_issues (
            location_id   bigint NOT NULL,
            parameter     text NOT NULL,
            issue_time    timestamptz NOT NULL,
            model_version integer NOT NULL,
            persistence   double precision NOT NULL,
            horizons      smallint NOT NULL,
            issued_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (location_id, parameter, issue_time, model_version)
        );
        CREATE INDEX forecast_issues_parameter_time ON forecast_issues (parameter, issue_time);
        -- One row per scored target time of a (location, parameter, model version): every
        -- horizon 1..H had a forecast and a persistence reference, so all horizons are scored
        -- on the same target times. Arrays are indexed by horizon (1-based).
        CREATE TABLE forecast_scores (
            location_id       bigint NOT NULL,
            parameter         text NOT NULL,
            model_version     integer NOT NULL,
            target_time       timestamptz NOT NULL,
            observed          double precision NOT NULL,
            error             double precision[] NOT NULL,
            persistence_error double precision[] NOT NULL,
            covered           boolean[] NOT NULL,
            scored_at         timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (location_id, parameter, model_version, target_time)
        );
        CREATE INDEX forecast_scores_parameter_time ON forecast_scores (parameter, target_time);
        -- Sums per UTC day of target time: a 30-day window reads 30 rows per horizon.
        CREATE TABLE verification_daily (
            location_id               bigint NOT NULL,
            parameter                 text NOT NULL,
            model_version             integer NOT NULL,
            day                       date NOT NULL,
            horizon                   smallint NOT NULL,
            pairs                     integer NOT NULL,
            sum_error                 double precision NOT NULL,
            sum_abs_error             double precision NOT NULL,
            sum_sq_error              double precision NOT NULL,
            covered                   integer NOT NULL,
            sum_persistence_abs_error double precision NOT NULL,
            PRIMARY KEY (location_id, parameter, model_version, day, horizon)
        );
        CREATE INDEX verification_daily_parameter_day ON verification_daily (parameter, day);
        -- Every location together, per window: what /metrics and MLflow report.
        CREATE TABLE verification_summary (
            parameter       text NOT NULL,
            model_version   integer NOT NULL,
            horizon         smallint NOT NULL,
            window_hours    integer NOT NULL,
            window_end      timestamptz NOT NULL,
            pairs           integer NOT NULL,
            mae             double precision,
            bias            double precision,
            rmse            double precision,
            coverage        double precision,
            persistence_mae double precision,
            skill           double precision,
            computed_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (parameter, model_version, horizon, window_hours)
        );
        CREATE TABLE verification_alarms (
            id             bigserial PRIMARY KEY,
            parameter      text NOT NULL,
            kind           text NOT NULL CHECK (kind IN ('skill', 'drift')),
            model_version  integer,
            feature        text,
            value          double precision NOT NULL,
            threshold      double precision NOT NULL,
            window_end     timestamptz NOT NULL,
            detail         jsonb NOT NULL DEFAULT '{}'::jsonb,
            retraining     text NOT NULL,
            raised_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX verification_alarms_recent ON verification_alarms (parameter, kind, raised_at);
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
