"""The promotion gate, in one place: where the backtest folds go, the per-horizon numbers the
decision is made on, the decision rule, and how the decision is recorded.

The numbers are computed once (:func:`horizon_scores`), the decision is made once
(:func:`decide`), and both travel as one :class:`GateDecision` that the training logs as MLflow
metrics (per horizon, ``step`` = horizon) and tags on the registered version. The registry only
writes what it is given and moves the alias. The rule and its reasons are in
docs/training-and-gate.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aircast.settings import GateSettings

HOUR = pd.Timedelta(hours=1)
KEY = ["location_id", "issue_time", "horizon"]
#: Out-of-sample cells per horizon below which the champion is scored on every fold cell.
MIN_OUT_OF_SAMPLE_CELLS = 24
#: MLflow refuses model-version tag values longer than this.
_TAG_LIMIT = 5000


class NotEnoughHistoryError(ValueError):
    """The history is too short for even one backtest fold; the message says how short."""


# ----------------------------------------------------------------------------- folds


@dataclass(frozen=True)
class FoldPlan:
    """Rolling-origin folds: each fold refits on issue times before its origin (targets
    censored at the origin) and is scored on ``[origin, origin + length)``."""

    origins: tuple[pd.Timestamp, ...]
    length: pd.Timedelta
    start: pd.Timestamp
    end: pd.Timestamp

    def folds(self) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """(origin, end) of every fold, oldest first."""
        return [(o, o + self.length) for o in self.origins]

    def describe(self) -> str:
        """One line for progress output."""
        hours = int(self.length / HOUR)
        return (
            f"{len(self.origins)} fold(s) of {hours} h from {self.origins[0]:%Y-%m-%d %H:%M} "
            f"to {self.end:%Y-%m-%d %H:%M}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the work directory's ``plan.json``, the ``gate.folds`` tag)."""
        return {
            "origins": [o.isoformat() for o in self.origins],
            "hours": int(self.length / HOUR),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FoldPlan:
        """Inverse of :meth:`to_dict`."""
        return cls(
            origins=tuple(pd.Timestamp(o) for o in data["origins"]),
            length=pd.Timedelta(hours=int(data["hours"])),
            start=pd.Timestamp(data["start"]),
            end=pd.Timestamp(data["end"]),
        )


def _floor_hours(delta: pd.Timedelta) -> pd.Timedelta:
    return HOUR * math.floor(delta / HOUR)


def plan_folds(
    start: pd.Timestamp, end: pd.Timestamp, *, calibration_days: int, gate: GateSettings
) -> FoldPlan:
    """Folds sized from the data.

    ``start`` is the first issue time, ``end`` the hour after the last one. The first
    ``m + min(calibration_days, 2m)`` days (``m`` = ``gate_min_train_days``) are training
    only (the warm-up): the first fold's model holds out its share of them
    (:func:`aircast.combination.held_out_days`, a third capped at ``calibration_days``) and
    still fits on at least ``m`` days. The rest is the backtest span. There are
    ``gate_folds`` folds, fewer when the span holds fewer than that many folds of
    ``gate_min_fold_hours``. A fold is ``span / folds`` long (whole hours) but at most
    ``gate_max_fold_days``; the last fold ends at ``end`` and the others are spread evenly
    back to the end of the warm-up, so a long history is sampled across its seasons.
    """
    fitting = gate.gate_min_train_days
    held = min(calibration_days, 2 * fitting)
    warmup = pd.Timedelta(days=fitting + held)
    span = _floor_hours(end - start - warmup)
    shortest = pd.Timedelta(hours=gate.gate_min_fold_hours)
    if span < shortest:
        days = (end - start) / pd.Timedelta(days=1)
        raise NotEnoughHistoryError(
            f"{days:.1f} days of history ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC) "
            f"is too short for a backtest fold: the gate needs {warmup.days} days of training "
            f"(AIRCAST_GATE_MIN_TRAIN_DAYS={fitting} fitting days + {held} held out: twice "
            f"those, at most AIRCAST_TRAIN_CALIBRATION_DAYS={calibration_days}) plus one fold of "
            f"{gate.gate_min_fold_hours} h; ingest more history or lower those settings"
        )
    folds = int(min(gate.gate_folds, span // shortest))
    length = min(_floor_hours(span / folds), pd.Timedelta(days=gate.gate_max_fold_days))
    step = _floor_hours((span - length) / (folds - 1)) if folds > 1 else pd.Timedelta(0)
    last = end - length
    origins = tuple(last - step * (folds - 1 - i) for i in range(folds))
    return FoldPlan(origins=origins, length=length, start=start, end=end)


# ----------------------------------------------------------------------------- numbers


def _mae(cells: pd.DataFrame, column: str) -> pd.Series:
    return (cells[column] - cells["observed"]).abs().groupby(cells["horizon"]).mean()


@dataclass(frozen=True)
class ChampionCells:
    """The current champion's forecasts on the candidate's fold cells, and on which basis.

    ``basis`` is ``none`` (no champion), ``baseline`` (the champion is the baseline model, which
    a trained model replaces as the first model of its parameter: judged against persistence
    only), ``unscorable`` (it could not be loaded or scored),
    ``out_of_sample`` (only cells issued after the champion's own training data ended) or
    ``all_cells`` (every common cell: its training data covers the folds, so it is scored
    partly in sample, which favours keeping it).
    """

    version: int | None
    basis: str
    note: str = ""
    cells: pd.DataFrame | None = None


def select_champion_cells(
    common: pd.DataFrame, version: int, data_end: pd.Timestamp | None
) -> ChampionCells:
    """Keep the cells the champion had not seen, when there are enough of them.

    ``common`` has the key columns, ``observed``, ``aircast`` (candidate) and ``champion``.
    """
    if common.empty:
        return ChampionCells(version, "unscorable", "no fold cell the champion could forecast")
    if data_end is not None:
        unseen = common[pd.DatetimeIndex(common["issue_time"]) >= data_end]
        per_horizon = unseen.groupby("horizon").size()
        horizons = common["horizon"].nunique()
        if len(per_horizon) == horizons and per_horizon.min() >= MIN_OUT_OF_SAMPLE_CELLS:
            return ChampionCells(
                version, "out_of_sample", f"cells issued from {data_end:%Y-%m-%d %H:%M}", unseen
            )
        note = f"its training data reaches {data_end:%Y-%m-%d %H:%M}, past most fold cells"
    else:
        note = "its training data end is not recorded"
    return ChampionCells(version, "all_cells", note, common)


def horizon_scores(cells: pd.DataFrame, champion: ChampionCells) -> pd.DataFrame:
    """Per-horizon MAE: ``candidate`` and ``persistence`` on every fold cell (``cells``);
    ``champion`` and ``candidate_vs_champion`` (the candidate on the champion's cells) when
    the champion was scored; and the cell counts ``n`` and ``n_champion``."""
    table = pd.DataFrame(
        {
            "candidate": _mae(cells, "aircast"),
            "persistence": _mae(cells, "persistence"),
            "n": cells.groupby("horizon").size(),
        }
    )
    if champion.cells is not None:
        table["champion"] = _mae(champion.cells, "champion")
        table["candidate_vs_champion"] = _mae(champion.cells, "aircast")
        table["n_champion"] = champion.cells.groupby("horizon").size()
    else:
        for column in ("champion", "candidate_vs_champion", "n_champion"):
            table[column] = np.nan
    table.index.name = "horizon"
    return table.sort_index()


# ----------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict with every number it was based on."""

    promote: bool
    reason: str
    scores: pd.DataFrame
    plan: FoldPlan
    champion_version: int | None
    champion_basis: str
    champion_note: str
    tolerance: float
    margins: dict[str, float] = field(default_factory=dict)

    @property
    def alias(self) -> str:
        """The alias the candidate gets: ``champion`` or ``challenger``."""
        from aircast.registry import CHALLENGER, CHAMPION

        return CHAMPION if self.promote else CHALLENGER

    @property
    def candidate_mae(self) -> float:
        """Candidate MAE averaged over horizons (each horizon weighs the same)."""
        return float(self.scores["candidate"].mean())

    @property
    def persistence_mae(self) -> float:
        """Persistence MAE averaged over horizons, on the same cells as the candidate."""
        return float(self.scores["persistence"].mean())

    @property
    def champion_mae(self) -> float | None:
        """Champion MAE averaged over horizons on its cells, or None when not scored."""
        value = self.scores["champion"].mean()
        return None if pd.isna(value) else float(value)

    def horizon_metrics(self) -> dict[int, dict[str, float]]:
        """MLflow metrics per horizon (logged with ``step`` = horizon)."""
        names = {
            "candidate": "gate_mae_candidate",
            "persistence": "gate_mae_persistence",
            "champion": "gate_mae_champion",
            "candidate_vs_champion": "gate_mae_candidate_vs_champion",
        }
        out: dict[int, dict[str, float]] = {}
        for h, row in self.scores.iterrows():
            out[int(str(h))] = {
                name: float(row[col]) for col, name in names.items() if not pd.isna(row[col])
            }
        return out

    def metrics(self) -> dict[str, float]:
        """Flat MLflow metrics: the means the rule compares, folds and cells."""
        out = {
            "gate_mae_mean_candidate": self.candidate_mae,
            "gate_mae_mean_persistence": self.persistence_mae,
            "gate_folds": float(len(self.plan.origins)),
            "gate_fold_hours": float(self.plan.length / HOUR),
            "gate_cells": float(self.scores["n"].sum()),
            "gate_promoted": float(self.promote),
        }
        if self.champion_mae is not None:
            out["gate_mae_mean_champion"] = self.champion_mae
            out["gate_mae_mean_candidate_vs_champion"] = float(
                self.scores["candidate_vs_champion"].mean()
            )
        return out

    def by_horizon_json(self, digits: int = 4) -> str:
        """Compact JSON of the per-horizon MAEs (the ``gate.by_horizon`` tag)."""

        def col(name: str) -> list[float | None] | None:
            values = self.scores[name]
            if values.isna().all():
                return None
            return [None if pd.isna(v) else float(f"{v:.{digits}g}") for v in values]

        data: dict[str, Any] = {"h": [int(str(h)) for h in self.scores.index]}
        for name in ("candidate", "persistence", "champion", "candidate_vs_champion"):
            data[name] = col(name)
        return json.dumps(data, separators=(",", ":"))

    def tags(self) -> dict[str, str]:
        """The decision as version tags (``gate.*``)."""
        by_horizon = self.by_horizon_json()
        if len(by_horizon) > _TAG_LIMIT:
            by_horizon = self.by_horizon_json(digits=3)
        if len(by_horizon) > _TAG_LIMIT:
            by_horizon = "too long for a tag: see the run's gate.json artifact"
        champion = self.champion_mae
        return {
            "gate.decision": self.alias,
            "gate.reason": self.reason[:_TAG_LIMIT],
            "gate.candidate_mae": f"{self.candidate_mae:.10g}",
            "gate.persistence_mae": f"{self.persistence_mae:.10g}",
            "gate.champion_mae": "" if champion is None else f"{champion:.10g}",
            "gate.champion_version": ""
            if self.champion_version is None
            else str(self.champion_version),
            "gate.champion_basis": self.champion_basis,
            "gate.tolerance": f"{self.tolerance:g}",
            "gate.folds": json.dumps(
                {
                    "origins": [o.strftime("%Y-%m-%dT%H:%MZ") for o in self.plan.origins],
                    "hours": int(self.plan.length / HOUR),
                    "cells": int(self.scores["n"].sum()),
                },
                separators=(",", ":"),
            ),
            "gate.by_horizon": by_horizon,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, to hand the decision from one training stage to the next."""
        return {
            "promote": self.promote,
            "reason": self.reason,
            "scores": json.loads(self.scores.reset_index().to_json(orient="records")),
            "plan": self.plan.to_dict(),
            "champion_version": self.champion_version,
            "champion_basis": self.champion_basis,
            "champion_note": self.champion_note,
            "tolerance": self.tolerance,
            "margins": self.margins,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateDecision:
        """Inverse of :meth:`to_dict`."""
        scores = pd.DataFrame.from_records(data["scores"]).set_index("horizon").astype("float64")
        scores.index = scores.index.astype("int64")
        return cls(
            promote=bool(data["promote"]),
            reason=str(data["reason"]),
            scores=scores,
            plan=FoldPlan.from_dict(data["plan"]),
            champion_version=data["champion_version"],
            champion_basis=str(data["champion_basis"]),
            champion_note=str(data["champion_note"]),
            tolerance=float(data["tolerance"]),
            margins={k: float(v) for k, v in data["margins"].items()},
        )


def _worse(candidate: pd.Series, reference: pd.Series, tolerance: float) -> list[int]:
    """Horizons where the candidate's MAE exceeds the reference's by more than the tolerance."""
    over = candidate > reference * (1.0 + tolerance)
    return [int(str(h)) for h in candidate.index[over.to_numpy()]]


def _horizons(hs: Sequence[int], candidate: pd.Series, reference: pd.Series) -> str:
    shown = ", ".join(f"h{h} {candidate[h]:.3g} vs {reference[h]:.3g}" for h in hs[:4])
    return shown + (f" and {len(hs) - 4} more" if len(hs) > 4 else "")


def decide(
    scores: pd.DataFrame, plan: FoldPlan, champion: ChampionCells, gate: GateSettings
) -> GateDecision:
    """Apply the rule to the per-horizon ``scores`` of :func:`horizon_scores`.

    The candidate is promoted when, at every horizon, its MAE is at most
    ``1 + gate_horizon_tolerance`` times persistence's, its horizon-averaged MAE is
    ``gate_margin_over_persistence`` below persistence's, and, when the champion was scored,
    the same two conditions hold against the champion on the champion's cells (with
    ``gate_margin_over_champion``).
    """
    tol = gate.gate_horizon_tolerance
    cand, pers = scores["candidate"], scores["persistence"]
    reasons: list[str] = []
    worse = _worse(cand, pers, tol)
    if worse:
        reasons.append(
            f"worse than persistence by more than {tol:.0%} at {len(worse)} horizon(s): "
            + _horizons(worse, cand, pers)
        )
    elif not cand.mean() < pers.mean() * (1.0 - gate.gate_margin_over_persistence):
        reasons.append(
            f"mean MAE {cand.mean():.4g} not {gate.gate_margin_over_persistence:.1%} below "
            f"persistence {pers.mean():.4g}"
        )
    scored = champion.cells is not None
    if not reasons and scored:
        mine, theirs = scores["candidate_vs_champion"], scores["champion"]
        worse = _worse(mine, theirs, tol)
        if worse:
            reasons.append(
                f"worse than champion v{champion.version} by more than {tol:.0%} at "
                f"{len(worse)} horizon(s): " + _horizons(worse, mine, theirs)
            )
        elif not mine.mean() < theirs.mean() * (1.0 - gate.gate_margin_over_champion):
            reasons.append(
                f"mean MAE {mine.mean():.4g} not {gate.gate_margin_over_champion:.1%} below "
                f"champion v{champion.version} {theirs.mean():.4g}"
            )
    folds = f"{len(plan.origins)} fold(s) of {int(plan.length / HOUR)} h"
    if reasons:
        reason = reasons[0]
    elif scored:
        reason = (
            f"mean MAE {scores['candidate_vs_champion'].mean():.4g} beats champion "
            f"v{champion.version} {scores['champion'].mean():.4g} ({champion.basis}) and "
            f"persistence {pers.mean():.4g}, within {tol:.0%} at every horizon"
        )
    else:
        reason = (
            f"mean MAE {cand.mean():.4g} beats persistence {pers.mean():.4g}, within {tol:.0%} "
            "at every horizon"
        )
        if champion.basis in ("unscorable", "baseline"):
            reason += f"; champion v{champion.version} not compared: {champion.note}"
    return GateDecision(
        promote=not reasons,
        reason=f"{reason} ({folds})",
        scores=scores,
        plan=plan,
        champion_version=champion.version,
        champion_basis=champion.basis,
        champion_note=champion.note,
        tolerance=tol,
        margins={
            "over_champion": gate.gate_margin_over_champion,
            "over_persistence": gate.gate_margin_over_persistence,
        },
    )


# ----------------------------------------------------------------------------- champion


def score_champion(
    name: str,
    measurements: pd.DataFrame,
    locations: pd.DataFrame,
    plan: FoldPlan,
    cells: pd.DataFrame,
    *,
    tracking_uri: str | None = None,
    weather: pd.DataFrame | None = None,
) -> ChampionCells:
    """Forecast the fold cells with the current champion of ``name`` (rebuilding features
    from the champion's own spec) and keep the cells both it and the candidate forecast.

    A champion that cannot be loaded or scored (another kind of model, a broken artifact)
    is reported as ``unscorable`` and the candidate is compared with persistence only.
    """
    from aircast.evaluation import Backtest
    from aircast.features import build_features, build_targets
    from aircast.registry import champion_version, load_model, training_data_end, version_kind

    version = champion_version(name, tracking_uri=tracking_uri)
    if version is None:
        return ChampionCells(None, "none")
    if version_kind(name, version, tracking_uri=tracking_uri) == "baseline":
        return ChampionCells(
            version,
            "baseline",
            "the champion is the baseline (no trees): the first trained model is judged "
            "against persistence",
        )
    try:
        champion = load_model(name, version=version, tracking_uri=tracking_uri).forecaster
        # a champion with weather covariates reads the training's weather rows (as of each
        # row's issue time); without them it answers by its no-weather fallback
        features = build_features(measurements, locations, champion.spec, weather=weather)
        targets = build_targets(measurements, champion.spec)
        issue = pd.DatetimeIndex(features["issue_time"])
        parts = []
        for origin, fold_end in plan.folds():
            rows = np.asarray((issue >= origin) & (issue < fold_end))
            parts.append(Backtest.score(champion, features[rows], targets[rows]).cells)
        scored = pd.concat(parts, ignore_index=True)
        data_end = training_data_end(name, version, tracking_uri=tracking_uri)
    # Why so broad: whatever the champion is (an old format, another kind of model), failing
    # to score it must not block training; the decision records why it was not compared.
    except Exception as exc:  # noqa: BLE001
        return ChampionCells(version, "unscorable", f"{type(exc).__name__}: {exc}"[:300])
    if scored.empty:
        return ChampionCells(version, "unscorable", "it forecast none of the fold cells")
    champion_cells = scored[[*KEY, "aircast"]].rename(columns={"aircast": "champion"})
    common = cells.merge(champion_cells, on=KEY)
    return select_champion_cells(common, version, data_end)
