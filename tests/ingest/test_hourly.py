"""Hour-ending averaging of raw readings (aircast.hourly), the archive file parser and the CSV
export's sub-hourly rows. Unit tests: no services."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aircast.hourly import hour_ending, hour_ending_means
from aircast.openaq.archive import CorruptArchiveFileError, archive_frame, parse_archive_file
from aircast.openaq.csv_export import export_frame
from aircast.schemas import validate_measurements

HEADER = '"location_id","sensors_id","location","datetime","lat","lon","parameter","units","value"'


def readings(times: list[str], values: list[float], **columns: object) -> pd.DataFrame:
    """Raw readings of one pm25 sensor at ``times`` (ISO strings with offsets)."""
    base: dict[str, object] = {
        "location_id": 7, "sensor_id": 70, "parameter": "pm25", "unit": "µg/m³",
        "coverage_count": pd.NA, "source": "test", **columns,
    }  # fmt: skip
    return pd.DataFrame(
        {
            **{k: [v] * len(times) for k, v in base.items()},
            "datetime": pd.to_datetime(times, utc=True, format="ISO8601"),
            "value": values,
        }
    )


def as_tuples(frame: pd.DataFrame) -> list[tuple[str, float, int]]:
    return [
        (t.isoformat(), round(float(v), 9), int(c))
        for t, v, c in zip(frame["datetime"], frame["value"], frame["coverage_count"], strict=True)
    ]


def test_a_reading_on_the_hour_belongs_to_the_hour_it_ends() -> None:
    out = hour_ending_means(
        readings(
            ["2025-01-01T09:00:01Z", "2025-01-01T09:30:00Z", "2025-01-01T10:00:00Z",
             "2025-01-01T10:00:01Z"],
            [1.0, 2.0, 6.0, 50.0],
        )
    )  # fmt: skip
    assert as_tuples(out) == [
        ("2025-01-01T10:00:00+00:00", 3.0, 3),
        ("2025-01-01T11:00:00+00:00", 50.0, 1),
    ]


def test_offsets_are_read_and_hours_are_binned_in_utc() -> None:
    # Three spellings of 05:00Z, and a half-hour offset (India) that lands mid-UTC-hour.
    out = hour_ending_means(
        readings(
            ["2024-06-01T10:30:00+05:30", "2024-06-01T01:00:00-04:00", "2024-06-01T05:00:00Z",
             "2024-06-01T10:45:00+05:30"],
            [3.0, 6.0, 9.0, 100.0],
        )
    )  # fmt: skip
    assert as_tuples(out) == [
        ("2024-06-01T05:00:00+00:00", 6.0, 3),
        ("2024-06-01T06:00:00+00:00", 100.0, 1),
    ]


def test_dst_days_keep_every_local_hour_apart() -> None:
    # New York falls back on 2024-11-03: local 01:00-02:00 happens twice (EDT, then EST).
    fall = hour_ending_means(
        readings(
            ["2024-11-03T01:30:00-04:00", "2024-11-03T02:00:00-04:00",
             "2024-11-03T01:30:00-05:00", "2024-11-03T02:00:00-05:00"],
            [10.0, 20.0, 30.0, 40.0],
        )
    )  # fmt: skip
    assert as_tuples(fall) == [
        ("2024-11-03T06:00:00+00:00", 15.0, 2),
        ("2024-11-03T07:00:00+00:00", 35.0, 2),
    ]
    # Zurich springs forward on 2024-03-31: 02:00-03:00 local does not exist; 01:59+01:00
    # and 03:01+02:00 are two minutes apart and in consecutive UTC hours.
    spring = hour_ending_means(
        readings(["2024-03-31T01:59:00+01:00", "2024-03-31T03:01:00+02:00"], [1.0, 2.0])
    )
    assert as_tuples(spring) == [
        ("2024-03-31T01:00:00+00:00", 1.0, 1),
        ("2024-03-31T02:00:00+00:00", 2.0, 1),
    ]


def test_bad_readings_are_rejected_one_by_one_not_averaged_in() -> None:
    raw = hour_ending_means(
        readings(
            ["2025-01-01T09:10:00Z", "2025-01-01T09:20:00Z", "2025-01-01T09:30:00Z",
             "2025-01-01T09:40:00Z", "2025-01-01T09:50:00Z"],
            [10.0, -999.0, 20.0, -3.0, 4500.0],
        )
    )  # fmt: skip
    result = validate_measurements(raw)
    assert as_tuples(result.clean) == [("2025-01-01T10:00:00+00:00", 15.0, 2)]
    assert sorted(result.rejected["reason"]) == [
        "negative_value", "out_of_range", "placeholder_value",
    ]  # fmt: skip
    # Rejections are recorded at the hour they would have counted in, with their own value.
    assert set(result.rejected["datetime"]) == {pd.Timestamp("2025-01-01T10:00:00Z")}
    assert sorted(result.rejected["value"]) == [-999.0, -3.0, 4500.0]


def test_units_are_converted_before_averaging_and_series_stay_apart() -> None:
    ppb = readings(
        ["2025-01-01T09:30:00Z", "2025-01-01T10:00:00Z"], [10.0, 20.0],
        parameter="no2", unit="ppb", sensor_id=71,
    )  # fmt: skip
    ugm3 = readings(["2025-01-01T10:00:00Z"], [5.0], sensor_id=70)
    out = hour_ending_means(pd.concat([ppb, ugm3], ignore_index=True))
    assert list(out["sensor_id"]) == [70, 71]
    assert list(out["unit"]) == ["µg/m³", "µg/m³"]
    assert out["value"].iloc[1] == pytest.approx(15.0 * 46.0055 / 24.45)
    assert validate_measurements(out).rejected.empty


def test_an_unreadable_time_is_kept_for_validation_to_reject() -> None:
    raw = readings(["2025-01-01T09:30:00Z"], [1.0])
    raw.loc[len(raw)] = {**raw.iloc[0].to_dict(), "datetime": pd.NaT, "value": 2.0}
    result = validate_measurements(hour_ending_means(raw))
    assert len(result.clean) == 1
    assert list(result.rejected["reason"]) == ["invalid_datetime"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6 * 3600), st.floats(0, 500, allow_nan=False)),
        min_size=1,
        max_size=60,
    )
)
def test_every_reading_counts_once_in_the_hour_that_contains_it(
    points: list[tuple[int, float]],
) -> None:
    start = pd.Timestamp("2025-01-01T00:00:00Z")
    times = [(start + pd.Timedelta(seconds=s)).isoformat() for s, _ in points]
    frame = readings(times, [v for _, v in points])
    out = hour_ending_means(frame)
    assert int(out["coverage_count"].sum()) == len(points)
    hours = hour_ending(frame["datetime"])
    after_start = hours - pd.Timedelta(hours=1) < frame["datetime"]
    assert (after_start & (frame["datetime"] <= hours)).all()
    for hour, value in zip(out["datetime"], out["value"], strict=True):
        inside = [v for t, (_, v) in zip(hours, points, strict=True) if t == hour]
        assert value == pytest.approx(sum(inside) / len(inside))


def test_archive_files_are_parsed_with_quoted_headers_and_local_offsets() -> None:
    body = "\n".join(
        [
            HEADER,
            '2178,3920,"Del Norte-2178","2023-02-22T00:58:00-07:00",35.1,-106.5,"pm25","µg/m³",4',
            '2178,3920,"Del Norte-2178","2023-02-22T01:00:00-07:00",35.1,-106.5,"pm25","µg/m³",6',
            '2178,3919,"Del Norte-2178","2023-02-22T01:00:00-07:00",35.1,-106.5,"pm10","µg/m³",14',
        ]
    )
    frame = parse_archive_file(gzip.compress(body.encode()), "k")
    hourly = archive_frame(frame)
    assert hourly[["sensor_id", "datetime", "value", "coverage_count"]].values.tolist() == [
        [3919, pd.Timestamp("2023-02-22T08:00:00Z"), 14.0, 1],
        [3920, pd.Timestamp("2023-02-22T08:00:00Z"), 5.0, 2],
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"\x1f\x8b\x08\x00garbage",  # a gzip header over garbage
        gzip.compress(b"not,an,archive\n1,2,3\n"),  # readable, wrong columns
        gzip.compress(HEADER.encode() + b"\n1,2,x,y")[:-6],  # truncated gzip
    ],
)
def test_a_corrupt_archive_file_is_reported(body: bytes) -> None:
    with pytest.raises(CorruptArchiveFileError, match="the-key"):
        parse_archive_file(body, "the-key")


def test_sub_hourly_export_rows_are_averaged_not_rejected() -> None:
    rows = [
        ("2025-01-01T09:02:00Z", 10.0), ("2025-01-01T09:32:00Z", 14.0),
        ("2025-01-01T10:00:00Z", 18.0), ("2025-01-01T10:02:00Z", 30.0),
    ]  # fmt: skip
    export = pd.DataFrame(
        {
            "location_id": 5, "location_name": "AirGradient", "parameter": "pm25",
            "value": [v for _, v in rows], "unit": "µg/m³",
            "datetimeUtc": [t for t, _ in rows],
        }
    )  # fmt: skip
    result = validate_measurements(export_frame(export))
    assert result.rejected.empty
    assert as_tuples(result.clean) == [
        ("2025-01-01T10:00:00+00:00", 14.0, 3),
        ("2025-01-01T11:00:00+00:00", 30.0, 1),
    ]
