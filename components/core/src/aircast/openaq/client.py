"""OpenAQ API v3 client: discovery, sensors and hourly series, within the rate budget.

The client keeps under the per-key budget two ways: it paces itself (no more than
``requests_per_minute`` requests in any rate window), and it obeys the server's
``x-ratelimit-remaining``/``x-ratelimit-reset`` headers (sleeping ``reset`` seconds when the
budget is spent, and on a 429). 5xx answers, timeouts, dropped connections and unreadable
bodies are retried with exponential backoff and full jitter; 401/403/404/410/422 raise an
:class:`OpenAQError` naming the cause and the fix.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pandas as pd

from aircast.openaq.models import Location, Sensor
from aircast.pacing import Pacer, backoff
from aircast.schemas import RAW_COLUMNS
from aircast.settings import OpenAQSettings

SOURCE = "openaq-api"
# The docs advise windows of at most a year for /hours.
MAX_WINDOW = timedelta(days=365)


class OpenAQError(RuntimeError):
    """An OpenAQ request failed in a way retrying will not fix; the message says why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class OpenAQAuthError(OpenAQError):
    """401/403: the key is missing, wrong, or blocked."""


class OpenAQNotFoundError(OpenAQError):
    """404: the location or sensor id does not exist."""


@dataclass
class RequestStats:
    """What the client did: requests sent, retries, 429s and seconds spent waiting."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0


def _detail(response: httpx.Response) -> str:
    """The server's error message: ``detail``/``message`` of a JSON object, or a JSON string."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("message") or body)[:300]
    return str(body)[:300]


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(value: datetime | str | pd.Timestamp) -> datetime:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


class OpenAQClient:
    """A synchronous OpenAQ v3 client; use it as a context manager (it owns an HTTP pool)."""

    def __init__(
        self,
        settings: OpenAQSettings | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or OpenAQSettings()
        key = api_key
        if key is None and self.settings.openaq_api_key is not None:
            key = self.settings.openaq_api_key.get_secret_value()
        headers = {"Accept": "application/json", "User-Agent": "aircast"}
        if key:
            headers["X-API-Key"] = key
        self._http = httpx.Client(
            base_url=(base_url or self.settings.openaq_base_url).rstrip("/") + "/",
            headers=headers,
            timeout=self.settings.openaq_timeout,
            transport=transport,
        )
        self._has_key = bool(key)
        self.stats = RequestStats()
        self._pacer = Pacer(
            self.settings.openaq_requests_per_minute,
            self.settings.openaq_rate_window_seconds,
            sleep=sleep,
            clock=clock,
            on_wait=self._count_wait,
        )

    def __enter__(self) -> OpenAQClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    # ---------------------------------------------------------------------------- transport

    def _count_wait(self, seconds: float) -> None:
        self.stats.waited_seconds += seconds

    def _note_rate_headers(self, response: httpx.Response) -> float:
        """Record the server's view of the budget; return its reset (seconds) if spent."""
        try:
            remaining = int(float(response.headers.get("x-ratelimit-remaining", "1")))
            reset = float(response.headers.get("x-ratelimit-reset", "0"))
        except ValueError:
            return 0.0
        if remaining <= 0 and reset > 0:
            self._pacer.pause(reset)
            return reset
        return 0.0

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path`` (relative to the base URL) and return the JSON object it answers."""
        attempt = 0
        consecutive_429 = 0
        while True:
            self._pacer.before_request()
            self.stats.requests += 1
            failure: str
            try:
                response = self._http.get(path, params=params)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status == 429:
                    self.stats.rate_limited += 1
                    consecutive_429 += 1
                    if consecutive_429 > 10:
                        raise OpenAQError(
                            "OpenAQ kept answering 429 Too Many Requests; another client is "
                            "using the same key: lower AIRCAST_OPENAQ_REQUESTS_PER_MINUTE.",
                            429,
                        )
                    reset = self._note_rate_headers(response)
                    base = self.settings.openaq_backoff_seconds
                    self._pacer.pause(reset or backoff(base, 1) + 1.0)
                    continue
                consecutive_429 = 0
                self._note_rate_headers(response)
                if status < 400:
                    try:
                        body = response.json()
                    except (ValueError, json.JSONDecodeError) as exc:
                        failure = f"unreadable JSON body ({exc})"
                    else:
                        if isinstance(body, dict):
                            return body
                        failure = f"unexpected body type {type(body).__name__}"
                elif status >= 500 or status == 408:
                    failure = f"HTTP {status}: {_detail(response)}"
                else:
                    raise self._client_error(path, response)
            if attempt >= self.settings.openaq_max_retries:
                raise OpenAQError(
                    f"OpenAQ request {path} failed after {attempt + 1} attempts ({failure}); "
                    "the service may be down: retry later (ingest resumes from the watermark).",
                )
            self.stats.retries += 1
            self._pacer.wait(backoff(self.settings.openaq_backoff_seconds, attempt))
            attempt += 1

    def _client_error(self, path: str, response: httpx.Response) -> OpenAQError:
        status = response.status_code
        detail = _detail(response)
        if status == 401:
            fix = (
                "set OPENAQ_API_KEY to a valid key (https://explore.openaq.org/register)"
                if not self._has_key
                else "OPENAQ_API_KEY is not accepted: check it on explore.openaq.org"
            )
            return OpenAQAuthError(f"OpenAQ refused the request (401 {detail}): {fix}.", 401)
        if status == 403:
            return OpenAQAuthError(
                f"OpenAQ forbade the request (403 {detail}): the key lacks access or the IP "
                "was rate-limited; wait and lower AIRCAST_OPENAQ_REQUESTS_PER_MINUTE.",
                403,
            )
        if status == 404:
            return OpenAQNotFoundError(
                f"OpenAQ has no {path} (404 {detail}): check the location/sensor id.", 404
            )
        if status == 410:
            return OpenAQError(
                f"OpenAQ retired this endpoint (410 {detail}): AIRCAST_OPENAQ_BASE_URL must "
                "point at the v3 API (https://api.openaq.org/v3).",
                410,
            )
        if status == 422:
            return OpenAQError(
                f"OpenAQ rejected the query parameters of {path} (422): {detail}", 422
            )
        return OpenAQError(f"OpenAQ answered {status} for {path}: {detail}", status)

    # ------------------------------------------------------------------------------ resources

    def _pages(self, path: str, params: dict[str, Any], limit: int) -> Iterator[list[Any]]:
        page = 1
        while True:
            body = self.get(path, {**params, "limit": limit, "page": page})
            results = body.get("results")
            if not isinstance(results, list):
                raise OpenAQError(f"OpenAQ answered {path} without a results list")
            yield results
            # meta.found can be the string ">1000"; a short page is the only reliable end.
            if len(results) < limit:
                return
            page += 1

    def location(self, location_id: int) -> Location:
        """One location (``/locations/{id}``) with its sensors and attribution."""
        results = self.get(f"locations/{int(location_id)}").get("results") or []
        if not results:
            raise OpenAQNotFoundError(f"OpenAQ has no location {location_id}", 404)
        return parse_location(results[0])

    def locations(
        self,
        *,
        ids: Sequence[int] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        coordinates: tuple[float, float] | None = None,
        radius: int | None = None,
        iso: str | None = None,
        parameter_ids: Sequence[int] | None = None,
        monitor: bool | None = None,
    ) -> list[Location]:
        """Discover locations by ids, bbox, (lat, lon) + radius in metres, or country ISO code.

        ``parameter_ids`` and ``monitor`` filter the search (for ``ids`` they filter the result).
        """
        if ids:
            found = [self.location(i) for i in ids]
            if parameter_ids:
                wanted = set(parameter_ids)
                found = [loc for loc in found if any(s.parameter_id in wanted for s in loc.sensors)]
            if monitor is not None:
                found = [loc for loc in found if loc.is_monitor == monitor]
            return found
        params: dict[str, Any] = {}
        if bbox is not None:
            if coordinates is not None:
                raise ValueError("bbox and coordinates are exclusive; pass one of them")
            params["bbox"] = ",".join(f"{v:g}" for v in bbox)
        if coordinates is not None:
            if radius is None or not 1 <= radius <= 25_000:
                raise ValueError("coordinates need a radius between 1 and 25000 metres")
            # OpenAQ reads coordinates as latitude,longitude.
            params["coordinates"] = f"{coordinates[0]:g},{coordinates[1]:g}"
            params["radius"] = radius
        if iso:
            params["iso"] = iso.upper()
        if parameter_ids:
            params["parameters_id"] = ",".join(str(p) for p in parameter_ids)
        if monitor is not None:
            params["monitor"] = str(monitor).lower()
        if not params.keys() - {"parameters_id", "monitor"}:
            raise ValueError("select locations by ids, bbox, coordinates+radius or iso")
        out: list[Location] = []
        for results in self._pages("locations", params, 1000):
            out.extend(parse_location(item) for item in results)
        return out

    def sensors(self, location_id: int) -> list[Sensor]:
        """The sensors of a location (``/locations/{id}/sensors``)."""
        out: list[Sensor] = []
        for results in self._pages(f"locations/{int(location_id)}/sensors", {}, 1000):
            out.extend(parse_sensor(item, location_id) for item in results)
        return out

    def hours(
        self,
        sensor: Sensor,
        since: datetime | str | pd.Timestamp,
        until: datetime | str | pd.Timestamp,
    ) -> Iterator[pd.DataFrame]:
        """Hourly values of a sensor in ``(since, until]``, one raw frame per page, oldest first.

        Windows longer than a year are split, as the OpenAQ docs advise.
        """
        start, end = _utc(since), _utc(until)
        limit = self.settings.openaq_page_limit
        while start < end:
            stop = min(end, start + MAX_WINDOW)
            params = {"datetime_from": _iso(start), "datetime_to": _iso(stop)}
            for results in self._pages(f"sensors/{sensor.sensor_id}/hours", params, limit):
                yield hours_frame(results, sensor)
            start = stop


def parse_sensor(item: dict[str, Any], location_id: int) -> Sensor:
    """A :class:`Sensor` from a v3 sensor object (camelCase)."""
    parameter = item.get("parameter") or {}
    return Sensor(
        sensor_id=int(item["id"]),
        location_id=int(location_id),
        parameter=str(parameter.get("name", "")).lower(),
        unit=str(parameter.get("units", "")),
        parameter_id=int(parameter["id"]) if parameter.get("id") is not None else None,
    )


def parse_location(item: dict[str, Any]) -> Location:
    """A :class:`Location` (with sensors, provider, owner and licence) from a v3 location."""
    location_id = int(item["id"])
    coords = item.get("coordinates") or {}
    licenses = item.get("licenses") or []
    first = licenses[0] if licenses else {}
    attribution = first.get("attribution") or {}
    return Location(
        location_id=location_id,
        name=str(item.get("name") or f"location {location_id}"),
        timezone=str(item.get("timezone") or "UTC"),
        latitude=coords.get("latitude"),
        longitude=coords.get("longitude"),
        country=(item.get("country") or {}).get("code"),
        locality=item.get("locality"),
        provider=(item.get("provider") or {}).get("name"),
        owner=(item.get("owner") or {}).get("name"),
        license="; ".join(str(lic.get("name")) for lic in licenses if lic.get("name")) or None,
        attribution=attribution.get("name"),
        attribution_url=attribution.get("url"),
        is_monitor=bool(item.get("isMonitor", True)),
        # Not an OpenAQ field: the local server marks its synthetic data with it.
        is_synthetic=bool(item.get("isSynthetic", False)),
        sensors=tuple(parse_sensor(s, location_id) for s in item.get("sensors") or []),
    )


def hours_frame(results: list[dict[str, Any]], sensor: Sensor) -> pd.DataFrame:
    """A raw measurements frame from ``/hours`` results (hour-ending ``datetime``).

    Items missing fields become rows with nulls, so validation rejects them with a reason
    instead of the parser dropping them.
    """
    rows = []
    for entry in results:
        item: dict[str, Any] = entry if isinstance(entry, dict) else {}
        period = item.get("period") or {}
        parameter = item.get("parameter") or {}
        coverage = item.get("coverage") or {}
        rows.append(
            (
                sensor.location_id,
                sensor.sensor_id,
                parameter.get("name") or sensor.parameter,
                (period.get("datetimeTo") or {}).get("utc"),
                item.get("value"),
                parameter.get("units") or sensor.unit,
                coverage.get("observedCount"),
                SOURCE,
            )
        )
    frame = pd.DataFrame(rows, columns=list(RAW_COLUMNS))
    frame["datetime"] = pd.to_datetime(
        frame["datetime"], utc=True, errors="coerce", format="ISO8601"
    ).astype("datetime64[ns, UTC]")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    frame["coverage_count"] = pd.to_numeric(frame["coverage_count"], errors="coerce").astype(
        "Int64"
    )
    # The full schema check happens once, in validation; this only fixes the dtypes.
    return frame
