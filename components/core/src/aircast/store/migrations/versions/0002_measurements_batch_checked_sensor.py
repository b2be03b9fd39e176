"""Check measurement sensors per batch instead of per row.

The per-row foreign key from measurements to sensors doubled the cost of the bulk upsert;
``aircast.store.writes.upsert_measurements`` now refuses a batch with an unregistered sensor
before inserting anything.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE measurements DROP CONSTRAINT IF EXISTS measurements_sensor_id_fkey")


def downgrade() -> None:
    op.execute(
        "ALTER TABLE measurements ADD CONSTRAINT measurements_sensor_id_fkey "
        "FOREIGN KEY (sensor_id) REFERENCES sensors (sensor_id) ON DELETE CASCADE"
    )
