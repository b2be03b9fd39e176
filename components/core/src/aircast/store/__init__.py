"""The aircast PostgreSQL store: schema migrations, bulk writes, and history queries.

Readers (training, the API) use :func:`load_measurements` (or :func:`measurement_rows`, the
same query without a frame), :func:`load_locations` and :func:`list_locations`; the ingest
path writes through :mod:`aircast.store.writes`.
"""

from aircast.store.migrate import current_revision, downgrade, upgrade
from aircast.store.queries import (
    list_locations,
    load_locations,
    load_measurements,
    measurement_rows,
)
from aircast.store.writes import (
    UpsertResult,
    advance_watermarks,
    get_watermarks,
    record_rejections,
    upsert_locations,
    upsert_measurements,
)

__all__ = [
    "UpsertResult",
    "advance_watermarks",
    "current_revision",
    "downgrade",
    "get_watermarks",
    "list_locations",
    "load_locations",
    "load_measurements",
    "measurement_rows",
    "record_rejections",
    "upgrade",
    "upsert_locations",
    "upsert_measurements",
]
