"""Forecast skill on the Beijing Multi-Site data (12 stations, hourly, 2013-03..2017-02).

Train on 2013-03..2016-02, test on 2016-03..2017-02 (Beijing local time), PM2.5, all 12
stations, with the co-located pollutants and weather fed through the same
``aircast.features.build_features`` covariate path as production. Prints a table and writes
bench/results/skill.json. The data is read from ../shared/data at run time (override with
AIRCAST_BEIJING_DIR); it is never copied into the project.

    hatch run bench:skill [--iterations N] [--depth D] [--max-rows R] [--calibration-days C]
                          [--no-refit]

Interval calibration is cross-fitted by default: a first model is fitted on the training
range minus its last C days and calibrated (CQR) on those days; the reported model is then
fitted on the whole training range and adopts that calibration. With C = 365 the calibration
sees every season; ``--no-refit`` reports the first model instead (the C days never reach the
trees). The defaults reproduce the committed bench/results/skill.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from aircast.evaluation import Backtest, split_targets
from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, ForecasterParams
from aircast.training import calibrated_fitter

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(
    os.environ.get("AIRCAST_BEIJING_DIR", ROOT.parent / "shared" / "data" / "beijing-multisite")
)
RESULTS = ROOT / "bench" / "results" / "skill.json"
TZ = "Asia/Shanghai"
COLUMNS = {
    "PM2.5": "pm25",
    "PM10": "pm10",
    "SO2": "so2",
    "NO2": "no2",
    "CO": "co",
    "O3": "o3",
    "TEMP": "temperature",
    "PRES": "pressure",
    "DEWP": "dewpoint",
    "WSPM": "wind_speed",
}
# compass point -> direction the wind comes FROM, degrees
COMPASS = {
    d: i * 22.5
    for i, d in enumerate(
        [
            "N",
            "NNE",
            "NE",
            "ENE",
            "E",
            "ESE",
            "SE",
            "SSE",
            "S",
            "SSW",
            "SW",
            "WSW",
            "W",
            "WNW",
            "NW",
            "NNW",
        ]
    )
}


# the benchmark's feature spec beyond the target and covariates (README, "Benchmark")
SPEC: dict[str, tuple[int, ...]] = {
    "windows": (3, 6, 24, 72, 168),
    "covariate_lags": (0, 1, 3, 24),
    "covariate_windows": (6, 24, 72, 168),
    "covariate_diffs": (1, 3, 6, 12, 24),
}
CALIBRATION_DAYS = 365
BENCH_PARAMS = ForecasterParams(iterations=300, depth=6, max_train_rows=200_000)


def load() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long measurements (store schema) and a location table from the CSV files."""
    files = sorted(DATA.glob("PRSA_Data_*.csv"))
    if not files:
        raise SystemExit(f"no PRSA_Data_*.csv in {DATA}; set AIRCAST_BEIJING_DIR")
    frames, locations = [], []
    for i, path in enumerate(files, start=1):
        raw = pd.read_csv(path, na_values=["NA"])
        local = pd.to_datetime(raw[["year", "month", "day", "hour"]])
        utc = local.dt.tz_localize(TZ).dt.tz_convert("UTC")
        wide = raw[list(COLUMNS)].rename(columns=COLUMNS)
        angle = np.deg2rad(raw["wd"].map(COMPASS))
        wide["wind_u"] = -raw["WSPM"] * np.sin(angle)
        wide["wind_v"] = -raw["WSPM"] * np.cos(angle)
        wide["location_id"] = i
        wide["datetime"] = utc
        long = wide.melt(["location_id", "datetime"], var_name="parameter", value_name="value")
        frames.append(long.dropna(subset=["value"]))
        locations.append(
            {
                "location_id": i,
                "name": raw["station"].iloc[0],
                "timezone": TZ,
                "latitude": 39.9,
                "longitude": 116.4,
            }
        )
    # station coordinates are not in the CSVs; the location id carries the identity
    return pd.concat(frames, ignore_index=True), pd.DataFrame(locations)


def fit(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    spec: FeatureSpec,
    params: ForecasterParams,
    test_start: pd.Timestamp,
    args: argparse.Namespace,
) -> tuple[Forecaster, bool]:
    """The benchmarked model, and whether it was refitted after the calibration.

    Training sees only targets observed before the test year, through the fit ``aircast
    train`` uses: the last C days of that are held out of a first fit for the conformal
    interval calibration, and (unless ``--no-refit``) the reported model is fitted on the
    whole training range and adopts the first model's adjustment.
    """
    rows, censored, _ = split_targets(features, targets, test_start, test_start)
    refit = args.calibration_days > 0 and not args.no_refit
    fitter = calibrated_fitter(spec, params, args.calibration_days, cross_fit=refit)
    return fitter(features[rows], censored[rows]), refit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = BENCH_PARAMS
    parser.add_argument("--iterations", type=int, default=defaults.iterations)
    parser.add_argument("--depth", type=int, default=defaults.depth)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--max-rows", type=int, default=defaults.max_train_rows)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--calibration-days", type=int, default=CALIBRATION_DAYS)
    parser.add_argument(
        "--no-refit",
        action="store_true",
        help="report the model fitted without the calibration days (no second fit)",
    )
    parser.add_argument("--no-covariates", action="store_true")
    args = parser.parse_args()

    measurements, locations = load()
    covariates = (
        ()
        if args.no_covariates
        else (
            "pm10",
            "so2",
            "no2",
            "co",
            "o3",
            "temperature",
            "pressure",
            "dewpoint",
            "wind_speed",
            "wind_u",
            "wind_v",
        )
    )
    spec = FeatureSpec(target="pm25", covariates=covariates, **SPEC)
    params = ForecasterParams(
        iterations=args.iterations,
        depth=args.depth,
        learning_rate=args.learning_rate,
        max_train_rows=args.max_rows,
        threads=args.threads,
        seed=0,
    )
    test_start = pd.Timestamp("2016-03-01", tz=TZ).tz_convert("UTC")
    test_end = pd.Timestamp("2017-03-01", tz=TZ).tz_convert("UTC")

    started = time.perf_counter()
    features = build_features(measurements, locations, spec)
    targets = build_targets(measurements, spec)
    feature_seconds = time.perf_counter() - started
    model, refit = fit(features, targets, spec, params, test_start, args)
    train_seconds = time.perf_counter() - started

    test = pd.DatetimeIndex(features["issue_time"])
    test_rows = (test >= test_start) & (test < test_end)
    backtest = Backtest.score(model, features[test_rows], targets[test_rows])
    table = backtest.by_horizon()

    result: dict[str, object] = {
        "dataset": "Beijing Multi-Site Air-Quality (UCI #501), 12 stations, PM2.5",
        "train": "2013-03-01..2016-02-29 (last calibration_days for interval calibration)",
        "train_fits": 2 if refit else 1,
        "test": "2016-03-01..2017-02-28, issue times every hour",
        "train_seconds": round(train_seconds, 1),
        "feature_seconds": round(feature_seconds, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "python": platform.python_version(),
        },
        "params": {
            **params.to_dict(),
            "calibration_days": args.calibration_days,
            "calibration": "cross-fitted (refit on all training days)" if refit else "held out",
            "covariates": list(covariates),
            "spec": spec.to_dict(),
        },
        "cells_per_horizon": int(table["n"].min()),
        "horizons": {},
    }
    horizons: dict[str, object] = {}
    for h, row in table.iterrows():
        horizons[str(int(h))] = {
            "mae": {
                m: round(float(row[f"mae_{m}"]), 3)
                for m in ("persistence", "seasonal_naive", "aircast")
            },
            "rmse": {
                m: round(float(row[f"rmse_{m}"]), 3)
                for m in ("persistence", "seasonal_naive", "aircast")
            },
            "coverage_p10_p90": round(float(row["coverage"]), 4),
            "skill_vs_persistence": round(float(row["skill"]), 4),
        }
    result["horizons"] = horizons
    h1, h24 = table.loc[1], table.loc[24]
    result["targets"] = {
        "mae_24h_at_least_20pct_below_persistence": bool(h24["skill"] >= 0.20),
        "mae_1h_not_worse_than_persistence": bool(h1["mae_aircast"] <= h1["mae_persistence"]),
        "coverage_between_0.75_and_0.85": bool(table["coverage"].between(0.75, 0.85).all()),
        "train_under_15_minutes": bool(train_seconds < 900),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"{'h':>3} {'persist MAE':>11} {'seasonal':>9} {'aircast':>8} {'skill':>6} "
        f"{'RMSE p/a':>15} {'cover':>6}"
    )
    for h, row in table.iterrows():
        print(
            f"{int(h):>3} {row['mae_persistence']:>11.2f} {row['mae_seasonal_naive']:>9.2f} "
            f"{row['mae_aircast']:>8.2f} {row['skill']:>6.1%} "
            f"{row['rmse_persistence']:>7.2f}/{row['rmse_aircast']:<7.2f} {row['coverage']:>6.3f}"
        )
    print(
        f"train wall time {train_seconds:.0f} s (features {feature_seconds:.0f} s), "
        f"{args.threads} threads; targets: {result['targets']}"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
