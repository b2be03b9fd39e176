"""Caller-supplied histories on hourly windows, checked against a plain per-value oracle.

The rules (docs/api.md, "Caller-supplied histories"): a value's hour is its series' ``end``
truncated to the hour minus its distance from the end; nulls are missing hours; when several
series of one parameter cover an hour, it takes the mean of their non-null values (the
training grid's rule, aircast.features.hourly_values); parameters the model does not use are
ignored; the issue time is the newest hour with a non-null target value; a location with
fewer observed target hours than required among the 24 up to it is not forecast.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from aircast.features import FeatureSpec, history_hours
from aircast_api.forecasting import (
    RECENT_WINDOW_HOURS,
    UnforecastableError,
    history_windows,
)
from aircast_api.models import LocationHistory

SPEC = FeatureSpec(
    target="pm25", covariates=("no2", "temperature"), lags=(1, 2, 3, 24), windows=(3, 24)
)
END = datetime(2024, 3, 1, 12, tzinfo=UTC)
MIN_RECENT = 12


def _random_items(seed: int, count: int) -> list[LocationHistory]:
    rng = np.random.default_rng(seed)
    hours = history_hours(SPEC)
    items = []
    for index in range(count):
        history: list[dict[str, Any]] = []
        for _ in range(int(rng.integers(1, 5))):
            parameter = str(rng.choice(["pm25", "pm25", "no2", "temperature", "o3"]))
            length = int(rng.integers(1, 2 * hours + 10))
            values: list[float | None] = [round(float(v), 2) for v in rng.gamma(2, 10, length)]
            missing = rng.random(length) < float(rng.choice([0.0, 0.1, 0.6, 1.0]))
            values = [None if gone else v for v, gone in zip(values, missing, strict=True)]
            if rng.random() < 0.3:  # trailing gaps move the issue time back
                values[-int(rng.integers(1, 6)) :] = [None] * min(length, 5)
            # ends spread over ±2 days, some stamped inside the hour (truncated)
            end = END + timedelta(hours=int(rng.integers(-48, 6)))
            end += timedelta(seconds=int(rng.choice([0, 0, 59, 1799])))
            history.append({"parameter": parameter, "end": end.isoformat(), "values": values})
        items.append(
            LocationHistory.model_validate(
                {"location_id": 1000 + index, "timezone": "Europe/Paris", "history": history}
            )
        )
    return items


def _oracle(items: list[LocationHistory]) -> tuple[list[str], list[int], np.ndarray, list[int]]:
    """Reasons (empty when usable), usable positions, their windows and issue hours."""
    hours = history_hours(SPEC)
    reasons, picked, windows, issues = [], [], [], []
    for item in items:
        given: dict[tuple[int, int], list[float]] = {}
        for series in item.history:
            if series.parameter not in SPEC.parameters:
                continue
            code = SPEC.parameters.index(series.parameter)
            end = int(series.end.timestamp()) // 3600
            for position, value in enumerate(series.values):
                if value is not None:
                    hour = end - (len(series.values) - 1 - position)
                    given.setdefault((code, hour), []).append(value)
        # several values of one hour: their mean, summed in request order
        observed = {key: sum(values) / len(values) for key, values in given.items()}
        target_hours = [hour for code, hour in observed if code == 0]
        if not target_hours:
            reasons.append("no pm25 values")
            continue
        issue = max(target_hours)
        if sum(hour > issue - RECENT_WINDOW_HOURS for hour in target_hours) < MIN_RECENT:
            reasons.append("history too short")
            continue
        window = np.full((len(SPEC.parameters), hours), np.nan)
        for (code, hour), value in observed.items():
            back = issue - hour
            if 0 <= back < hours:
                window[code, hours - 1 - back] = value
        reasons.append("")
        picked.append(len(reasons) - 1)
        windows.append(window)
        issues.append(issue)
    empty = np.zeros((0, len(SPEC.parameters), hours))
    return reasons, picked, np.asarray(windows) if windows else empty, issues


@pytest.mark.parametrize("seed", range(6))
def test_windows_follow_the_per_value_rules(seed: int) -> None:
    items = _random_items(seed, 40)
    reasons, picked, expected, issues = _oracle(items)
    results, batch, got_picked = history_windows(SPEC, items, MIN_RECENT)

    assert got_picked == picked
    for result, reason in zip(results, reasons, strict=True):
        if reason:
            assert isinstance(result, str)
            assert result.startswith(reason)
    if not picked:
        assert batch is None
        return
    assert batch is not None
    np.testing.assert_array_equal(batch.windows, expected)
    assert batch.issue_hour.tolist() == issues
    assert batch.location_id.tolist() == [items[i].location_id for i in picked]


def test_every_rule_is_exercised_by_the_random_histories() -> None:
    """The generator above reaches each case the oracle distinguishes."""
    reasons = [r for seed in range(6) for r in _oracle(_random_items(seed, 40))[0]]
    assert {"", "no pm25 values", "history too short"} <= set(reasons)
    # hours given several different non-null values, where the mean rule decides
    shared = 0
    for seed in range(6):
        for item in _random_items(seed, 40):
            given: dict[tuple[str, int], set[float]] = {}
            for series in item.history:
                end = int(series.end.timestamp()) // 3600
                for position, value in enumerate(series.values):
                    if value is not None:
                        hour = end - (len(series.values) - 1 - position)
                        given.setdefault((series.parameter, hour), set()).add(value)
            shared += sum(len(values) > 1 for values in given.values())
    assert shared > 100


def test_an_hour_given_twice_takes_the_mean_of_its_non_null_values() -> None:
    """Two overlapping pm25 series: an hour with two values gets their mean, an hour with a
    value and a null keeps the value, whichever series comes first."""
    hours = 30
    first = [10.0] * hours
    second: list[float | None] = [30.0, None, 50.0]  # the last three hours again
    for order in ((first, second), (second, first)):
        item = LocationHistory.model_validate(
            {
                "history": [
                    {"parameter": "pm25", "end": END.isoformat(), "values": values}
                    for values in order
                ]
            }
        )
        _, batch, _ = history_windows(SPEC, [item], MIN_RECENT)
        assert batch is not None
        assert batch.windows[0, 0, -3:].tolist() == [20.0, 10.0, 30.0]
        assert batch.windows[0, 0, -4] == 10.0


def test_a_series_end_outside_the_supported_years_is_refused() -> None:
    item = LocationHistory.model_validate(
        {"history": [{"parameter": "pm25", "end": "2300-01-01T00:00:00Z", "values": [1.0]}]}
    )
    with pytest.raises(UnforecastableError, match=r"locations\.0: series end 2300"):
        history_windows(SPEC, [item], MIN_RECENT)
