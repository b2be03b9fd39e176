"""Where the combination weights come from, on the full-history Beijing benchmark.

    hatch run bench:heldout [--tails 14,90,180,365] [--blocks 3,5] [--no-folds] [--seeds 0,1]

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

``"by_block"`` (for each of ``--seeds``; the other variants use the first seed only) takes the
first ``--blocks`` count apart: per block and for the test year, the weight on the model that
is best there alone and the trees' skill; and the fitted combination's MAE gain over the trees
alone on the held-out cells, with the 5th percentile of a bootstrap that resamples whole days.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from skill import BENCH_PARAMS, SPEC, TZ, load, seed_list

from aircast import combination
from aircast.evaluation import cross_fit_blocks, split_targets
from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, ForecasterParams, HeldOut
from aircast.gate import plan_folds
from aircast.settings import GateSettings
from aircast.training import CROSS_FIT_GAP

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "heldout.json"
COVARIATES = ("pm10", "so2", "no2", "co", "o3", "temperature", "pressure", "dewpoint",
              "wind_speed", "wind_u", "wind_v")  # fmt: skip
SHOWN = (1, 2, 3, 6, 12, 18, 24)
BOOTSTRAP = 500


def fitted(
    held: HeldOut, spec: FeatureSpec, params: ForecasterParams = BENCH_PARAMS
) -> tuple[np.ndarray, np.ndarray]:
    """Weights and CQR adjustment fitted on ``held``, as a served model fits them
    (``Forecaster.fit_combination_on``; it reads no trees)."""
    shell = Forecaster(spec, params)
    shell.fit_combination_on(held)
    return shell.weights, shell.interval_adjust


def skill(point: np.ndarray, persistence: np.ndarray, y: np.ndarray) -> float:
    """1 - MAE / MAE of persistence, to 4 decimals."""
    return round(float(1 - np.abs(point - y).mean() / np.abs(persistence - y).mean()), 4)


def score(test: HeldOut, weights: np.ndarray, adjust: np.ndarray) -> dict[str, object]:
    point = combination.combine(test.stack, weights[test.horizon - 1])
    low, high = combination.interval(point, test.q10, test.q50, test.q90, adjust[test.horizon - 1])
    y = test.observed
    out: dict[str, object] = {}
    for h in range(1, len(weights) + 1):
        m = test.horizon == h
        inside = (y[m] >= low[m]) & (y[m] <= high[m])
        out[str(h)] = {
            "skill_vs_persistence": skill(point[m], test.stack[m, 1], y[m]),
            "coverage_p10_p90": round(float(inside.mean()), 4),
            "weights": [round(float(w), 3) for w in weights[h - 1]],
        }
    return out


@dataclasses.dataclass(frozen=True)
class CrossFitted:
    """Pooled cross-fitted forecasts, with each cell's block (0-based) and issue day."""

    held: HeldOut
    block: np.ndarray
    day: np.ndarray


def cross_fitted(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    spec: FeatureSpec,
    blocks: int,
    params: ForecasterParams = BENCH_PARAMS,
) -> CrossFitted:
    """Every block's forecasts by trees fitted on the other blocks, pooled (as
    ``aircast.training.calibrated_fitter`` does for the candidate)."""
    chunks, block_of, day_of = [], [], []
    columns = [f"y_h{h}" for h in range(1, spec.horizons + 1)]
    splits = cross_fit_blocks(features, targets, blocks, CROSS_FIT_GAP)
    for i, (fit_rows, fit_targets, block) in enumerate(splits, start=1):
        print(f"cross-fit, {blocks} blocks: block {i}, fitting on the others", flush=True)
        model = Forecaster(spec, params).fit(features[fit_rows], fit_targets[fit_rows])
        held = model.held_out(features[block], targets[block])
        # HeldOut's cells are the observed targets in row-major order (Forecaster._observed)
        rows, _ = np.nonzero(targets[block][columns].notna().to_numpy())
        if len(rows) != len(held):
            raise RuntimeError("held-out cells no longer follow the targets' row-major order")
        issue = pd.DatetimeIndex(features.loc[block, "issue_time"])[rows]
        chunks.append(held)
        block_of.append(np.full(len(held), i - 1))
        day_of.append(np.asarray(issue.floor("D").asi8))
    return CrossFitted(HeldOut.concat(chunks), np.concatenate(block_of), np.concatenate(day_of))


def by_block(
    cross: CrossFitted, test: HeldOut, weights: np.ndarray, seed: int
) -> dict[str, dict[str, object]]:
    """Per shown horizon: each block's (and the test year's) best weight on the model alone
    and the trees' skill there; the fitted weights' MAE gain over the trees alone on the
    held-out cells, and the 5th percentile of that gain over day-resampled bootstraps."""
    rng = np.random.default_rng(seed)
    held = cross.held
    out: dict[str, dict[str, object]] = {}
    for h in SHOWN:
        parts = []
        for b in range(int(cross.block.max()) + 1):
            m = (held.horizon == h) & (cross.block == b)
            parts.append((f"block {b + 1}", held.stack[m], held.observed[m]))
        m = test.horizon == h
        parts.append(("test year", test.stack[m], test.observed[m]))
        where = {
            name: {
                "best_model_weight": round(float(combination.fit_weights(stack, y)[0]), 2),
                "trees_skill": skill(stack[:, 0], stack[:, 1], y),
            }
            for name, stack, y in parts
        }
        m = held.horizon == h
        stack, y = held.stack[m], held.observed[m]
        combined = combination.combine(stack, np.tile(weights[h - 1], (len(y), 1)))
        gain = np.abs(stack[:, 0] - y) - np.abs(combined - y)
        days, cell_day = np.unique(cross.day[m], return_inverse=True)
        per_day = np.bincount(cell_day, weights=gain, minlength=len(days))
        cells = np.bincount(cell_day, minlength=len(days))
        draws = rng.integers(0, len(days), (BOOTSTRAP, len(days)))
        boot = per_day[draws].sum(axis=1) / cells[draws].sum(axis=1)
        scale = np.abs(combined - y).mean()
        out[str(h)] = {
            "fitted_model_weight": round(float(weights[h - 1][0]), 2),
            "held_out_gain": round(float(gain.mean() / scale), 4),
            "held_out_gain_p5": round(float(np.quantile(boot, 0.05) / scale), 4),
            **where,
        }
    return out


def print_by_block(seed: int, result: dict[str, dict[str, object]]) -> None:
    """The :func:`by_block` table of one seed."""
    print(f"\nseed {seed}: the best weight on the model (the trees' skill) where each is fitted")
    names = [k for k in result[str(SHOWN[0])] if k.startswith(("block", "test"))]
    print(f"{'h':>4}" + "".join(f"{n:>17}" for n in names) + "   fitted   held-out gain (p5)")
    for h in SHOWN:
        r: dict[str, Any] = result[str(h)]
        cells = "".join(
            f"{r[n]['best_model_weight']:>9.2f} ({r[n]['trees_skill']:>5.1%})" for n in names
        )
        print(
            f"{h:>4}{cells}{r['fitted_model_weight']:>9.2f}"
            f"   {r['held_out_gain']:.2%} ({r['held_out_gain_p5']:.2%})"
        )


def other_variants(
    train_f: pd.DataFrame,
    train_t: pd.DataFrame,
    test: HeldOut,
    spec: FeatureSpec,
    params: ForecasterParams,
    test_start: pd.Timestamp,
    args: argparse.Namespace,
) -> tuple[dict[str, dict[str, object]], CrossFitted | None]:
    """The tails, cross-fitted blocks and (unless ``--no-folds``) the gate's folds; and the
    first ``--blocks`` count's cross-fitted forecasts (for :func:`by_block`)."""
    issue = pd.DatetimeIndex(train_f["issue_time"])
    variants: dict[str, dict[str, object]] = {}
    first_cross = None
    for days in args.tails:
        cut = test_start - pd.Timedelta(days=days)
        fit_rows, fit_targets, _ = split_targets(train_f, train_t, cut, cut)
        print(f"tail {days}: fitting on the training range minus its last {days} days", flush=True)
        first = Forecaster(spec, params).fit(train_f[fit_rows], fit_targets[fit_rows])
        held = np.asarray(issue >= cut)
        variants[f"tail {days}"] = score(
            test, *fitted(first.held_out(train_f[held], train_t[held]), spec, params)
        )
    for blocks in args.blocks:
        cross = cross_fitted(train_f, train_t, spec, blocks, params)
        variants[f"cross-fitted {blocks} blocks"] = score(test, *fitted(cross.held, spec, params))
        if blocks == args.blocks[0]:
            first_cross = cross
    if args.no_folds:
        return variants, first_cross
    plan = plan_folds(
        issue.min(), issue.max() + pd.Timedelta(hours=1), calibration_days=365, gate=GateSettings()
    )
    chunks = []
    for origin in plan.origins:
        fit_rows, fit_targets, fold = split_targets(train_f, train_t, origin, origin + plan.length)
        print(f"fold at {origin:%Y-%m-%d}: fitting on everything before it", flush=True)
        model = Forecaster(spec, params).fit(train_f[fit_rows], fit_targets[fit_rows])
        chunks.append(model.held_out(train_f[fold], train_t[fold]))
    variants[f"folds ({plan.describe()})"] = score(
        test, *fitted(HeldOut.concat(chunks), spec, params)
    )
    return variants, first_cross


def write(
    args: argparse.Namespace,
    variants: dict[str, dict[str, object]],
    diagnosis: dict[str, object],
    started: float,
) -> None:
    """bench/results/heldout.json (or ``--output``)."""
    # variants this run skipped keep an earlier run's figures when it had the same params
    # (split and seed too); "measured" says which run each comes from
    params = dataclasses.replace(BENCH_PARAMS, seed=args.seeds[0]).to_dict()
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}
    today = time.strftime("%Y-%m-%d")
    kept = {
        name: {"measured": previous.get("measured", "2026-12-07"), **result}
        for name, result in previous.get("variants", {}).items()
        if name not in variants and previous.get("params") == params
    }
    document = {
        "dataset": "Beijing Multi-Site Air-Quality (UCI #501), 12 stations, PM2.5",
        "train": "2013-03-01..2016-02-29", "test": "2016-03-01..2017-02-28",
        "params": params,
        "seconds": round(time.perf_counter() - started, 1),
        "measured": today,
        "variants": {**kept, **{k: {"measured": today, **v} for k, v in variants.items()}},
    }  # fmt: skip
    if diagnosis:
        document["by_block"] = {
            "blocks": args.blocks[0], "seeds": args.seeds, "measured": today,
            "per_seed": diagnosis,
        }  # fmt: skip
    elif "by_block" in previous:
        document["by_block"] = previous["by_block"]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.output}")


def counts(text: str) -> list[int]:
    """``--tails`` / ``--blocks``: comma-separated positive integers, or "" for none."""
    try:
        values = [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give integers, e.g. 3,5") from None
    if any(value <= 0 for value in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give positive integers")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tails", type=counts, default="14,90,180,365", help="held-out tails, days"
    )
    parser.add_argument("--blocks", type=counts, default="3,5", help="cross-fitted block counts")
    parser.add_argument("--no-folds", action="store_true", help="skip the gate-folds variant")
    parser.add_argument(
        "--seeds", type=seed_list, default=[0], help="fit seeds for by_block (first: variants)"
    )
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
    when = pd.DatetimeIndex(features["issue_time"])
    test_rows = np.asarray((when >= test_start) & (when < test_end))
    horizons = spec.horizons
    variants: dict[str, dict[str, object]] = {}
    diagnosis: dict[str, object] = {}
    for n, seed in enumerate(args.seeds):
        params = dataclasses.replace(BENCH_PARAMS, seed=seed)
        print(f"seed {seed}: fitting the served model on the whole training range", flush=True)
        served = Forecaster(spec, params).fit(train_f, train_t)
        test = served.held_out(features[test_rows], targets[test_rows])
        cross = None
        if n == 0:
            others, cross = other_variants(train_f, train_t, test, spec, params, test_start, args)
            variants = {
                "trees alone": score(
                    test, combination.default_weights(horizons), np.zeros(horizons)
                ),
                "oracle (test year)": score(test, *fitted(test, spec, params)),
                **others,
            }
        if args.blocks:
            if cross is None:
                cross = cross_fitted(train_f, train_t, spec, args.blocks[0], params)
            weights, _ = fitted(cross.held, spec, params)
            diagnosis[str(seed)] = by_block(cross, test, weights, seed)
    print(f"\n{'weights from':<40}" + "".join(f"{h:>5} h" for h in SHOWN) + "   coverage")
    for name, result in variants.items():
        skills = "".join(f"{result[str(h)]['skill_vs_persistence']:>7.1%}" for h in SHOWN)  # type: ignore[index]
        cover = [result[str(h)]["coverage_p10_p90"] for h in range(1, horizons + 1)]  # type: ignore[index]
        print(f"{name:<40}{skills}   {min(cover):.2f}-{max(cover):.2f}")
    for seed, result in diagnosis.items():
        print_by_block(int(seed), result)  # type: ignore[arg-type]
    write(args, variants, diagnosis, started)


if __name__ == "__main__":
    main()
