"""A local Open-Meteo-compatible server for tests and the demo (synthetic, labelled data).

One process serves the four APIs aircast reads, each under its own prefix (on the real service
each has its own host):

==========================  ====================================================
``/forecast/v1/forecast``   Forecast API: the newest run available at the server's clock
``/previous-runs/v1/forecast``  Previous Runs: ``<var>_previous_dayN`` for N = 1..7
``/historical-forecast/v1/forecast``  Historical Forecast: first hours of each archived run
``/archive/v1/archive``     Historical Weather: the synthetic "truth" (reanalysis stand-in)
==========================  ====================================================

Requests and answers have Open-Meteo's JSON shape (``latitude``/``longitude`` lists,
``hourly=``, ``start_date``/``end_date`` or ``past_hours``/``forecast_hours``,
``timeformat=unixtime|iso8601``, a list of objects for several coordinates, 400
``{"error": true, "reason": ...}``, 429 over the per-minute budget). Every body also carries
``"aircast_synthetic": true``: the values are made up, never real weather.

The data: a smooth synthetic truth per location (seasonal and daily cycles plus "synoptic"
waves) and model runs every 6 h (00/06/12/18 UTC) that become available ``AVAILABLE_AFTER``
after their start; a run's value for hour T is the truth plus an error that grows with the lead
``T - run`` and is correlated in time within the run. Faults (:meth:`inject`): HTTP statuses
(429, 5xx), slow answers (client timeouts), dropped connections, and a variable missing from
the ``hourly`` object, as a model without it answers.

Run it standalone with ``python -m aircast_dev.openmeteo_server``.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

RUN_EVERY = pd.Timedelta(hours=6)
AVAILABLE_AFTER = pd.Timedelta(hours=4)
VARIABLES = (
    "temperature_2m",
    "dew_point_2m",
    "relative_humidity_2m",
    "surface_pressure",
    "pressure_msl",
    "precipitation",
    "rain",
    "cloud_cover",
    "wind_speed_10m",
    "wind_direction_10m",
    "wind_gusts_10m",
    "boundary_layer_height",
    "shortwave_radiation",
)
UNITS = {
    "temperature_2m": "°C",
    "dew_point_2m": "°C",
    "relative_humidity_2m": "%",
    "surface_pressure": "hPa",
    "pressure_msl": "hPa",
    "precipitation": "mm",
    "rain": "mm",
    "cloud_cover": "%",
    "wind_speed_10m": "m/s",
    "wind_direction_10m": "°",
    "wind_gusts_10m": "m/s",
    "boundary_layer_height": "m",
    "shortwave_radiation": "W/m²",
}
# forecast error (one standard deviation) at lead 0 and its growth per 24 h of lead
ERROR = {
    "temperature_2m": (0.6, 1.2),
    "dew_point_2m": (0.8, 1.4),
    "surface_pressure": (0.4, 1.2),
    "wind_u": (0.6, 1.0),
    "wind_v": (0.6, 1.0),
    "precipitation": (0.1, 0.4),
    "cloud_cover": (8.0, 12.0),
    "boundary_layer_height": (80.0, 150.0),
}
_PATHS = {
    "/forecast/v1/forecast": "forecast",
    "/previous-runs/v1/forecast": "previous_runs",
    "/historical-forecast/v1/forecast": "historical_forecast",
    "/archive/v1/archive": "archive",
}


@dataclass(frozen=True)
class WeatherFault:
    """A misbehaviour to inject.

    ``kind``: ``status`` (answer ``status``, e.g. 429 or 503), ``slow`` (sleep ``delay`` s
    before answering), ``drop`` (close without answering), ``missing`` (leave ``variable`` out
    of ``hourly``). ``path`` is a regex on the URL path; ``times`` how often it fires (None:
    always).
    """

    kind: str
    path: str = ".*"
    status: int = 503
    delay: float = 2.0
    variable: str = "boundary_layer_height"
    times: int | None = 1


@dataclass(frozen=True)
class WeatherRequest:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    status: int
    fault: str | None = None


def _phase(*key: object) -> float:
    """A stable pseudo-random phase in [0, 2 pi) for a key (same on every run and machine)."""
    return (zlib.crc32(repr(key).encode()) % 100_000) / 100_000 * 2 * math.pi


def truth(latitude: float, longitude: float, times: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """The synthetic "observed" weather at a point for UTC hour-ending ``times``."""
    hours = times.as_unit("s").asi8 / 3600.0
    seed = (round(latitude, 2), round(longitude, 2))
    day = 2 * np.pi * hours / 24.0
    local = day + np.deg2rad(longitude)  # local solar time
    season = 2 * np.pi * (times.day_of_year.to_numpy() - 110) / 365.25
    wave1 = np.sin(2 * np.pi * hours / (24 * 5.3) + _phase(seed, 1))
    wave2 = np.sin(2 * np.pi * hours / (24 * 2.7) + _phase(seed, 2))
    wave3 = np.sin(2 * np.pi * hours / (24 * 4.1) + _phase(seed, 3))
    temperature = 12 + 10 * np.sin(season) + 4 * np.sin(local - 2.4) + 4 * wave1 + 2 * wave2
    dew_point = temperature - (5 + 3 * (1 + wave2))
    pressure = 1004 + 8 * wave1 + 3 * wave3
    speed = np.clip(3 + 2 * wave2 + 1.5 * wave3, 0.2, None)
    direction = np.mod(200 + 110 * wave1 + 40 * wave3, 360)
    rad = np.deg2rad(direction)
    u, v = -speed * np.sin(rad), -speed * np.cos(rad)
    precipitation = np.clip(3 * wave3 - 2.2, 0, None)
    cloud = np.clip(50 + 45 * wave3 + 10 * wave2, 0, 100)
    sun = np.clip(np.sin(local - 1.6), 0, None)
    blh = 250 + 1300 * sun * (1 - cloud / 200) + 90 * speed
    return {
        "temperature_2m": temperature,
        "dew_point_2m": dew_point,
        "surface_pressure": np.broadcast_to(pressure, hours.shape).astype("float64"),
        "wind_u": u,
        "wind_v": v,
        "precipitation": precipitation,
        "cloud_cover": cloud,
        "boundary_layer_height": blh,
        "shortwave_radiation": 800 * sun * (1 - cloud / 150),
    }


def _derived(fields: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Open-Meteo's variables from the synthetic fields (humidity, wind speed/direction...)."""
    t, td = fields["temperature_2m"], np.minimum(fields["dew_point_2m"], fields["temperature_2m"])
    magnus = np.exp(17.625 * td / (243.04 + td)) / np.exp(17.625 * t / (243.04 + t))
    u, v = fields["wind_u"], fields["wind_v"]
    speed = np.hypot(u, v)
    precipitation = np.clip(fields["precipitation"], 0, None)
    return {
        "temperature_2m": t,
        "dew_point_2m": td,
        "relative_humidity_2m": np.clip(100 * magnus, 0, 100),
        "surface_pressure": fields["surface_pressure"],
        "pressure_msl": fields["surface_pressure"] + 6.0,
        "precipitation": precipitation,
        "rain": precipitation,
        "cloud_cover": np.clip(fields["cloud_cover"], 0, 100),
        "wind_speed_10m": speed,
        "wind_direction_10m": np.mod(np.rad2deg(np.arctan2(-u, -v)), 360),
        "wind_gusts_10m": 1.6 * speed,
        "boundary_layer_height": np.clip(fields["boundary_layer_height"], 50, None),
        "shortwave_radiation": fields["shortwave_radiation"],
    }


def run_forecast(
    latitude: float, longitude: float, runs: pd.DatetimeIndex, times: pd.DatetimeIndex
) -> dict[str, np.ndarray]:
    """What the run started at ``runs[i]`` forecast for ``times[i]`` (Open-Meteo variables).

    Error model: truth + sigma(lead) * e, sigma growing linearly with the lead (:data:`ERROR`),
    e a smooth (time-correlated) wave whose phase depends on the run, so one run's errors are
    correlated across its hours and two runs' errors differ.
    """
    fields = truth(latitude, longitude, times)
    lead = (times - runs).total_seconds().to_numpy() / 3600.0
    hours = times.as_unit("s").asi8 / 3600.0
    run_key = runs.as_unit("s").asi8 // 3600
    seed = (round(latitude, 2), round(longitude, 2))
    unique, inverse = np.unique(run_key, return_inverse=True)
    for name, (base, growth) in ERROR.items():
        # a few distinct runs per request: one phase each
        phase = np.array([_phase(seed, name, int(r)) for r in unique])[inverse.reshape(-1)]
        wave = np.sqrt(2) * np.sin(2 * np.pi * hours / 31.0 + phase)
        fields[name] = fields[name] + (base + growth * np.clip(lead, 0, None) / 24.0) * wave
    return _derived(fields)


class LocalOpenMeteoServer:
    """An in-process Open-Meteo-compatible server on a free loopback port (context manager).

    ``now`` is the server's clock (a UTC timestamp): the Forecast API answers the newest run
    available then. ``rate_limit`` is the per-minute request budget before 429s.
    """

    def __init__(
        self,
        *,
        now: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC"),
        rate_limit: int = 10_000,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.now = now
        self.rate_limit = rate_limit
        self.requests: list[WeatherRequest] = []
        self._faults: list[list[Any]] = []
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def settings_env(self) -> dict[str, str]:
        """The ``AIRCAST_WEATHER_*_URL`` variables that point aircast at this server."""
        return {
            "AIRCAST_WEATHER_FORECAST_URL": f"{self.url}/forecast/v1/forecast",
            "AIRCAST_WEATHER_PREVIOUS_RUNS_URL": f"{self.url}/previous-runs/v1/forecast",
            "AIRCAST_WEATHER_HISTORICAL_FORECAST_URL": (
                f"{self.url}/historical-forecast/v1/forecast"
            ),
            "AIRCAST_WEATHER_ARCHIVE_URL": f"{self.url}/archive/v1/archive",
        }

    def start(self) -> LocalOpenMeteoServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="openmeteo-local",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalOpenMeteoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, fault: WeatherFault) -> None:
        """Add a fault; it fires on matching requests ``fault.times`` times."""
        with self._lock:
            self._faults.append([fault, fault.times])

    def _take_fault(self, path: str) -> WeatherFault | None:
        with self._lock:
            for entry in self._faults:
                fault, remaining = entry
                if remaining is not None and remaining <= 0:
                    continue
                if not re.search(fault.path, path):
                    continue
                if remaining is not None:
                    entry[1] = remaining - 1
                return fault  # type: ignore[no-any-return]
        return None

    # ----------------------------------------------------------------------- answers

    def latest_run(self, at: pd.Timestamp) -> pd.Timestamp:
        """The newest run start whose output is available at ``at``."""
        return (at - AVAILABLE_AFTER).floor(RUN_EVERY)

    def answer(self, api: str, query: dict[str, str]) -> tuple[int, Any]:
        """(status, body) of one GET on ``api`` (a key of the path table)."""
        try:
            lats = [float(v) for v in query["latitude"].split(",")]
            lons = [float(v) for v in query["longitude"].split(",")]
        except (KeyError, ValueError):
            return 400, {"error": True, "reason": "Parameter 'latitude' and 'longitude' required"}
        if len(lats) != len(lons):
            return 400, {"error": True, "reason": "latitude and longitude must have equal length"}
        names = [v for v in query.get("hourly", "").split(",") if v]
        base = {re.sub(r"_previous_day[1-7]$", "", n) for n in names}
        unknown = sorted(b for b in base if b not in VARIABLES)
        if unknown:
            return 400, {
                "error": True,
                "reason": "Cannot initialize WeatherVariable from invalid String value "
                + unknown[0],
            }
        try:
            times = self._times(api, query)
        except ValueError as exc:
            return 400, {"error": True, "reason": str(exc)}
        bodies = [
            self._body(api, lat, lon, names, times, query)
            for lat, lon in zip(lats, lons, strict=True)
        ]
        return 200, bodies[0] if len(bodies) == 1 else bodies

    def _times(self, api: str, query: dict[str, str]) -> pd.DatetimeIndex:
        if "start_date" in query or "end_date" in query:
            start = pd.Timestamp(query["start_date"], tz="UTC")
            end = pd.Timestamp(query["end_date"], tz="UTC") + pd.Timedelta(hours=23)
            if end < start:
                raise ValueError("Parameter 'start_date' must be before 'end_date'")
            if api != "archive" and end > self.now() + pd.Timedelta(days=16):
                raise ValueError("Parameter 'end_date' is out of allowed range")
            return pd.date_range(start, end, freq="h")
        if api in ("archive", "previous_runs", "historical_forecast"):
            raise ValueError("Parameter 'start_date' and 'end_date' required")
        now = self.now().floor("h")
        past = int(query.get("past_hours", 0))
        ahead = int(query.get("forecast_hours", 24 * int(query.get("forecast_days", 7))))
        if past > 92 * 24 or ahead > 16 * 24:
            raise ValueError("Parameter 'forecast_hours' or 'past_hours' out of range")
        return pd.date_range(now - pd.Timedelta(hours=past), periods=past + ahead, freq="h")

    def _body(
        self,
        api: str,
        lat: float,
        lon: float,
        names: list[str],
        times: pd.DatetimeIndex,
        query: dict[str, str],
    ) -> dict[str, Any]:
        columns: dict[str, np.ndarray] = {}
        if api == "archive":
            columns = _derived(truth(lat, lon, times))
        elif api == "forecast":
            run = self.latest_run(self.now())
            runs = pd.DatetimeIndex(np.full(len(times), run.value), tz="UTC")
            columns = run_forecast(lat, lon, runs, times)
        elif api == "historical_forecast":
            columns = run_forecast(lat, lon, times.floor(RUN_EVERY), times)
        out: dict[str, Any] = {}
        by_day: dict[int, dict[str, np.ndarray]] = {}
        for name in names:
            match = re.match(r"^(.*)_previous_day([1-7])$", name)
            if api == "previous_runs":
                day = int(match.group(2)) if match else 0
                if day not in by_day:
                    runs = (times - pd.Timedelta(days=day)).floor(RUN_EVERY)
                    by_day[day] = run_forecast(lat, lon, runs, times)
                values = by_day[day][match.group(1) if match else name]
            else:
                values = columns[name]
            out[name] = [None if not math.isfinite(x) else round(float(x), 2) for x in values]
        if query.get("timeformat") == "iso8601":
            stamps: list[Any] = [t.strftime("%Y-%m-%dT%H:%M") for t in times]
        else:
            stamps = [int(s) for s in times.as_unit("s").asi8]
        return {
            "latitude": lat,
            "longitude": lon,
            "generationtime_ms": 0.1,
            "utc_offset_seconds": 0,
            "timezone": "GMT",
            "timezone_abbreviation": "GMT",
            "elevation": 50.0,
            "hourly_units": {"time": query.get("timeformat", "iso8601"), **{
                n: UNITS[re.sub(r"_previous_day[1-7]$", "", n)] for n in names
            }},
            "hourly": {"time": stamps, **out},
            "aircast_synthetic": True,
        }  # fmt: skip

    # --------------------------------------------------------------------------- HTTP

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the request log is kept in memory."""

            def handle(self) -> None:
                with contextlib.suppress(ConnectionError, TimeoutError):
                    super().handle()

            def _send(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}

                def log(status: int, fault: str | None = None) -> None:
                    with server._lock:
                        server.requests.append(WeatherRequest(split.path, query, status, fault))

                api = _PATHS.get(split.path)
                if api is None:
                    log(404)
                    self._send(404, {"error": True, "reason": "Not Found"})
                    return
                minute = int(time.monotonic() // 60)
                with server._lock:
                    used = server._counts.get(minute, 0) + 1
                    server._counts[minute] = used
                if used > server.rate_limit:
                    log(429)
                    reason = "Minutely API request limit exceeded"
                    self._send(429, {"error": True, "reason": reason})
                    return
                fault = server._take_fault(split.path)
                if fault is not None and fault.kind == "status":
                    log(fault.status, "status")
                    self._send(fault.status, {"error": True, "reason": "injected fault"})
                    return
                if fault is not None and fault.kind == "drop":
                    log(0, "drop")
                    self.close_connection = True
                    return
                status, payload = server.answer(api, query)
                if fault is not None and fault.kind == "missing" and status == 200:
                    for body in payload if isinstance(payload, list) else [payload]:
                        body["hourly"].pop(fault.variable, None)
                        body["hourly_units"].pop(fault.variable, None)
                if fault is not None and fault.kind == "slow":
                    log(status, "slow")
                    time.sleep(fault.delay)
                else:
                    log(status, fault.kind if fault else None)
                self._send(status, payload)

        return Handler


def main() -> None:  # pragma: no cover - manual use
    """Serve synthetic weather until Ctrl-C (``python -m aircast_dev.openmeteo_server``)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with LocalOpenMeteoServer(port=args.port) as server:
        print(f"Open-Meteo-compatible server (synthetic data) at {server.url}", flush=True)
        for key, value in server.settings_env().items():
            print(f"export {key}={value}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
