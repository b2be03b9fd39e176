"""Synthetic hourly measurements in the store's schema, for the forecasting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def locations(n: int = 3) -> pd.DataFrame:
    """A location table like ``aircast.store.load_locations`` returns."""
    zones = ["Europe/Paris", "Asia/Shanghai", "America/New_York", "UTC"]
    return pd.DataFrame(
        {
            "location_id": np.arange(1, n + 1, dtype="int64") * 100,
            "name": [f"site {i}" for i in range(n)],
            "timezone": [zones[i % len(zones)] for i in range(n)],
            "latitude": np.linspace(40.0, 48.0, n),
            "longitude": np.linspace(2.0, 116.0, n),
            "country": "XX",
            "provider": "synthetic",
            "owner": "tests",
            "attribution": "",
            "is_synthetic": True,
        }
    )


def measurements(
    n_locations: int = 3,
    days: int = 60,
    *,
    seed: int = 0,
    gap_fraction: float = 0.08,
    start: str = "2025-01-01",
) -> pd.DataFrame:
    """PM2.5 with a diurnal cycle, AR(1) weather-driven episodes and gaps, plus NO2 and
    temperature covariates; long format as ``aircast.store.load_measurements`` returns."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=24 * days, freq="h", tz="UTC")
    hours = np.arange(len(times))
    frames = []
    for i, loc in enumerate(locations(n_locations)["location_id"]):
        level = np.zeros(len(times))
        for t in range(1, len(times)):
            level[t] = 0.97 * level[t - 1] + rng.normal(0, 2.0)
        diurnal = 8 * np.sin(2 * np.pi * (hours % 24) / 24 + i)
        pm25 = np.clip(25 + 5 * i + diurnal + 3 * level + rng.normal(0, 2, len(times)), 0, None)
        temperature = 10 + 6 * np.sin(2 * np.pi * (hours % 24) / 24) - 0.3 * level
        no2 = np.clip(0.8 * pm25 + rng.normal(0, 3, len(times)), 0, None)
        for parameter, values in (("pm25", pm25), ("no2", no2), ("temperature", temperature)):
            keep = rng.random(len(times)) > gap_fraction
            frames.append(
                pd.DataFrame(
                    {
                        "location_id": np.int64(loc),
                        "parameter": parameter,
                        "datetime": times[keep],
                        "value": values[keep],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)
