"""A local OpenAQ-compatible v3 server for tests and the demo.

It serves ``/v3/locations``, ``/v3/locations/{id}``, ``/v3/locations/{id}/sensors``,
``/v3/sensors/{id}`` and ``/v3/sensors/{id}/hours`` from a :class:`MeasurementSet` with the real
API's response shapes (camelCase, ``meta``/``results``, ``found`` as ``">limit"`` on full pages,
hour-ending periods, ``(from, to]`` filtering). Like the real service it requires ``X-API-Key``
(401 ``Invalid credentials``), counts requests per key in fixed rate windows, sends
``x-ratelimit-*`` headers and answers 429 over budget, and 410 for v1/v2.

Tests make it misbehave on purpose with :meth:`LocalOpenAQServer.inject` (5xx, slow answers,
malformed bodies, truncated bodies, dropped connections on page N) and read what happened from
:attr:`LocalOpenAQServer.requests`. Its clock is injectable and its rate window configurable, so
a "minute" can last one second in a test.

Run it standalone with ``python -m aircast_dev.openaq_server`` (synthetic data).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from aircast.openaq.models import Location, Sensor
from aircast.parameters import CATALOGUE
from aircast_dev.synthetic import MeasurementSet

DEFAULT_API_KEY = "0" * 64
_SUMMARY_KEYS = ("min", "q02", "q25", "median", "q75", "q98", "max", "avg")
_PARAMETER_DISPLAY = {p.name: p.label for p in CATALOGUE}


@dataclass(frozen=True)
class Fault:
    """A misbehaviour to inject.

    ``kind``: ``status`` (answer ``status``), ``slow`` (sleep ``delay`` s first), ``malformed``
    (a body that is not JSON), ``truncate`` (send half the body then close), ``drop`` (close
    without answering). ``path`` is a regex matched against the URL path; ``page`` restricts it
    to one page; ``times`` is how often it fires (None: every time).
    """

    kind: str
    path: str = ".*"
    page: int | None = None
    status: int = 503
    delay: float = 2.0
    times: int | None = 1


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it."""

    at: float
    window: int
    method: str
    path: str
    query: dict[str, str]
    status: int
    fault: str | None = None


@dataclass
class _Series:
    epochs: np.ndarray  # hour-ending, seconds since epoch, ascending
    values: np.ndarray
    coverage: np.ndarray


def _dt_pair(ts: pd.Timestamp, tz: ZoneInfo) -> dict[str, str]:
    return {
        "utc": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "local": ts.tz_convert(tz).isoformat(),
    }


class LocalOpenAQServer:
    """An in-process OpenAQ v3 server on a free loopback port. Use as a context manager."""

    def __init__(
        self,
        dataset: MeasurementSet,
        *,
        api_keys: set[str] | frozenset[str] | None = None,
        rate_limit: int = 60,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.dataset = dataset
        self.api_keys = frozenset(api_keys if api_keys is not None else {DEFAULT_API_KEY})
        self.rate_limit = rate_limit
        self.window_seconds = window_seconds
        self.clock = clock
        self.requests: list[RequestRecord] = []
        self._faults: list[list[Any]] = []  # [Fault, remaining]
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = {}
        self._locations = {loc.location_id: loc for loc in dataset.locations}
        self._sensors: dict[int, Sensor] = {
            s.sensor_id: s for loc in dataset.locations for s in loc.sensors
        }
        self._series = self._index(dataset.measurements)
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """Base URL of the v3 API, e.g. ``http://127.0.0.1:PORT/v3``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v3"

    def start(self) -> LocalOpenAQServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="openaq-local",
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

    def __enter__(self) -> LocalOpenAQServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------------- controls

    def inject(self, fault: Fault) -> None:
        """Add a fault; it fires on matching requests ``fault.times`` times."""
        with self._lock:
            self._faults.append([fault, fault.times])

    def clear_faults(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self._faults.clear()

    def reset_log(self) -> None:
        """Forget the request log and the rate counters."""
        with self._lock:
            self.requests.clear()
            self._counts.clear()

    def requests_per_window(self) -> dict[int, int]:
        """Requests with a valid key counted per rate window (what the budget limits)."""
        out: dict[int, int] = {}
        for record in self.requests:
            if record.status != 401:
                out[record.window] = out.get(record.window, 0) + 1
        return out

    # --------------------------------------------------------------------------- data

    @staticmethod
    def _index(measurements: pd.DataFrame) -> dict[int, _Series]:
        out: dict[int, _Series] = {}
        if measurements.empty:
            return out
        frame = measurements.sort_values(["sensor_id", "datetime"])
        epochs = frame["datetime"].dt.tz_convert("UTC").dt.as_unit("s").astype("int64").to_numpy()
        values = frame["value"].astype("float64").to_numpy()
        coverage = frame["coverage_count"].fillna(1).astype("int64").to_numpy()
        sensors = frame["sensor_id"].to_numpy()
        bounds = np.flatnonzero(np.diff(sensors)) + 1
        for chunk in np.split(np.arange(len(frame)), bounds):
            if len(chunk):
                out[int(sensors[chunk[0]])] = _Series(epochs[chunk], values[chunk], coverage[chunk])
        return out

    def _parameter(self, sensor: Sensor) -> dict[str, Any]:
        return {
            "id": sensor.parameter_id,
            "name": sensor.parameter,
            "units": sensor.unit,
            "displayName": _PARAMETER_DISPLAY.get(sensor.parameter),
        }

    def _span(self, sensor_id: int) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        series = self._series.get(sensor_id)
        if series is None or not len(series.epochs):
            return None
        return (
            pd.Timestamp(int(series.epochs[0]), unit="s", tz="UTC"),
            pd.Timestamp(int(series.epochs[-1]), unit="s", tz="UTC"),
        )

    def location_json(self, loc: Location) -> dict[str, Any]:
        """A location in the v3 shape (plus ``isSynthetic``, our label for synthetic data)."""
        tz = ZoneInfo(loc.timezone)
        spans = [s for s in (self._span(x.sensor_id) for x in loc.sensors) if s]
        first = min((s[0] for s in spans), default=None)
        last = max((s[1] for s in spans), default=None)
        return {
            "id": loc.location_id,
            "name": loc.name,
            "locality": loc.locality,
            "timezone": loc.timezone,
            "country": {"id": 0, "code": loc.country, "name": loc.country},
            "owner": {"id": 0, "name": loc.owner},
            "provider": {"id": 0, "name": loc.provider},
            "isMobile": False,
            "isMonitor": loc.is_monitor,
            "instruments": [{"id": 2, "name": "Government Monitor"}],
            "sensors": [
                {
                    "id": s.sensor_id,
                    "name": f"{s.parameter} {s.unit}",
                    "parameter": self._parameter(s),
                }
                for s in loc.sensors
            ],
            "coordinates": {"latitude": loc.latitude, "longitude": loc.longitude},
            "licenses": [
                {
                    "id": 0,
                    "name": loc.license,
                    "attribution": {"name": loc.attribution, "url": loc.attribution_url},
                    "dateFrom": first.strftime("%Y-%m-%d") if first is not None else None,
                    "dateTo": None,
                }
            ]
            if loc.license
            else None,
            "bounds": [loc.longitude, loc.latitude, loc.longitude, loc.latitude],
            "distance": None,
            "datetimeFirst": _dt_pair(first, tz) if first is not None else None,
            "datetimeLast": _dt_pair(last, tz) if last is not None else None,
            "isSynthetic": loc.is_synthetic,
        }

    def sensor_json(self, sensor: Sensor) -> dict[str, Any]:
        """A sensor in the v3 shape."""
        tz = ZoneInfo(self._locations[sensor.location_id].timezone)
        span = self._span(sensor.sensor_id)
        series = self._series.get(sensor.sensor_id)
        latest = None
        if span is not None and series is not None:
            latest = {
                "datetime": _dt_pair(span[1], tz),
                "value": float(series.values[-1]),
                "coordinates": None,
            }
        return {
            "id": sensor.sensor_id,
            "name": f"{sensor.parameter} {sensor.unit}",
            "parameter": self._parameter(sensor),
            "datetimeFirst": _dt_pair(span[0], tz) if span else None,
            "datetimeLast": _dt_pair(span[1], tz) if span else None,
            "coverage": None,
            "latest": latest,
            "summary": None,
        }

    def hours_json(
        self, sensor: Sensor, start: pd.Timestamp | None, end: pd.Timestamp | None, offset: int,
        limit: int,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """One page of ``/sensors/{id}/hours`` results for ``(start, end]``."""
        series = self._series.get(sensor.sensor_id)
        if series is None:
            return []
        epochs = series.epochs
        lo = 0 if start is None else int(np.searchsorted(epochs, start.value // 10**9, "right"))
        hi = len(epochs)
        if end is not None:
            hi = int(np.searchsorted(epochs, end.value // 10**9, "right"))
        lo = min(lo + offset, hi)
        hi = min(hi, lo + limit)
        tz = ZoneInfo(self._locations[sensor.location_id].timezone)
        ends = pd.to_datetime(series.epochs[lo:hi], unit="s", utc=True)
        starts = ends - pd.Timedelta(hours=1)
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        ends_utc, starts_utc = ends.strftime(fmt), starts.strftime(fmt)
        ends_local = _local_iso(ends, tz)
        starts_local = _local_iso(starts, tz)
        parameter = self._parameter(sensor)
        out = []
        for i in range(hi - lo):
            value = float(series.values[lo + i])
            count = int(series.coverage[lo + i])
            frm = {"utc": starts_utc[i], "local": starts_local[i]}
            to = {"utc": ends_utc[i], "local": ends_local[i]}
            out.append(
                {
                    "value": value if math.isfinite(value) else None,
                    "flagInfo": {"hasFlags": False},
                    "parameter": parameter,
                    "period": {
                        "label": "1hour",
                        "interval": "01:00:00",
                        "datetimeFrom": frm,
                        "datetimeTo": to,
                    },
                    "coordinates": None,
                    # One value per hour here, so every quantile is the value itself.
                    "summary": dict.fromkeys(_SUMMARY_KEYS, value) | {"sd": None},
                    "coverage": {
                        "expectedCount": 1,
                        "expectedInterval": "01:00:00",
                        "observedCount": count,
                        "observedInterval": f"{count:02d}:00:00",
                        "percentComplete": 100.0 * count,
                        "percentCoverage": 100.0 * count,
                        "datetimeFrom": frm,
                        "datetimeTo": to,
                    },
                }
            )
        return out

    # ------------------------------------------------------------------------ routing

    def _take_fault(self, path: str, page: int | None) -> Fault | None:
        with self._lock:
            for entry in self._faults:
                fault, remaining = entry
                if remaining is not None and remaining <= 0:
                    continue
                if not re.search(fault.path, path):
                    continue
                if fault.page is not None and fault.page != page:
                    continue
                if remaining is not None:
                    entry[1] = remaining - 1
                return fault  # type: ignore[no-any-return]
        return None

    def _rate(self, key: str) -> tuple[int, dict[str, str], int]:
        """Count a request against the key's window; (window, headers, used)."""
        now = self.clock()
        window = int(now // self.window_seconds)
        reset = (window + 1) * self.window_seconds - now
        with self._lock:
            used = self._counts.get((key, window), 0) + 1
            self._counts[(key, window)] = used
        # Real OpenAQ sends whole seconds; an accelerated window needs the fraction.
        reset_text = str(math.ceil(reset)) if self.window_seconds >= 60 else f"{reset:.3f}"
        headers = {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-used": str(min(used, self.rate_limit)),
            "x-ratelimit-remaining": str(max(self.rate_limit - used, 0)),
            "x-ratelimit-reset": reset_text,
        }
        return window, headers, used

    def route(self, path: str, query: dict[str, str]) -> tuple[int, Any]:  # noqa: PLR0911, PLR0912
        """Answer a GET: (status, JSON body)."""
        if re.match(r"^/v[12](/|$)", path):
            return 410, {"message": "Gone. Version 1 and Version 2 API endpoints are retired."}
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] != "v3":
            return 404, {"detail": "Not Found"}
        parts = parts[1:]
        try:
            limit = int(query.get("limit", 100))
            page = int(query.get("page", 1))
            start = _parse_dt(query.get("datetime_from"))
            end = _parse_dt(query.get("datetime_to"))
        except ValueError as exc:
            return 422, json.dumps(str(exc))
        if not 1 <= limit <= 1000 or page < 1:
            return 422, json.dumps("limit must be 1..1000 and page >= 1")
        offset = (page - 1) * limit

        def envelope(results: list[Any], total: int | None = None) -> dict[str, Any]:
            found: int | str = total if total is not None else len(results)
            if total is None and len(results) == limit:
                found = f">{limit}"
            meta = {"name": "openaq-api", "website": "/", "page": page, "limit": limit}
            return {"meta": {**meta, "found": found}, "results": results}

        if parts == ["locations"]:
            try:
                matched = self._filter_locations(query)
            except ValueError as exc:
                return 422, json.dumps(str(exc))
            chunk = matched[offset : offset + limit]
            return 200, envelope([self.location_json(loc) for loc in chunk], len(matched))
        if len(parts) >= 2 and parts[0] == "locations" and parts[1].isdigit():
            loc = self._locations.get(int(parts[1]))
            if loc is None:
                return 404, {"detail": "Location not found"}
            if len(parts) == 2:
                return 200, envelope([self.location_json(loc)], 1)
            if parts[2:] == ["sensors"]:
                return 200, envelope([self.sensor_json(s) for s in loc.sensors], len(loc.sensors))
        if len(parts) >= 2 and parts[0] == "sensors" and parts[1].isdigit():
            sensor = self._sensors.get(int(parts[1]))
            if sensor is None:
                return 404, {"detail": "Sensor not found"}
            if len(parts) == 2:
                return 200, envelope([self.sensor_json(sensor)], 1)
            if parts[2:] == ["hours"]:
                return 200, envelope(self.hours_json(sensor, start, end, offset, limit))
        return 404, {"detail": "Not Found"}

    def _filter_locations(self, query: dict[str, str]) -> list[Location]:
        locs = sorted(self._locations.values(), key=lambda loc: loc.location_id)
        if "bbox" in query and ("coordinates" in query or "radius" in query):
            raise ValueError("bbox cannot be combined with coordinates and radius")
        if "bbox" in query:
            x0, y0, x1, y1 = (float(v) for v in query["bbox"].split(","))
            locs = [
                loc for loc in locs
                if loc.longitude is not None and loc.latitude is not None
                and x0 <= loc.longitude <= x1 and y0 <= loc.latitude <= y1
            ]  # fmt: skip
        if "coordinates" in query or "radius" in query:
            if "coordinates" not in query or "radius" not in query:
                raise ValueError("coordinates and radius must be given together")
            lat, lon = (float(v) for v in query["coordinates"].split(","))
            radius = float(query["radius"])
            if not 1 <= radius <= 25_000:
                raise ValueError("radius must be 1..25000")
            locs = [loc for loc in locs if _distance_m(loc, lat, lon) <= radius]
        if "iso" in query:
            locs = [loc for loc in locs if (loc.country or "").upper() == query["iso"].upper()]
        if "parameters_id" in query:
            wanted = {int(p) for p in query["parameters_id"].split(",")}
            locs = [loc for loc in locs if any(s.parameter_id in wanted for s in loc.sensors)]
        if "monitor" in query:
            flag = query["monitor"].lower() == "true"
            locs = [loc for loc in locs if loc.is_monitor == flag]
        return locs

    # -------------------------------------------------------------------------- HTTP

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the request log is kept in memory."""

            def handle(self) -> None:
                # A client that timed out or a fault that cut the line is expected here.
                with contextlib.suppress(ConnectionError, TimeoutError):
                    super().handle()

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: PLR0911 - one early return per fault kind
                split = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                at = server.clock()
                window = int(at // server.window_seconds)
                key = self.headers.get("X-API-Key")

                def log(status: int, fault: str | None = None) -> None:
                    record = RequestRecord(at, window, "GET", split.path, query, status, fault)
                    with server._lock:
                        server.requests.append(record)

                if key not in server.api_keys:
                    log(401)
                    self._send(401, b'{"detail":"Invalid credentials"}', {})
                    return
                window, headers, used = server._rate(key)
                if used > server.rate_limit:
                    log(429)
                    self._send(429, b'{"detail":"Too many requests"}', headers)
                    return
                page = int(query["page"]) if query.get("page", "").isdigit() else 1
                fault = server._take_fault(split.path, page)
                if fault is not None and fault.kind == "slow":
                    # Logged on arrival: the client may have given up before the answer leaves.
                    status, payload = server.route(split.path, query)
                    log(status, "slow")
                    time.sleep(fault.delay)
                    self._send(status, _encode(payload), headers)
                    return
                if fault is not None and fault.kind == "status":
                    log(fault.status, "status")
                    self._send(fault.status, b'{"detail":"Internal Server Error"}', headers)
                    return
                if fault is not None and fault.kind == "drop":
                    log(0, "drop")
                    self.close_connection = True
                    return
                status, payload = server.route(split.path, query)
                body = _encode(payload)
                if fault is not None and fault.kind == "malformed":
                    log(status, "malformed")
                    self._send(status, body[: len(body) // 2] + b"<html>", headers)
                    return
                if fault is not None and fault.kind == "truncate":
                    log(status, "truncate")
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                log(status, fault.kind if fault else None)
                self._send(status, body, headers)

        return Handler


def _encode(payload: Any) -> bytes:
    """A JSON body; a ``str`` payload is already JSON (422 bodies are JSON strings)."""
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, ensure_ascii=False).encode()


def _local_iso(times: pd.DatetimeIndex, tz: ZoneInfo) -> list[str]:
    """ISO 8601 local times with a ``+hh:mm`` offset (``%:z`` needs Python 3.12)."""
    raw = times.tz_convert(tz).strftime("%Y-%m-%dT%H:%M:%S%z")
    return [f"{t[:-2]}:{t[-2:]}" for t in raw]


def _parse_dt(value: str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _distance_m(loc: Location, lat: float, lon: float) -> float:
    if loc.latitude is None or loc.longitude is None:
        return math.inf
    p1, p2 = math.radians(lat), math.radians(loc.latitude)
    dp, dl = p2 - p1, math.radians(loc.longitude - lon)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def main() -> None:  # pragma: no cover - manual use
    """Serve the synthetic dataset until Ctrl-C (``python -m aircast_dev.openaq_server``)."""
    import argparse

    from aircast_dev.synthetic import synthetic_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args()
    server = LocalOpenAQServer(
        synthetic_dataset(seed=args.seed), api_keys={args.api_key}, port=args.port
    )
    with server:
        print(f"OpenAQ-compatible server (synthetic data) at {server.url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
