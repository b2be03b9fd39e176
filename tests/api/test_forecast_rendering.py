"""Pre-rendered horizon rows are byte for byte the JSON of the plain per-horizon objects.

The plain objects' AQI comes from the scalar :func:`aircast.aqi.reading`, one value at a time:
the vectorised rendering must agree with it on every value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest

from aircast.aqi import reading
from aircast_api.forecasting import _rendered_rows


def _iso(hour: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _aqi(parameter: str, point: float, p10: float, p90: float) -> dict[str, Any] | None:
    if parameter not in ("pm25", "pm10"):
        return None

    def one(value: float) -> dict[str, Any] | None:
        got = reading(value, parameter)
        return None if got is None else {"aqi": got.aqi, "category": got.category.value}

    return {"basis": "hourly_equivalent", "point": one(point), "p10": one(p10), "p90": one(p90)}


@pytest.mark.parametrize("parameter", ["pm25", "pm10", "no2"])
def test_rows_render_as_the_plain_objects_would(parameter: str) -> None:
    rng = np.random.default_rng(3)
    issue = np.asarray([474_000, 474_000, 474_005, 474_001, 474_000], dtype=np.int64)
    horizons = [3, 4, 5, 24]
    n = len(issue) * len(horizons)
    point = np.expm1(rng.normal(1, 3, n))
    p10, p90 = point * rng.random(n), point * (1 + rng.random(n) * 5)
    point[[0, 9]] = [0.0, 1e-7]
    p10[5], p90[7], point[11] = np.nan, np.inf, 1e20  # NaN and infinity render as null

    rendered = _rendered_rows(point, p10, p90, issue, horizons, parameter)

    plain = [
        [
            {
                "horizon": h,
                "target_time": _iso(int(issue[i]) + h),
                "point": float(point[k]),
                "p10": float(p10[k]),
                "p90": float(p90[k]),
                "aqi": _aqi(parameter, float(point[k]), float(p10[k]), float(p90[k])),
            }
            for k, h in ((i * len(horizons) + j, h) for j, h in enumerate(horizons))
        ]
        for i in range(len(issue))
    ]
    assert orjson.dumps(rendered) == orjson.dumps(plain)
    parsed = orjson.loads(orjson.dumps(rendered))
    assert parsed[1][1]["p10"] is None
    if parameter == "no2":
        assert all(row["aqi"] is None for rows in parsed for row in rows)
    else:
        assert parsed[1][1]["aqi"]["p10"] is None  # no concentration, no AQI
        categories = {row["aqi"]["point"]["category"] for rows in parsed for row in rows}
        assert "Beyond the AQI" in categories  # 1e20
        assert len(categories) >= 2


def test_no_locations_or_no_horizons() -> None:
    empty = np.zeros(0)
    assert _rendered_rows(empty, empty, empty, np.zeros(0, dtype=np.int64), [1, 2], "pm25") == []
    one = np.asarray([474_000], dtype=np.int64)
    assert orjson.dumps(_rendered_rows(empty, empty, empty, one, [], "pm25")) == b"[[]]"
