"""Open-Meteo client: Forecast, Previous Runs, Historical Forecast and Historical Weather APIs.

Plain httpx on the documented JSON shape (``hourly: {time: [...], <variable>: [...]}``, a list
of such objects when several coordinates are asked), not the FlatBuffers SDK: the SDK pins
numpy/flatbuffers versions the Mage image does not need, and JSON is what the local server and
the tests speak.

Like the OpenAQ client it paces itself (``weather_requests_per_minute`` in any 60 s), waits on
429 (``Retry-After`` when sent, else backoff), retries 5xx answers, timeouts, dropped
connections and unreadable bodies with exponential backoff and full jitter, and raises
:class:`OpenMeteoError` with the server's ``reason`` on a 400.

Every method returns a wide frame, one row per (``location_id``, ``target_time``) with one
float column per variable of :data:`HOURLY` (NaN where the model lacks the variable or the
hour); ``target_time`` is UTC. Open-Meteo's hourly ``precipitation`` is the sum over the
preceding hour, which is aircast's hour-ending convention.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import numpy as np
import pandas as pd

from aircast.pacing import Pacer, backoff
from aircast.settings import WeatherSettings

HOURLY = (
    "temperature_2m",
    "dew_point_2m",
    "relative_humidity_2m",
    "surface_pressure",
    "precipitation",
    "wind_speed_10m",
    "wind_direction_10m",
    "boundary_layer_height",
    "cloud_cover",
)
"""The hourly variables aircast stores (Open-Meteo names; ``boundary_layer_height`` only
where the model has it, NaN elsewhere)."""

PREVIOUS_DAYS = (1, 2)
"""Previous Runs offsets fetched for training: ``<var>_previous_day1`` is what the model
forecast 24 h before the target hour, ``_previous_day2`` 48 h before."""


class OpenMeteoError(RuntimeError):
    """An Open-Meteo request failed in a way retrying will not fix; the message says why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Point:
    """A location to ask weather for."""

    location_id: int
    latitude: float
    longitude: float


@dataclass
class WeatherStats:
    """What the client did: requests, retries, 429s, seconds waited, variables found empty."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0
    missing_variables: set[str] = field(default_factory=set)


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("reason") or body)[:300]
    return str(body)[:300]


def _day(value: date | str | pd.Timestamp) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


class OpenMeteoClient:
    """A synchronous Open-Meteo client; use it as a context manager (it owns an HTTP pool)."""

    def __init__(
        self,
        settings: WeatherSettings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or WeatherSettings()
        self._http = httpx.Client(
            headers={"Accept": "application/json", "User-Agent": "aircast"},
            timeout=self.settings.weather_timeout,
            transport=transport,
        )
        self.stats = WeatherStats()
        self._pacer = Pacer(
            self.settings.weather_requests_per_minute,
            60.0,
            sleep=sleep,
            clock=clock,
            on_wait=self._count_wait,
        )

    def __enter__(self) -> OpenMeteoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    # ---------------------------------------------------------------------------- transport

    def _count_wait(self, seconds: float) -> None:
        self.stats.waited_seconds += seconds

    def get(self, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: PLR0912
        """GET ``url`` and return its answer as a list of per-coordinate objects."""
        if self.settings.weather_api_key is not None:
            params = {**params, "apikey": self.settings.weather_api_key.get_secret_value()}
        attempt = 0
        limited = 0
        while True:
            self._pacer.before_request()
            self.stats.requests += 1
            failure: str
            try:
                response = self._http.get(url, params=params)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status == 429:
                    self.stats.rate_limited += 1
                    limited += 1
                    if limited > 10:
                        raise OpenMeteoError(
                            "Open-Meteo kept answering 429 (rate limit); another client shares "
                            "this IP or key: lower AIRCAST_WEATHER_REQUESTS_PER_MINUTE.",
                            429,
                        )
                    try:
                        retry_after = float(response.headers.get("retry-after", "0"))
                    except ValueError:
                        retry_after = 0.0
                    self._pacer.pause(
                        retry_after or backoff(self.settings.weather_backoff_seconds, limited)
                    )
                    continue
                if status < 400:
                    try:
                        body = response.json()
                    except (ValueError, json.JSONDecodeError) as exc:
                        failure = f"unreadable JSON body ({exc})"
                    else:
                        if isinstance(body, dict):
                            return [body]
                        if isinstance(body, list) and all(isinstance(b, dict) for b in body):
                            return body
                        failure = f"unexpected body type {type(body).__name__}"
                elif status >= 500 or status == 408:
                    failure = f"HTTP {status}: {_reason(response)}"
                else:
                    raise OpenMeteoError(
                        f"Open-Meteo rejected the request to {url} ({status}: "
                        f"{_reason(response)}); check the variables, dates and coordinates.",
                        status,
                    )
            if attempt >= self.settings.weather_max_retries:
                raise OpenMeteoError(
                    f"Open-Meteo request {url} failed after {attempt + 1} attempts ({failure}); "
                    "the service may be down: retry later (ingest_weather re-fetches the window)."
                )
            self.stats.retries += 1
            self._pacer.wait(backoff(self.settings.weather_backoff_seconds, attempt))
            attempt += 1

    # ------------------------------------------------------------------------------ resources

    def _params(self, points: Sequence[Point], hourly: Sequence[str]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "latitude": ",".join(f"{p.latitude:.4f}" for p in points),
            "longitude": ",".join(f"{p.longitude:.4f}" for p in points),
            "hourly": ",".join(hourly),
            "timezone": "GMT",
            "timeformat": "unixtime",
            "wind_speed_unit": "ms",
        }
        if self.settings.weather_model and self.settings.weather_model != "best_match":
            params["models"] = self.settings.weather_model
        return params

    def _batches(self, points: Sequence[Point]) -> list[Sequence[Point]]:
        size = self.settings.weather_batch_locations
        return [points[i : i + size] for i in range(0, len(points), size)]

    def _fetch(
        self, url: str, points: Sequence[Point], hourly: Sequence[str], extra: dict[str, Any]
    ) -> pd.DataFrame:
        frames = []
        for batch in self._batches(list(points)):
            bodies = self.get(url, {**self._params(batch, hourly), **extra})
            if len(bodies) != len(batch):
                raise OpenMeteoError(
                    f"Open-Meteo answered {len(bodies)} locations for {len(batch)} asked at {url}"
                )
            frames += [
                self.hourly_frame(body, point, hourly)
                for body, point in zip(bodies, batch, strict=True)
            ]
        if not frames:
            return self.hourly_frame({"hourly": {"time": []}}, Point(0, 0, 0), hourly)
        return pd.concat(frames, ignore_index=True)

    def hourly_frame(
        self, body: dict[str, Any], point: Point, hourly: Sequence[str]
    ) -> pd.DataFrame:
        """One location's ``hourly`` object as a frame (``location_id``, ``target_time``, vars).

        A variable the answer lacks (the model has no such field) becomes NaN and is noted in
        ``stats.missing_variables`` rather than failing the whole fetch.
        """
        block = body.get("hourly")
        if not isinstance(block, dict) or "time" not in block:
            raise OpenMeteoError("Open-Meteo answered without an hourly.time array")
        times = block["time"]
        target: pd.DatetimeIndex
        if times and isinstance(times[0], str):
            target = pd.DatetimeIndex(pd.to_datetime(pd.Series(times), utc=True))
        else:
            target = pd.DatetimeIndex(
                pd.to_datetime(np.asarray(times, dtype="int64"), unit="s", utc=True)
            )
        offset = int(body.get("utc_offset_seconds") or 0)
        if offset and times and isinstance(times[0], str):
            # iso8601 times are local wall time when a timezone other than GMT was used
            target = target - pd.Timedelta(seconds=offset)
        out = pd.DataFrame(
            {
                "location_id": np.full(len(times), point.location_id, dtype=np.int64),
                "target_time": target.as_unit("ns"),
            }
        )
        for name in hourly:
            values = block.get(name)
            if values is None or len(values) != len(times):
                self.stats.missing_variables.add(name)
                out[name] = np.nan
            else:
                out[name] = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype(
                    "float64"
                )
        return out

    def forecast(
        self,
        points: Sequence[Point],
        *,
        hours: int = 48,
        past_hours: int = 0,
        hourly: Sequence[str] = HOURLY,
    ) -> pd.DataFrame:
        """The current forecast (Forecast API) for ``past_hours`` back to ``hours`` ahead."""
        extra = {"forecast_hours": hours, "past_hours": past_hours}
        return self._fetch(self.settings.weather_forecast_url, points, hourly, extra)

    def previous_runs(
        self,
        points: Sequence[Point],
        start: date | str | pd.Timestamp,
        end: date | str | pd.Timestamp,
        *,
        days: Sequence[int] = PREVIOUS_DAYS,
        hourly: Sequence[str] = HOURLY,
    ) -> pd.DataFrame:
        """What the model forecast ``d`` days before each hour (Previous Runs API).

        Long form over the offsets: one row per (``location_id``, ``target_time``,
        ``previous_day``) with the variables as columns.
        """
        if any(not 1 <= d <= 7 for d in days):
            raise ValueError("Previous Runs offsets are 1..7 days")
        asked = [f"{v}_previous_day{d}" for d in days for v in hourly]
        extra = {"start_date": _day(start), "end_date": _day(end)}
        wide = self._fetch(self.settings.weather_previous_runs_url, points, asked, extra)
        frames = []
        for d in days:
            part = wide[["location_id", "target_time"]].copy()
            for v in hourly:
                part[v] = wide[f"{v}_previous_day{d}"].to_numpy()
            part["previous_day"] = d
            frames.append(part)
        return pd.concat(frames, ignore_index=True)

    def historical_forecast(
        self,
        points: Sequence[Point],
        start: date | str | pd.Timestamp,
        end: date | str | pd.Timestamp,
        *,
        hourly: Sequence[str] = HOURLY,
    ) -> pd.DataFrame:
        """Archived first hours of model runs (Historical Forecast API)."""
        extra = {"start_date": _day(start), "end_date": _day(end)}
        return self._fetch(self.settings.weather_historical_forecast_url, points, hourly, extra)

    def reanalysis(
        self,
        points: Sequence[Point],
        start: date | str | pd.Timestamp,
        end: date | str | pd.Timestamp,
        *,
        hourly: Sequence[str] = HOURLY,
    ) -> pd.DataFrame:
        """Observed-like weather (Historical Weather API, ERA5): never a forecast input."""
        extra = {"start_date": _day(start), "end_date": _day(end)}
        return self._fetch(self.settings.weather_archive_url, points, hourly, extra)
