"""Where the combination weights come from, on the full-history Beijing benchmark.

    hatch run bench:heldout [--tails 14,90,180,365] [--blocks 3,5] [--no-folds]

The served model is refitted on the whole training range (2013-03..2016-02, as in
``bench:skill --scenario full``); its combination weights and interval calibration are fitted
on out-of-sample forecasts of *other* fits, and scored on the test year (2016-03..2017-02):

- ``tail N``: a fit on the training range minus its last N days, forecasting those N days
  (what ``aircast train`` does with ``AIRCAST_TRAIN_CALIBRATION_DAYS`` = N on a long history);
- ``cross-fitted k blocks``: the training range cut into k contiguous blocks, each forecast
  by trees fitted on the others (``aircast.evaluation.cross_fit_blocks``: what ``aircast
  train`` does for its candidate, ``AIRCAST_TRAIN_CROSS_BLOCKS`` = k);
- ``folds``: the gate's rolling-origin folds (``aircast.gate.plan_folds``, default settings,
  365-day cap), trees fitted on everything before each fold origin, forecasts pooled;
- ``trees alone``: no combination (the refitted model's median), for reference;
- ``oracle``: weights fitted on the test year itself (not attainable: the ceiling).

Prints per-horizon skill against persistence and p10-p90 coverage, and writes
bench/results/heldout.json. docs/forecasting.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from skill import BENCH_PARAMS, SPEC, TZ, load

from aircast import combination
from aircast.evaluation import cross_fit_blocks, split_targets
from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, HeldOut
from aircast.gate import plan_folds
from aircast.settings import GateSettings
from aircast.training import CROSS_FIT_GAP

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "heldout.json"
COVARIATES = ("pm10", "so2", "no2", "co", "o3", "temperature", "pressure", "dewpoint",
              "wind_speed", "wind_u", "wind_v")  # fmt: skip
SHOWN = (1, 2, 3, 6, 12, 18, 24)


def fitted(held: HeldOut, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """Weights and CQR adjustment fitted on ``held``, as a served model fits them
    (``Forecaster.fit_combination_on``; it reads no trees)."""
    shell = Forecaster(spec, BENCH_PARAMS)
    shell.fit_combination_on(held)
    return shell.weights, shell.interval_adjust


def score(test: HeldOut, weights: np.ndarray, adjust: np.ndarray) -> dict[str, object]:
    point = combination.combine(test.stack, weights[test.horizon - 1])
    low, high = combination.interval(point, test.q10, test.q50, test.q90, adjust[test.horizon - 1])
    y = test.observed
    out: dict[str, object] = {}
    for h in range(1, len(weights) + 1):
        m = test.horizon == h
        persistence = np.abs(test.stack[m, 1] - y[m]).mean()
        inside = (y[m] >= low[m]) & (y[m] <= high[m])
        out[str(h)] = {
            "skill_vs_persistence": round(
                float(1 - np.abs(point[m] - y[m]).mean() / persistence), 4
            ),
            "coverage_p10_p90": round(float(inside.mean()), 4),
            "weights": [round(float(w), 3) for w in weights[h - 1]],
        }
    return out


def cross_fitted(
    features: pd.DataFrame, targets: pd.DataFrame, spec: FeatureSpec, blocks: int
) -> HeldOut:
    """Every block's forecasts by trees fitted on the other blocks, pooled (as
    ``aircast.training.calibrated_fitter`` does for the candidate)."""
    chunks = []
    splits = cross_fit_blocks(features, targets, blocks, CROSS_FIT_GAP)
    for i, (fit_rows, fit_targets, block) in enumerate(splits, start=1):
        print(f"cross-fit, {blocks} blocks: block {i}, fitting on the others", flush=True)
        model = Forecaster(spec, BENCH_PARAMS).fit(features[fit_rows], fit_targets[fit_rows])
        chunks.append(model.held_out(features[block], targets[block]))
    return HeldOut.concat(chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tails", default="14,90,180,365", help="held-out tails, days")
    parser.add_argument("--blocks", default="3,5", help="cross-fitted block counts")
    parser.add_argument("--no-folds", action="store_true", help="skip the gate-folds variant")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    measurements, locations = load()
    spec = FeatureSpec(target="pm25", covariates=COVARIATES, **SPEC)
    features, targets = (
        build_features(measurements, locations, spec),
        build_targets(measurements, spec),
    )
    test_start = pd.Timestamp("2016-03-01", tz=TZ).tz_convert("UTC")
    test_end = pd.Timestamp("2017-03-01", tz=TZ).tz_convert("UTC")
    rows, censored, _ = split_targets(features, targets, test_start, test_start)
    train_f, train_t = features[rows].reset_index(drop=True), censored[rows].reset_index(drop=True)
    issue = pd.DatetimeIndex(train_f["issue_time"])
    when = pd.DatetimeIndex(features["issue_time"])
    test_rows = np.asarray((when >= test_start) & (when < test_end))
    print("fitting the served model on the whole training range", flush=True)
    served = Forecaster(spec, BENCH_PARAMS).fit(train_f, train_t)
    test = served.held_out(features[test_rows], targets[test_rows])
    horizons = spec.horizons
    variants: dict[str, dict[str, object]] = {
        "trees alone": score(test, combination.default_weights(horizons), np.zeros(horizons)),
        "oracle (test year)": score(test, *fitted(test, spec)),
    }
    for days in [int(d) for d in args.tails.split(",") if d]:
        cut = test_start - pd.Timedelta(days=days)
        fit_rows, fit_targets, _ = split_targets(train_f, train_t, cut, cut)
        print(f"tail {days}: fitting on the training range minus its last {days} days", flush=True)
        first = Forecaster(spec, BENCH_PARAMS).fit(train_f[fit_rows], fit_targets[fit_rows])
        held = np.asarray(issue >= cut)
        variants[f"tail {days}"] = score(
            test, *fitted(first.held_out(train_f[held], train_t[held]), spec)
        )
    for blocks in [int(k) for k in args.blocks.split(",") if k]:
        held = cross_fitted(train_f, train_t, spec, blocks)
        variants[f"cross-fitted {blocks} blocks"] = score(test, *fitted(held, spec))
    if not args.no_folds:
        plan = plan_folds(
            issue.min(),
            issue.max() + pd.Timedelta(hours=1),
            calibration_days=365,
            gate=GateSettings(),
        )
        chunks = []
        for origin in plan.origins:
            fit_rows, fit_targets, fold = split_targets(
                train_f, train_t, origin, origin + plan.length
            )
            print(f"fold at {origin:%Y-%m-%d}: fitting on everything before it", flush=True)
            model = Forecaster(spec, BENCH_PARAMS).fit(train_f[fit_rows], fit_targets[fit_rows])
            chunks.append(model.held_out(train_f[fold], train_t[fold]))
        variants[f"folds ({plan.describe()})"] = score(test, *fitted(HeldOut.concat(chunks), spec))
    print(f"\n{'weights from':<40}" + "".join(f"{h:>5} h" for h in SHOWN) + "   coverage")
    for name, result in variants.items():
        skills = "".join(f"{result[str(h)]['skill_vs_persistence']:>7.1%}" for h in SHOWN)  # type: ignore[index]
        cover = [result[str(h)]["coverage_p10_p90"] for h in range(1, horizons + 1)]  # type: ignore[index]
        print(f"{name:<40}{skills}   {min(cover):.2f}-{max(cover):.2f}")
    # variants this run skipped keep an earlier run's figures (same split, params and seed);
    # "measured" says which run each comes from
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}
    today = time.strftime("%Y-%m-%d")
    kept = {
        name: {"measured": previous.get("measured", "2026-12-07"), **result}
        for name, result in previous.get("variants", {}).items()
        if name not in variants
    }
    document = {
        "dataset": "Beijing Multi-Site Air-Quality (UCI #501), 12 stations, PM2.5",
        "train": "2013-03-01..2016-02-29", "test": "2016-03-01..2017-02-28",
        "params": BENCH_PARAMS.to_dict(),
        "seconds": round(time.perf_counter() - started, 1),
        "measured": today,
        "variants": {**kept, **{k: {"measured": today, **v} for k, v in variants.items()}},
    }  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
