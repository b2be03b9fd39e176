"""Pre-rendered horizon rows are byte for byte the JSON of the plain per-horizon objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import orjson

from aircast_api.forecasting import _rendered_rows


def _iso(hour: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_rows_render_as_the_plain_objects_would() -> None:
    rng = np.random.default_rng(3)
    issue = np.asarray([474_000, 474_000, 474_005, 474_001, 474_000], dtype=np.int64)
    horizons = [3, 4, 5, 24]
    n = len(issue) * len(horizons)
    point = np.expm1(rng.normal(1, 3, n))
    p10, p90 = point * rng.random(n), point * (1 + rng.random(n) * 5)
    point[[0, 9]] = [0.0, 1e-7]
    p10[5], p90[7], point[11] = np.nan, np.inf, 1e20  # NaN and infinity render as null

    rendered = _rendered_rows(point, p10, p90, issue, horizons)

    plain = [
        [
            {
                "horizon": h,
                "target_time": _iso(int(issue[i]) + h),
                "point": float(point[k]),
                "p10": float(p10[k]),
                "p90": float(p90[k]),
            }
            for k, h in ((i * len(horizons) + j, h) for j, h in enumerate(horizons))
        ]
        for i in range(len(issue))
    ]
    assert orjson.dumps(rendered) == orjson.dumps(plain)
    assert orjson.loads(orjson.dumps(rendered))[1][1]["p10"] is None


def test_no_locations_or_no_horizons() -> None:
    empty = np.zeros(0)
    assert _rendered_rows(empty, empty, empty, np.zeros(0, dtype=np.int64), [1, 2]) == []
    one = np.asarray([474_000], dtype=np.int64)
    assert orjson.dumps(_rendered_rows(empty, empty, empty, one, [])) == b"[[]]"
