"""aircast.aqi: the EPA's 2024 PM breakpoints at every edge, its worked examples, the NowCast."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aircast.aqi import (
    CATEGORIES,
    PM10,
    PM25,
    AqiCategory,
    has_aqi,
    index_arrays,
    nowcast,
    reading,
)

C = AqiCategory

# (low, high) of each row and its (aqi_low, aqi_high, category): EPA-454/B-24-002, Table 6
PM25_ROWS = [
    (0.0, 9.0, 0, 50, C.GOOD),
    (9.1, 35.4, 51, 100, C.MODERATE),
    (35.5, 55.4, 101, 150, C.UNHEALTHY_FOR_SENSITIVE_GROUPS),
    (55.5, 125.4, 151, 200, C.UNHEALTHY),
    (125.5, 225.4, 201, 300, C.VERY_UNHEALTHY),
    (225.5, 325.4, 301, 500, C.HAZARDOUS),
]
PM10_ROWS = [
    (0, 54, 0, 50, C.GOOD),
    (55, 154, 51, 100, C.MODERATE),
    (155, 254, 101, 150, C.UNHEALTHY_FOR_SENSITIVE_GROUPS),
    (255, 354, 151, 200, C.UNHEALTHY),
    (355, 424, 201, 300, C.VERY_UNHEALTHY),
    (425, 604, 301, 500, C.HAZARDOUS),
]


def _edges(rows: list[tuple]) -> list[tuple[float, int, AqiCategory]]:  # type: ignore[type-arg]
    cases = []
    for low, high, aqi_low, aqi_high, category in rows:
        cases.append((low, aqi_low, category))
        cases.append((high, aqi_high, category))
    return cases


@pytest.mark.parametrize(("concentration", "aqi", "category"), _edges(PM25_ROWS))
def test_every_pm25_breakpoint_edge(concentration: float, aqi: int, category: AqiCategory) -> None:
    got = reading(concentration, "pm25")
    assert got is not None
    assert (got.aqi, got.category, got.concentration) == (aqi, category, concentration)


@pytest.mark.parametrize(("concentration", "aqi", "category"), _edges(PM10_ROWS))
def test_every_pm10_breakpoint_edge(concentration: float, aqi: int, category: AqiCategory) -> None:
    got = reading(concentration, "pm10")
    assert got is not None
    assert (got.aqi, got.category) == (aqi, category)


@pytest.mark.parametrize(
    ("parameter", "concentration", "truncated", "aqi", "category"),
    [
        # between two rows: truncation (not rounding) decides the row
        ("pm25", 9.09, 9.0, 50, C.GOOD),
        ("pm25", 35.49, 35.4, 100, C.MODERATE),
        ("pm25", 55.45, 55.4, 150, C.UNHEALTHY_FOR_SENSITIVE_GROUPS),
        ("pm25", 125.49, 125.4, 200, C.UNHEALTHY),
        ("pm25", 225.499, 225.4, 300, C.VERY_UNHEALTHY),
        ("pm25", 325.49, 325.4, 500, C.HAZARDOUS),
        ("pm10", 54.9, 54.0, 50, C.GOOD),
        ("pm10", 154.99, 154.0, 100, C.MODERATE),
        ("pm10", 604.9, 604.0, 500, C.HAZARDOUS),
    ],
)
def test_concentrations_are_truncated_before_the_lookup(
    parameter: str, concentration: float, truncated: float, aqi: int, category: AqiCategory
) -> None:
    got = reading(concentration, parameter)
    assert got is not None
    assert (got.concentration, got.aqi, got.category) == (truncated, aqi, category)


def test_decimal_values_are_not_truncated_by_float_noise() -> None:
    # 9.1 is 9.0999999999999996 as a float; 0.1 + 0.2 is 0.30000000000000004
    assert reading(9.1, "pm25") == reading(9.10, "pm25")
    assert reading(9.1, "pm25").aqi == 51  # type: ignore[union-attr]
    assert reading(0.1 + 0.2, "pm25").concentration == 0.3  # type: ignore[union-attr]
    assert reading(0.7 * 10, "pm10").concentration == 7.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("concentration", "aqi"),
    [
        # the AQI equation, rounded half up (hand-checked):
        # 49 / 19.9 x (35.9 - 35.5) + 101 = 101.98
        (35.9, 102),
        # 49 / 26.3 x (12.0 - 9.1) + 51 = 56.40: 12.0 was the top of "Good" before 2024
        (12.0, 56),
        # 99 / 99.9 x (150.5 - 125.5) + 201 = 225.77: 150.5 was the Very Unhealthy edge before
        (150.5, 226),
        # 50 / 9.0 x 4.5 = 25.0 exactly; 50 / 9.0 x 0.9 = 5.0
        (4.5, 25),
        (0.9, 5),
        # 49 / 26.3 x (22.3 - 9.1) + 51 = 75.59 and 49 / 26.3 x 13.1 + 51 = 75.41
        (22.3, 76),
        (22.2, 75),
    ],
)
def test_aqi_equation(concentration: float, aqi: int) -> None:
    got = reading(concentration, "pm25")
    assert got is not None
    assert got.aqi == aqi


def test_every_truncated_concentration_gets_the_exact_rounded_index() -> None:
    """Against exact fractions, for every 0.1 µg/m³ (PM2.5) and 1 µg/m³ (PM10) of the tables.

    No concentration of either table lands on a half, so how ties are broken never matters.
    """
    from fractions import Fraction

    for scale in (PM25, PM10):
        for row in scale.breakpoints:
            units = np.arange(row.low, row.high + 1)
            aqi, category = index_arrays(units / scale.units_per_ug, scale.parameter)
            assert {CATEGORIES[c] for c in category.tolist()} == {row.category}
            slope = Fraction(row.aqi_high - row.aqi_low, row.high - row.low)
            for unit, value in zip(units.tolist(), aqi.tolist(), strict=True):
                exact = slope * (unit - row.low) + row.aqi_low
                assert exact.denominator != 2
                assert value == round(exact), (scale.parameter, unit)


def test_beyond_the_aqi_has_no_index_and_its_own_category() -> None:
    for parameter, value in (("pm25", 325.5), ("pm25", 900.0), ("pm10", 605.0)):
        got = reading(value, parameter)
        assert got is not None
        assert got.aqi is None
        assert got.category is C.BEYOND_THE_AQI
        assert got.concentration == value
    assert PM25.ceiling == 325.4
    assert PM10.ceiling == 604.0


def test_negative_concentrations_read_as_zero_and_nan_as_nothing() -> None:
    assert reading(-2.5, "pm25") == reading(0.0, "pm25")
    assert reading(-2.5, "pm25").aqi == 0  # type: ignore[union-attr]
    assert reading(float("nan"), "pm25") is None
    assert reading(float("inf"), "pm25") is None


def test_only_particulate_matter_has_an_aqi() -> None:
    assert has_aqi("pm25")
    assert has_aqi("pm10")
    for parameter in ("no2", "o3", "temperature", "relativehumidity"):
        assert not has_aqi(parameter)
        with pytest.raises(ValueError, match="no AQI"):
            reading(10.0, parameter)


def test_vectorised_and_scalar_readings_agree_everywhere() -> None:
    grid = np.concatenate([np.arange(0, 700, 0.01), [np.nan, -1.0, 1e6]])
    for parameter in ("pm25", "pm10"):
        aqi, category = index_arrays(grid, parameter)
        for value, a, c in zip(grid[::37].tolist(), aqi[::37], category[::37], strict=True):
            got = reading(value, parameter)
            if got is None:
                assert c == -1
                continue
            assert got.aqi == (None if a < 0 else a)
            assert got.category is CATEGORIES[c]
        # the index never decreases with the concentration, inside the AQI
        inside = aqi[: int(np.argmax(aqi < 0))] if (aqi < 0).any() else aqi
        assert np.all(np.diff(inside) >= 0)


# ---------------------------------------------------------------- NowCast

# AirNow's training example "Computing the NowCast" (EPA), oldest first as on the slide:
# range 90 - 10 = 80, weight 1 - 80/90 = 0.11 -> 0.5, NowCast 17.4 µg/m³.
AIRNOW_OLDEST_FIRST = [50, 80, 75, 90, 82, 53, 64, 74, 21, 10, 16, 13]


def test_nowcast_airnow_worked_example() -> None:
    value = nowcast(AIRNOW_OLDEST_FIRST[::-1])
    assert value is not None
    assert math.floor(value * 10) / 10 == 17.4
    assert value == pytest.approx(17.4139, abs=1e-4)
    got = reading(value, "pm25")
    # 2024 table: 49 / 26.3 x (17.4 - 9.1) + 51 = 66.46
    assert got is not None
    assert (got.concentration, got.aqi, got.category) == (17.4, 66, C.MODERATE)


def test_nowcast_of_steady_air_is_the_plain_mean() -> None:
    assert nowcast([12.0] * 12) == pytest.approx(12.0)
    # w = 10 / 11 ≈ 0.909 > 0.5: every hour weighted, the newest most
    values = [11.0, 10.0] * 6
    w = 10.0 / 11.0
    expected = sum(w**i * v for i, v in enumerate(values)) / sum(w**i for i in range(12))
    assert nowcast(values) == pytest.approx(expected)


def test_nowcast_pulse_is_truncated_before_its_aqi() -> None:
    # One hour of 71 µg/m³ after eleven clean hours: w* = 0 -> 0.5;
    # 71 / (1 + 0.5 + ... + 0.5**11) = 35.5087 -> 35.5 -> AQI 101 (not 100)
    value = nowcast([71.0] + [0.0] * 11)
    assert value == pytest.approx(71 / (2 - 0.5**11))
    got = reading(value, "pm25")  # type: ignore[arg-type]
    assert got is not None
    assert (got.concentration, got.aqi) == (35.5, 101)


def test_nowcast_weights_missing_hours_by_hours_ago() -> None:
    # c1 = 10, c2 missing, c3 = 20: w = 0.5, weights 1 and 0.25 (not 1 and 0.5)
    assert nowcast([10.0, None, 20.0]) == pytest.approx((10 + 0.25 * 20) / 1.25)


@pytest.mark.parametrize(
    ("newest_first", "valid"),
    [
        ([5.0, 5.0, 5.0], True),
        ([5.0, 5.0, None], True),
        ([5.0, None, 5.0], True),
        ([None, 5.0, 5.0], True),
        ([5.0, None, None, 5.0, 5.0, 5.0], False),
        ([None, 5.0, None, 5.0, 5.0], False),
        ([None, None, 5.0, 5.0, 5.0], False),
        ([5.0, float("nan"), None] + [5.0] * 9, False),  # NaN is missing too
        ([5.0], False),
        ([], False),
    ],
)
def test_nowcast_needs_two_of_the_three_newest_hours(
    newest_first: list[float | None], valid: bool
) -> None:
    assert (nowcast(newest_first) is not None) is valid


def test_nowcast_uses_twelve_hours_only() -> None:
    assert nowcast([10.0] * 12 + [1000.0]) == pytest.approx(10.0)


def test_nowcast_of_clean_air_and_noise_around_zero() -> None:
    assert nowcast([0.0] * 12) == 0.0
    value = nowcast([-1.0, -2.0, 0.0])
    assert value is not None
    assert reading(value, "pm25").aqi == 0  # type: ignore[union-attr]


def test_aqi_parameters_are_in_the_catalogue() -> None:
    from aircast.aqi import SCALES
    from aircast.parameters import BY_NAME

    for name in SCALES:
        assert BY_NAME[name].canonical_unit == "µg/m³"
