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


def weather_runs(
    locations: pd.DataFrame,
    start: str = "2025-01-01",
    days: int = 60,
    *,
    seed: int = 0,
    every_hours: int = 6,
    lead_hours: int = 48,
    delay_hours: int = 0,
) -> pd.DataFrame:
    """Weather forecast rows as the store holds them: a run every ``every_hours`` covering
    the next ``lead_hours``, issued ``delay_hours`` after it starts, with an error growing
    with the lead (``aircast.weather.store.load_forecasts``'s columns)."""
    rng = np.random.default_rng(seed)
    runs = pd.date_range(start, periods=24 * days // every_hours, freq=f"{every_hours}h", tz="UTC")
    frames = []
    for loc in locations["location_id"].to_numpy(dtype=np.int64):
        for run in runs:
            target = pd.date_range(run, periods=lead_hours + 1, freq="h")
            hours = (target - pd.Timestamp("2025-01-01", tz="UTC")).total_seconds() / 3600
            lead = np.arange(lead_hours + 1)
            noise = rng.normal(size=(6, len(target))) * (0.2 + lead / 24)
            frames.append(
                pd.DataFrame(
                    {
                        "location_id": loc,
                        "target_time": target,
                        "issued_at": run + pd.Timedelta(hours=delay_hours),
                        "source": "previous_runs",
                        "temperature_2m": 5 + 6 * np.sin(2 * np.pi * hours / 24) + noise[0],
                        "dew_point_2m": 0 + noise[1],
                        "relative_humidity_2m": 70 + 5 * noise[2],
                        "surface_pressure": 1010 + 3 * np.sin(hours / 50) + noise[3],
                        "precipitation": np.clip(noise[4] - 1.0, 0, None),
                        "wind_speed_10m": np.abs(3 + noise[5]),
                        "wind_direction_10m": (hours * 7) % 360,
                        "boundary_layer_height": np.nan,
                        "cloud_cover": 50.0,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)
