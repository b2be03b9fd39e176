"""Domain records for OpenAQ locations and sensors, shared by every source and the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aircast.parameters import OPENAQ_IDS

#: Parameter ids of the OpenAQ catalogue for the parameters aircast fetches by id.
PARAMETER_IDS: Mapping[str, int] = OPENAQ_IDS


@dataclass(frozen=True)
class Sensor:
    """One sensor of a location: a single parameter in a single unit."""

    sensor_id: int
    location_id: int
    parameter: str
    unit: str
    parameter_id: int | None = None


@dataclass(frozen=True)
class Location:
    """A monitoring location with the attribution OpenAQ's terms require us to keep."""

    location_id: int
    name: str
    timezone: str
    latitude: float | None = None
    longitude: float | None = None
    country: str | None = None
    locality: str | None = None
    provider: str | None = None
    owner: str | None = None
    license: str | None = None
    attribution: str | None = None
    attribution_url: str | None = None
    is_monitor: bool = True
    is_synthetic: bool = False
    sensors: tuple[Sensor, ...] = field(default_factory=tuple)
