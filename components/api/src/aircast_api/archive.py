"""The forecast archive and its verification, read by the API (read-only role, async pool).

Every query is the core's own SQL (:mod:`aircast.forecast_archive`,
:mod:`aircast.verification`, :mod:`aircast.alarms`); this module runs it on the reader's pool
and shapes the rows. Archived forecasts are rendered by the same code as computed ones
(:func:`aircast_api.forecasting.render_documents`), so a client cannot tell them apart.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from aircast import alarms, forecast_archive, verification
from aircast.features import default_unit
from aircast_api import metrics
from aircast_api.forecasting import HorizonRange, render_documents
from aircast_api.history import HistoryReader


def archived_document(
    rows: Sequence[tuple[int, float, float, float]],
    location_id: int,
    parameter: str,
    unit: str,
    model_version: int,
    issue_time: datetime,
    wanted: HorizonRange,
) -> dict[str, Any] | None:
    """The archived forecast of one issue (``(horizon, point, p10, p90)`` rows) rendered as
    the stored-location route renders a computed one; None when a wanted horizon is missing.
    """
    if not rows:
        return None
    by_horizon = {int(h): (p, lo, hi) for h, p, lo, hi in rows}
    horizons = list(range(wanted.first, min(wanted.last, max(by_horizon)) + 1))
    if not horizons or any(h not in by_horizon for h in horizons):
        return None
    values = np.asarray([by_horizon[h] for h in horizons], dtype="float64")
    (document,) = render_documents(
        parameter,
        unit,
        model_version,
        np.asarray([location_id], dtype=np.int64),
        np.asarray([int(issue_time.timestamp() // 3600)], dtype=np.int64),
        horizons,
        values[:, 0],
        values[:, 1],
        values[:, 2],
    )
    return document


def _cursor_after(cursor: str | None) -> tuple[datetime, int] | None:
    if cursor is None:
        return None
    hour, version = cursor.split(".")
    return datetime.fromtimestamp(int(hour) * 3600, tz=UTC), int(version)


async def forecast_page(
    reader: HistoryReader,
    location_id: int,
    parameter: str,
    *,
    issued_since: datetime | None,
    issued_until: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a location's archived forecast documents and the next page's cursor."""
    sql, args = forecast_archive.forecast_page_query(
        location_id,
        parameter,
        issued_since=issued_since,
        issued_until=issued_until,
        after=_cursor_after(cursor),
        limit=limit + 1,
    )
    async with reader.pool.connection() as conn:
        cursor_ = await conn.execute(sql, args)
        rows = await cursor_.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    unit = default_unit(parameter)
    items: list[dict[str, Any]] = []
    for issue_time, version, horizons, points, p10s, p90s in rows:
        (document,) = render_documents(
            parameter,
            unit,
            int(version),
            np.asarray([location_id], dtype=np.int64),
            np.asarray([int(issue_time.timestamp() // 3600)], dtype=np.int64),
            [int(h) for h in horizons],
            np.asarray(points, dtype="float64"),
            np.asarray(p10s, dtype="float64"),
            np.asarray(p90s, dtype="float64"),
        )
        items.append(document)
    next_cursor = None
    if more and rows:
        last_time, last_version = rows[-1][0], rows[-1][1]
        next_cursor = f"{int(last_time.timestamp() // 3600)}.{int(last_version)}"
    return items, next_cursor


async def verification_page(
    reader: HistoryReader,
    parameter: str,
    *,
    location_id: int | None,
    horizon: int | None,
    window: str | None,
    model_version: int | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[verification.WindowScore], str | None]:
    """Verification figures of a page of locations (or of one location) and the next cursor.

    Windows end at the newest scored target time of the parameter.
    """
    windows: Sequence[str] = (window,) if window else tuple(verification.WINDOWS)
    async with reader.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT max(target_time) FROM forecast_scores WHERE parameter = %s", (parameter,)
        )
        row = await cur.fetchone()
        end = row[0] if row else None
        if end is None:
            return [], None
        if location_id is not None:
            locations, more = [location_id], False
        else:
            cur = await conn.execute(
                """
                SELECT l.location_id FROM locations l
                WHERE l.location_id > %s AND EXISTS (
                    SELECT 1 FROM forecast_scores s
                    WHERE s.location_id = l.location_id AND s.parameter = %s)
                ORDER BY l.location_id LIMIT %s
                """,
                (int(cursor) if cursor else -1, parameter, limit + 1),
            )
            locations = [int(r[0]) for r in await cur.fetchall()]
            more = len(locations) > limit
            locations = locations[:limit]
        scores: list[verification.WindowScore] = []
        for name in windows:
            sql, args = verification.window_sums_query(
                parameter,
                end,
                verification.WINDOWS[name],
                location_ids=locations,
                model_version=model_version,
                horizon=horizon,
            )
            cur = await conn.execute(sql, args)
            scores += verification.window_scores(await cur.fetchall(), parameter, name, end)
    scores.sort(key=lambda s: (s.location_id or 0, s.model_version, s.window, s.horizon))
    return scores, (str(locations[-1]) if more and locations else None)


@dataclass
class VerificationGauges:
    """Refreshes the verification gauges of ``/metrics`` from the database, at most every
    ``max_age`` seconds (the verification step writes the summary once an hour)."""

    max_age: float = 30.0
    _refreshed: float = float("-inf")

    async def refresh(self, reader: HistoryReader) -> None:
        """Re-read the summary and the alarm counts; keep the last values if the DB fails."""
        if time.monotonic() - self._refreshed < self.max_age:
            return
        try:
            async with reader.pool.connection(timeout=2) as conn:
                cur = await conn.execute(verification.summary_query())
                summary = await cur.fetchall()
                cur = await conn.execute(alarms.alarm_counts_query())
                counts = await cur.fetchall()
        except Exception:  # noqa: BLE001 - /metrics must answer while the database is down
            return
        self._refreshed = time.monotonic()
        metrics.set_verification(summary, counts)
