"""The parameter catalogue: every fact aircast keeps about an air-quality parameter, once.

Every other list is derived from :data:`CATALOGUE`: the OpenAQ parameter ids the client asks
for, the canonical units and plausible ranges the validation enforces, the units the
forecaster reports, the local OpenAQ server's display names and the API's ``parameter`` enum.
Adding a parameter is one entry here (see docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Parameter:
    """One parameter: its OpenAQ name and id, units, plausible range and whether aircast
    can forecast it."""

    name: str
    """OpenAQ's parameter name (``pm25``); the key everywhere in aircast."""
    label: str
    """Human name, as OpenAQ displays it."""
    openaq_id: int | None
    """OpenAQ catalogue id of the variant in the canonical unit; ``None``: not fetched by id."""
    canonical_unit: str
    """The unit values are stored in, as OpenAQ spells it (``c`` for degrees Celsius)."""
    display_unit: str
    """The unit forecasts report (``°C``)."""
    valid_range: tuple[float, float]
    """Physically plausible values in the canonical unit; outside is rejected at ingest."""
    target: bool
    """Whether aircast forecasts it (the API's ``parameter`` enum)."""

    @property
    def non_negative(self) -> bool:
        """Whether a negative value is physically impossible."""
        return self.valid_range[0] >= 0.0


_UG = "µg/m³"

CATALOGUE: tuple[Parameter, ...] = (
    Parameter("pm25", "PM2.5", 2, _UG, _UG, (0.0, 2000.0), target=True),
    Parameter("pm10", "PM10", 1, _UG, _UG, (0.0, 5000.0), target=True),
    Parameter("no2", "NO₂", 5, _UG, _UG, (0.0, 2000.0), target=True),
    Parameter("o3", "O₃", 3, _UG, _UG, (0.0, 1000.0), target=True),
    Parameter("temperature", "Temperature (C)", 100, "c", "°C", (-90.0, 60.0), target=True),
    Parameter("relativehumidity", "RH (%)", 98, "%", "%", (0.0, 100.0), target=True),
    # Accepted and stored (covariates), not forecast, not asked for by id.
    Parameter("pm1", "PM1", None, _UG, _UG, (0.0, 2000.0), target=False),
    Parameter("so2", "SO₂", None, _UG, _UG, (0.0, 3000.0), target=False),
    Parameter("co", "CO", None, _UG, _UG, (0.0, 100_000.0), target=False),
)

BY_NAME: Mapping[str, Parameter] = {p.name: p for p in CATALOGUE}
"""The catalogue by name."""

TARGETS: tuple[str, ...] = tuple(p.name for p in CATALOGUE if p.target)
"""Names of the parameters aircast can forecast, in catalogue order."""

OPENAQ_IDS: Mapping[str, int] = {p.name: p.openaq_id for p in CATALOGUE if p.openaq_id is not None}
"""OpenAQ catalogue id per parameter fetched by id."""

CANONICAL_UNITS: Mapping[str, str] = {p.name: p.canonical_unit for p in CATALOGUE}
"""Canonical (stored) unit per parameter."""

VALID_RANGES: Mapping[str, tuple[float, float]] = {p.name: p.valid_range for p in CATALOGUE}
"""Plausible range per parameter, in its canonical unit."""


def display_unit(parameter: str) -> str:
    """The unit forecasts of ``parameter`` are reported in (empty for an unknown parameter)."""
    entry = BY_NAME.get(parameter)
    return entry.display_unit if entry else ""
