"""`aircast ingest --from-csv` with a folder of OpenAQ Explorer exports: an AirNow-like hourly
monitor and an AirGradient-like sensor reporting every 2 minutes, over overlapping exports."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner

from aircast.cli import main
from aircast_dev.demo import Demo, DemoError, DemoOptions, export_age_allowance

from .conftest import snapshot

START = pd.Timestamp("2025-01-01T00:00:00Z")
COLUMNS = ("location_id,location_name,parameter,value,unit,datetimeUtc,datetimeLocal,timezone,"
           "latitude,longitude,country_iso,isMobile,isMonitor,owner_name,provider")  # fmt: skip


def _rows(location: int, name: str, readings: list[tuple[pd.Timestamp, float]]) -> list[str]:
    local = "America/Denver"
    return [
        f"{location},{name},pm25,{value},µg/m³,{t:%Y-%m-%dT%H:%M:%SZ},"
        f"{t.tz_convert(local).isoformat()},{local},35.1,-106.6,US,false,"
        f"{'true' if location == 10 else 'false'},Owner,{name}"
        for t, value in readings
    ]


def _write(path: Path, lines: list[str]) -> None:
    text = "\n".join([COLUMNS, *lines]) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")


def _low_cost(ks: range) -> list[tuple[pd.Timestamp, float]]:
    # Reading k is at k*2 min: the hour ending at hour h holds k in (30(h-1), 30h].
    return [
        (START + pd.Timedelta(minutes=2 * k), -999.0 if k == 45 else 10.0 * (-(-k // 30)) + k % 2)
        for k in ks
    ]


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    (folder / "more").mkdir(parents=True)
    hourly = [(START + pd.Timedelta(hours=h), 5.0 + h) for h in range(1, 8)]
    _write(folder / "airnow.csv", _rows(10, "AirNow", hourly))
    first = _low_cost(range(1, 181))
    _write(folder / "more" / "airgradient-1.csv.gz", _rows(20, "AirGradient", first))
    # A later export overlapping the first by an hour (31 identical readings).
    _write(folder / "airgradient-2.csv", _rows(20, "AirGradient", _low_cost(range(150, 211))))
    (folder / "README.txt").write_text("not an export")
    return folder


def test_a_folder_of_exports_is_averaged_into_hours_with_counts(
    db: str, exports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRCAST_DATABASE_URL", db)
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", "--from-csv", str(exports)])
    assert result.exit_code == 0, result.output
    assert "3 file(s), 31 repeated readings counted once" in " ".join(result.output.split())
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT location_id, datetime, value, coverage_count FROM measurements "
            "ORDER BY location_id, datetime"
        ).fetchall()
        rejected = conn.execute("SELECT reason, value FROM rejected_measurements").fetchall()
    hours = [START + pd.Timedelta(hours=h) for h in range(1, 8)]
    airnow = [(10, h.to_pydatetime(), 5.0 + i, 1) for i, h in enumerate(hours, start=1)]
    # 30 readings an hour, alternating 10h and 10h+1; hour 2 lost the -999 reading (k=45, odd).
    expected_low_cost = [
        (20, h.to_pydatetime(), 10.0 * i + 0.5, 30) for i, h in enumerate(hours, start=1)
    ]
    expected_low_cost[1] = (20, hours[1].to_pydatetime(), (15 * 20 + 14 * 21) / 29, 29)
    got = [(loc, dt, round(value, 9), count) for loc, dt, value, count in rows]
    expected = [(loc, dt, round(v, 9), c) for loc, dt, v, c in airnow + expected_low_cost]
    assert got == expected
    # Sub-hourly rows are not invalid_datetime any more; the sentinel is rejected on its own.
    assert rejected == [("placeholder_value", -999.0)]

    before = snapshot(db)
    again = runner.invoke(main, ["ingest", "--from-csv", str(exports)])
    assert again.exit_code == 0, again.output
    assert snapshot(db) == before


def test_a_folder_without_exports_is_a_one_line_error(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRCAST_DATABASE_URL", db)
    (tmp_path / "notes.txt").write_text("nothing here")
    result = CliRunner().invoke(main, ["ingest", "--from-csv", str(tmp_path)])
    assert result.exit_code == 2
    assert "holds no *.csv or *.csv.gz file" in " ".join(result.output.split())
    missing = CliRunner().invoke(main, ["ingest", "--from-csv", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert "does not exist" in " ".join(missing.output.split())


def test_the_demo_accepts_a_folder_of_exports(exports: Path, tmp_path: Path) -> None:
    demo = Demo(DemoOptions(from_csv=exports, logs_dir=tmp_path / "logs"))
    source, variables = demo._data_source()
    assert source == f"OpenAQ CSV exports in the folder {exports}"
    assert variables == {}
    with pytest.raises(DemoError, match="nothing at"):
        Demo(DemoOptions(from_csv=tmp_path / "nope", logs_dir=tmp_path / "logs"))._data_source()


def test_the_demo_serves_an_old_export_and_says_so(
    db: str, exports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRCAST_DATABASE_URL", db)
    monkeypatch.delenv("AIRCAST_API_MAX_DATA_AGE_HOURS", raising=False)
    assert CliRunner().invoke(main, ["ingest", "--from-csv", str(exports)]).exit_code == 0
    demo = Demo(DemoOptions(from_csv=exports, logs_dir=tmp_path / "logs"))
    demo.env["AIRCAST_DATABASE_URL"] = db
    with demo.console.capture() as printed:
        demo._serve_the_exports_age()
    # the export ends 2025-01-01 07:00: served for its age plus a day, not answered 409
    age = (pd.Timestamp.now(tz="UTC") - (START + pd.Timedelta(hours=7))) / pd.Timedelta(hours=1)
    allowed = int(demo.env["AIRCAST_API_MAX_DATA_AGE_HOURS"])
    assert age < allowed <= age + 25
    said = " ".join(printed.get().split())
    assert "AIRCAST_API_MAX_DATA_AGE_HOURS" in said
    assert "ends at 2025-01-01 07:00 UTC" in said
    # a limit the user set is theirs
    monkeypatch.setenv("AIRCAST_API_MAX_DATA_AGE_HOURS", "12")
    mine = Demo(DemoOptions(from_csv=exports, logs_dir=tmp_path / "logs"))
    mine.env["AIRCAST_DATABASE_URL"] = db
    mine._serve_the_exports_age()
    assert "AIRCAST_API_MAX_DATA_AGE_HOURS" not in mine.env


def test_a_fresh_export_keeps_the_stale_data_limit() -> None:
    now = pd.Timestamp("2026-01-01T12:00:00Z").to_pydatetime()
    assert export_age_allowance(None, now, 6.0) is None
    assert export_age_allowance(now - pd.Timedelta(hours=5), now, 6.0) is None
    assert export_age_allowance(now - pd.Timedelta(hours=30.5), now, 6.0) == 31 + 24
