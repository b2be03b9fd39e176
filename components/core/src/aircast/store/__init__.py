"""The aircast PostgreSQL store: schema migrations, bulk writes, and history queries.

Readers (training, the API) use :func:`load_measurements` (or :func:`measurement_rows`, the
same query without a frame), :func:`load_locations` and :func:`list_locations`. The
``*_query`` functions return the SQL of those reads for callers with their own (for example
asynchronous) connection, so every reader runs the same SQL. The ingest path writes through
:mod:`aircast.store.writes`.
"""

from aircast.store.migrate import current_revision, downgrade, upgrade
from aircast.store.queries import (
    hourly_series_query,
    list_locations,
    load_locations,
    load_measurements,
    location_page_query,
    location_query,
    measurement_query,
    measurement_rows,
    newest_measurement,
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
    "hourly_series_query",
    "list_locations",
    "load_locations",
    "load_measurements",
    "location_page_query",
    "location_query",
    "measurement_query",
    "measurement_rows",
    "newest_measurement",
    "record_rejections",
    "upgrade",
    "upsert_locations",
    "upsert_measurements",
]
