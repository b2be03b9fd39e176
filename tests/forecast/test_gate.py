"""The gate's arithmetic: fold plans sized from the data, per-horizon scores, the rule, tags."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aircast import combination
from aircast.gate import (
    MIN_OUT_OF_SAMPLE_CELLS,
    ChampionCells,
    FoldPlan,
    GateDecision,
    NotEnoughHistoryError,
    decide,
    horizon_scores,
    plan_folds,
    select_champion_cells,
)
from aircast.settings import GateSettings

START = pd.Timestamp("2025-01-01T00:00Z")
HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)
GATE = GateSettings()


def test_thirty_days_give_contiguous_folds_after_the_warm_up() -> None:
    end = START + 30 * DAY
    plan = plan_folds(START, end, calibration_days=14, gate=GATE)
    # warm-up 7 + 14 days; the 9 days left make 4 folds of 54 h, back to back
    assert len(plan.origins) == 4
    assert plan.length == 54 * HOUR
    assert plan.origins[0] == START + 21 * DAY
    assert plan.origins[-1] + plan.length == end
    assert all(b - a == plan.length for a, b in zip(plan.origins, plan.origins[1:], strict=False))


def test_a_year_spreads_capped_folds_over_the_seasons() -> None:
    end = START + 365 * DAY
    plan = plan_folds(START, end, calibration_days=14, gate=GATE)
    assert len(plan.origins) == 4
    assert plan.length == 14 * DAY
    assert plan.origins[-1] + plan.length == end
    steps = {b - a for a, b in zip(plan.origins, plan.origins[1:], strict=False)}
    assert len(steps) == 1
    assert steps.pop() > 100 * DAY
    warm_up_end = START + 21 * DAY
    assert warm_up_end <= plan.origins[0] < warm_up_end + 3 * HOUR
    assert FoldPlan.from_dict(plan.to_dict()) == plan


def test_a_year_long_calibration_cap_keeps_the_warm_up_short() -> None:
    # the default cap (365): the first fold holds out a third of its 21 days, not 365
    for end in (START + 30 * DAY, START + 365 * DAY):
        capped = plan_folds(START, end, calibration_days=365, gate=GATE)
        assert capped == plan_folds(START, end, calibration_days=14, gate=GATE)
    assert combination.held_out_days(21, 365) == 7  # the first fold still fits on 14 days
    assert combination.held_out_days(365, 365) == 121  # a year's candidate: a third
    # a cap below twice the fitting days is held out in full before the first fold
    small = plan_folds(START, START + 30 * DAY, calibration_days=5, gate=GATE)
    assert small.origins[0] == START + 12 * DAY


def test_short_history_gets_fewer_folds_of_the_minimum_length() -> None:
    end = START + 21 * DAY + 60 * HOUR
    plan = plan_folds(START, end, calibration_days=14, gate=GATE)
    assert (len(plan.origins), plan.length) == (2, 30 * HOUR)
    gate = GateSettings(gate_folds=1)
    assert plan_folds(START, end, calibration_days=14, gate=gate).origins == (end - 60 * HOUR,)


def test_too_little_history_for_any_fold_says_how_much_is_needed() -> None:
    end = START + 21 * DAY + 12 * HOUR
    with pytest.raises(NotEnoughHistoryError) as err:
        plan_folds(START, end, calibration_days=14, gate=GATE)
    message = str(err.value)
    assert "21.5 days of history (2025-01-01 00:00 to 2025-01-22 12:00 UTC)" in message
    assert "21 days of training" in message
    assert "AIRCAST_GATE_MIN_TRAIN_DAYS=7" in message
    assert "AIRCAST_TRAIN_CALIBRATION_DAYS=14" in message
    assert "one fold of 24 h" in message


def _plan() -> FoldPlan:
    return plan_folds(START, START + 30 * DAY, calibration_days=14, gate=GATE)


def _scores(candidate: list[float], persistence: list[float], champion: list[float] | None = None):  # type: ignore[no-untyped-def]
    hs = list(range(1, len(candidate) + 1))
    table = pd.DataFrame(
        {"candidate": candidate, "persistence": persistence, "n": 100.0},
        index=pd.Index(hs, name="horizon"),
    )
    table["champion"] = np.nan if champion is None else champion
    table["candidate_vs_champion"] = np.nan if champion is None else candidate
    table["n_champion"] = np.nan if champion is None else 100.0
    return table


def _champion(version: int = 3) -> ChampionCells:
    # decide() only looks at whether the champion was scored, not at its cells
    return ChampionCells(version, "out_of_sample", "", pd.DataFrame())


def test_first_model_may_trail_persistence_within_the_tolerance_at_one_horizon() -> None:
    scores = _scores([2.06, 3.0, 3.5], [2.0, 3.5, 4.5])  # h1 3 % worse, better on average
    decision = decide(scores, _plan(), ChampionCells(None, "none"), GATE)
    assert decision.promote
    assert decision.alias == "champion"
    assert "beats persistence" in decision.reason
    assert "4 fold(s) of 54 h" in decision.reason


def test_beyond_the_tolerance_at_any_horizon_is_rejected_naming_it() -> None:
    scores = _scores([2.3, 3.0, 3.5], [2.0, 3.5, 4.5])  # h1 15 % worse, better on average
    decision = decide(scores, _plan(), ChampionCells(None, "none"), GATE)
    assert not decision.promote
    assert decision.alias == "challenger"
    assert "worse than persistence by more than 5% at 1 horizon(s): h1 2.3 vs 2" in decision.reason
    lenient = GateSettings(gate_horizon_tolerance=0.2)
    assert decide(scores, _plan(), ChampionCells(None, "none"), lenient).promote


def test_no_better_on_average_is_rejected() -> None:
    scores = _scores([2.0, 3.5, 4.5], [2.0, 3.5, 4.5])
    decision = decide(scores, _plan(), ChampionCells(None, "none"), GATE)
    assert not decision.promote
    assert "not 0.0% below persistence" in decision.reason
    margin = GateSettings(gate_margin_over_persistence=0.1)
    better = _scores([1.9, 3.3, 4.2], [2.0, 3.5, 4.5])  # 6 % better on average: not 10 %
    assert decide(better, _plan(), ChampionCells(None, "none"), GATE).promote
    assert not decide(better, _plan(), ChampionCells(None, "none"), margin).promote


def test_a_later_model_must_also_beat_the_champion() -> None:
    worse = _scores([2.0, 3.0, 3.6], [2.1, 3.5, 4.5], champion=[1.9, 2.9, 3.5])
    decision = decide(worse, _plan(), _champion(), GATE)
    assert not decision.promote
    assert "champion v3" in decision.reason
    assert decision.champion_mae == pytest.approx((1.9 + 2.9 + 3.5) / 3)
    better = _scores([2.0, 3.0, 3.4], [2.1, 3.5, 4.5], champion=[2.0, 3.1, 3.6])
    decision = decide(better, _plan(), _champion(), GATE)
    assert decision.promote
    assert "beats champion v3" in decision.reason
    # far worse than the champion at one horizon, although better on average
    lopsided = _scores([2.4, 2.0, 2.0], [2.5, 3.5, 4.5], champion=[2.0, 3.1, 3.6])
    assert not decide(lopsided, _plan(), _champion(), GATE).promote


def test_an_unscorable_champion_leaves_persistence_as_the_reference() -> None:
    scores = _scores([2.0, 3.0, 3.4], [2.1, 3.5, 4.5])
    unscorable = ChampionCells(4, "unscorable", "ValueError: not a forecaster")
    decision = decide(scores, _plan(), unscorable, GATE)
    assert decision.promote
    assert "champion v4 not compared: ValueError: not a forecaster" in decision.reason
    assert decision.tags()["gate.champion_basis"] == "unscorable"


def test_tags_metrics_and_hand_over_carry_the_per_horizon_numbers() -> None:
    scores = _scores([2.0123456, 3.0, 3.4], [2.1, 3.5, 4.5], champion=[2.0, 3.1, 3.6])
    decision = decide(scores, _plan(), _champion(), GATE)
    tags = decision.tags()
    by_horizon = json.loads(tags["gate.by_horizon"])
    assert by_horizon["h"] == [1, 2, 3]
    assert by_horizon["candidate"] == [2.012, 3.0, 3.4]
    assert by_horizon["champion"] == [2.0, 3.1, 3.6]
    folds = json.loads(tags["gate.folds"])
    assert folds == {
        "origins": ["2025-01-22T00:00Z", "2025-01-24T06:00Z", "2025-01-26T12:00Z",
                    "2025-01-28T18:00Z"],
        "hours": 54,
        "cells": 300,
    }  # fmt: skip
    assert tags["gate.tolerance"] == "0.05"
    assert float(tags["gate.persistence_mae"]) == pytest.approx(decision.persistence_mae)
    steps = decision.horizon_metrics()
    assert steps[2] == {
        "gate_mae_candidate": 3.0,
        "gate_mae_persistence": 3.5,
        "gate_mae_champion": 3.1,
        "gate_mae_candidate_vs_champion": 3.0,
    }
    assert decision.metrics()["gate_folds"] == 4
    again = GateDecision.from_dict(json.loads(json.dumps(decision.to_dict())))
    assert again.tags() == tags
    pd.testing.assert_frame_equal(again.scores, decision.scores, check_dtype=False)
    without = decide(_scores([2.0], [2.1]), _plan(), ChampionCells(None, "none"), GATE)
    assert json.loads(without.tags()["gate.by_horizon"])["champion"] is None
    assert "gate_mae_champion" not in without.horizon_metrics()[1]


def test_long_horizon_tags_stay_under_mlflows_limit() -> None:
    rng = np.random.default_rng(0)
    n = 168
    scores = _scores(
        list(rng.uniform(1, 9, n)), list(rng.uniform(10, 19, n)), list(rng.uniform(1, 9, n))
    )
    decision = decide(scores, _plan(), _champion(), GATE)
    assert all(len(v) <= 5000 for v in decision.tags().values())


def _cells(issue_times: pd.DatetimeIndex, horizons: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        [(1, t, h) for t in issue_times for h in range(1, horizons + 1)],
        columns=["location_id", "issue_time", "horizon"],
    )
    frame["observed"] = rng.uniform(5, 50, len(frame))
    frame["aircast"] = frame["observed"] + rng.normal(0, 2, len(frame))
    frame["persistence"] = frame["observed"] + rng.normal(0, 4, len(frame))
    return frame


def test_scores_are_per_horizon_maes_on_the_given_cells() -> None:
    cells = _cells(pd.date_range(START, periods=48, freq="h"), 3)
    common = cells.assign(champion=cells["observed"] + 1.0).iloc[::2]
    table = horizon_scores(cells, ChampionCells(2, "all_cells", "", common))
    err = (cells["aircast"] - cells["observed"]).abs()
    np.testing.assert_allclose(table["candidate"], err.groupby(cells["horizon"]).mean())
    np.testing.assert_allclose(table["champion"], [1.0, 1.0, 1.0])
    mine = (common["aircast"] - common["observed"]).abs().groupby(common["horizon"]).mean()
    np.testing.assert_allclose(table["candidate_vs_champion"], mine)
    assert list(table["n"]) == [48, 48, 48]
    assert list(table["n_champion"]) == [24, 24, 24]
    alone = horizon_scores(cells, ChampionCells(None, "none"))
    assert alone["champion"].isna().all()


def test_champion_is_scored_out_of_sample_when_enough_cells_are_unseen() -> None:
    times = pd.date_range(START, periods=96, freq="h")
    common = _cells(times, 2).assign(champion=1.0)
    data_end = START + 48 * HOUR
    chosen = select_champion_cells(common, 5, data_end)
    assert chosen.basis == "out_of_sample"
    assert chosen.cells is not None
    assert (pd.DatetimeIndex(chosen.cells["issue_time"]) >= data_end).all()
    assert len(chosen.cells) == 48 * 2
    # too few unseen cells: every common cell, marked as partly in sample for the champion
    late = START + (96 - MIN_OUT_OF_SAMPLE_CELLS + 1) * HOUR
    fallback = select_champion_cells(common, 5, late)
    assert fallback.basis == "all_cells"
    assert len(fallback.cells) == len(common)
    assert "training data reaches" in fallback.note
    assert select_champion_cells(common, 5, None).basis == "all_cells"
    assert select_champion_cells(common.iloc[:0], 5, None).basis == "unscorable"
