"""The parameter catalogue is the one source every parameter list is derived from."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import yaml

from aircast import parameters
from aircast.features import FeatureSpec
from aircast.openaq.models import PARAMETER_IDS
from aircast.schemas import CANONICAL_UNITS, NON_NEGATIVE, PHYSICAL_RANGE, validate_measurements
from aircast_api.models import Parameter
from aircast_dev.openaq_server import _PARAMETER_DISPLAY

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "openapi.yaml"


def test_names_are_unique_and_every_target_is_fetched_by_id() -> None:
    names = [p.name for p in parameters.CATALOGUE]
    assert len(names) == len(set(names))
    for name in parameters.TARGETS:
        assert parameters.BY_NAME[name].openaq_id is not None, name


def test_derived_tables_follow_the_catalogue() -> None:
    assert dict(PARAMETER_IDS) == {
        p.name: p.openaq_id for p in parameters.CATALOGUE if p.openaq_id is not None
    }
    assert set(CANONICAL_UNITS) == set(PHYSICAL_RANGE) == set(parameters.BY_NAME)
    assert {p.name for p in parameters.CATALOGUE if p.valid_range[0] >= 0} == NON_NEGATIVE
    assert "temperature" not in NON_NEGATIVE
    assert set(_PARAMETER_DISPLAY) == set(parameters.BY_NAME)
    # The stored unit keeps OpenAQ's spelling; forecasts report the display unit.
    assert CANONICAL_UNITS["temperature"] == "c"
    assert FeatureSpec(target="temperature").unit == "°C"
    assert FeatureSpec(target="pm25").unit == "µg/m³"


def _parameter_enums(node: Any) -> list[list[str]]:
    found: list[list[str]] = []
    if isinstance(node, dict):
        if "pm25" in node.get("enum", []):
            found.append(node["enum"])
        for value in node.values():
            found.extend(_parameter_enums(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_parameter_enums(value))
    return found


def test_the_api_enum_and_the_contract_list_the_targets() -> None:
    """Every parameter enum of the contract is the forecast targets, except the NowCast's,
    which is the parameters with an AQI (aircast.aqi)."""
    from aircast.aqi import SCALES
    from aircast_api.air_quality import AqiParameter

    assert get_args(Parameter) == parameters.TARGETS
    assert tuple(member.value for member in AqiParameter) == tuple(SCALES)
    contract = yaml.safe_load(CONTRACT.read_text())
    enums = _parameter_enums(contract)
    forecast = [enum for enum in enums if tuple(enum) != tuple(SCALES)]
    assert len(forecast) >= 3
    assert all(tuple(enum) == parameters.TARGETS for enum in forecast)
    # the NowCast's, once: the named schema its query parameter and response field refer to
    assert len(enums) - len(forecast) == 1
    assert tuple(contract["components"]["schemas"]["AqiParameter"]["enum"]) == tuple(SCALES)


def test_validation_uses_the_catalogue_ranges() -> None:
    import pandas as pd

    low, high = parameters.VALID_RANGES["relativehumidity"]
    raw = pd.DataFrame(
        {
            "location_id": [1, 1],
            "sensor_id": [7, 7],
            "parameter": ["relativehumidity", "relativehumidity"],
            "datetime": pd.to_datetime(["2024-01-01T01:00Z", "2024-01-01T02:00Z"]),
            "value": [high + 1.0, (low + high) / 2],
            "unit": ["%", "%"],
            "coverage_count": [1, 1],
            "source": ["test", "test"],
        }
    )
    result = validate_measurements(raw)
    assert list(result.clean["value"]) == [(low + high) / 2]
    assert list(result.rejected["reason"]) == ["out_of_range"]
