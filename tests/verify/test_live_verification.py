"""The archive, its verification and the alarms on the real stack (PostgreSQL, MLflow, S3).

Verification figures are checked against an independent computation in pandas from the
stored forecasts, issues and observations (not the SQL under test).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import psycopg
import pytest

from aircast import alarms, drift, live, registry, store, verification
from aircast.forecast_archive import forecast_issues, issue_forecasts, prune
from aircast.settings import VerificationSettings

from .conftest import END, SHIFT, T0, MageTriggerStub, Scenario

pytestmark = [pytest.mark.integration]

HORIZONS = 24


def _frame(conninfo: str, sql: str, columns: list[str]) -> pd.DataFrame:
    with psycopg.connect(conninfo) as conn:
        return pd.DataFrame(conn.execute(sql).fetchall(), columns=columns)


def _archive(conninfo: str) -> pd.DataFrame:
    return _frame(
        conninfo,
        "SELECT location_id, parameter, model_version, issue_time, horizon, target_time, point, "
        "p10, p90 FROM forecasts ORDER BY 1, 2, 3, 4, 5",
        ["location_id", "parameter", "model_version", "issue_time", "horizon", "target_time",
         "point", "p10", "p90"],
    )  # fmt: skip


def test_every_active_location_is_issued_once_per_hour(scenario: Scenario) -> None:
    archived = _archive(scenario.conninfo)
    issues = archived.groupby(["location_id", "issue_time"]).size()
    assert set(issues) == {HORIZONS}
    assert set(archived["location_id"]) == set(scenario.location_ids)
    # each issue time is a location's newest observation: at most one per location and hour
    assert len(issues) <= len(scenario.location_ids) * len(scenario.issue_hours)
    assert len(issues) > 0.9 * len(scenario.location_ids) * len(scenario.issue_hours)
    assert (archived["target_time"] - archived["issue_time"] == pd.to_timedelta(
        archived["horizon"], unit="h")).all()  # fmt: skip
    assert (archived["p10"] <= archived["point"]).all()
    assert (archived["point"] <= archived["p90"]).all()
    assert set(archived["model_version"]) == {scenario.version}


def test_reissuing_adds_nothing_and_a_failed_chunk_is_completed(scenario: Scenario) -> None:
    loaded = registry.load_model(scenario.name, version=scenario.version)
    before = _archive(scenario.conninfo)
    again = issue_forecasts(scenario.conninfo, "pm25", loaded.forecaster, loaded.version, until=END)
    assert again.issued == 0
    assert again.rows == 0
    assert again.already_archived == again.active > 0
    pd.testing.assert_frame_equal(_archive(scenario.conninfo), before)

    # A run that dies after its first chunk keeps that chunk; the re-run writes the rest.
    later = END + pd.Timedelta(hours=1)  # no observation after END: nothing to issue ...
    assert (
        issue_forecasts(
            scenario.conninfo, "pm25", loaded.forecaster, loaded.version, until=later
        ).issued
        == 0
    )
    with psycopg.connect(scenario.conninfo) as conn:  # ... so re-issue the last hour afresh
        conn.execute("DELETE FROM forecasts WHERE issue_time = %s", (END,))
        conn.execute("DELETE FROM forecast_issues WHERE issue_time = %s", (END,))

    def die(chunk: int) -> None:
        raise RuntimeError(f"killed after chunk {chunk}")

    with pytest.raises(RuntimeError, match="killed after chunk 1"):
        issue_forecasts(
            scenario.conninfo, "pm25", loaded.forecaster, loaded.version,
            until=END, chunk_locations=1, after_chunk=die,
        )  # fmt: skip
    partial = _archive(scenario.conninfo)
    assert partial[partial["issue_time"] == END]["location_id"].nunique() == 1
    rerun = issue_forecasts(
        scenario.conninfo, "pm25", loaded.forecaster, loaded.version, until=END, chunk_locations=1
    )
    assert rerun.already_archived == 1
    after = _archive(scenario.conninfo)
    pd.testing.assert_frame_equal(after, before)
    # and the stored numbers are the forecaster's own for those issues
    last = after[after["issue_time"] == END]
    issues = [(int(loc), END.to_pydatetime()) for loc in sorted(set(last["location_id"]))]
    with psycopg.connect(scenario.conninfo) as conn:
        expected, persistence, _ = forecast_issues(conn, loaded.forecaster, issues, 12)
    np.testing.assert_array_equal(
        last.sort_values(["location_id", "horizon"])["point"].to_numpy(),
        expected.sort_values(["location_id", "horizon"])["point"].to_numpy(),
    )
    assert persistence["persistence"].notna().all()


def _independent(conninfo: str, end: pd.Timestamp) -> pd.DataFrame:
    """Window figures from the raw rows, by pandas, per (location, version, horizon, window)."""
    archived = _archive(conninfo)
    issues = _frame(
        conninfo,
        "SELECT location_id, issue_time, model_version, persistence FROM forecast_issues",
        ["location_id", "issue_time", "model_version", "persistence"],
    )
    observed = store.load_measurements(conninfo, "pm25").rename(
        columns={"datetime": "target_time", "value": "observed"}
    )[["location_id", "target_time", "observed"]]
    pairs = archived.merge(issues, on=["location_id", "issue_time", "model_version"]).merge(
        observed, on=["location_id", "target_time"]
    )
    pairs = pairs[pairs["persistence"].notna()]
    per_target = pairs.groupby(["location_id", "model_version", "target_time"])["horizon"]
    complete = per_target.transform("nunique") == HORIZONS
    pairs = pairs[complete]
    rows = []
    for window, hours in verification.WINDOWS.items():
        inside = pairs[
            (pairs["target_time"] > end - pd.Timedelta(hours=hours)) & (pairs["target_time"] <= end)
        ]
        for (loc, version, h), g in inside.groupby(["location_id", "model_version", "horizon"]):
            error = g["point"] - g["observed"]
            persistence = (g["persistence"] - g["observed"]).abs().mean()
            covered = (g["observed"] >= g["p10"]) & (g["observed"] <= g["p90"])
            rows.append(
                {
                    "location_id": loc, "model_version": version, "horizon": h,
                    "window": window, "pairs": len(g), "mae": error.abs().mean(),
                    "bias": error.mean(), "rmse": float(np.sqrt((error**2).mean())),
                    "coverage": covered.mean(), "persistence_mae": persistence,
                    "skill": 1 - error.abs().mean() / persistence,
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_scores_match_an_independent_computation(scenario: Scenario) -> None:
    # Observations "arrive" in two steps; the second overlaps the first (late data).
    first = verification.score(
        scenario.conninfo, "pm25", until=T0 + pd.Timedelta(hours=60), lookback_hours=1000
    )
    second = verification.score(scenario.conninfo, "pm25", until=END, lookback_hours=48)
    assert first.scored > 0
    assert second.scored > 0
    assert verification.score(scenario.conninfo, "pm25", until=END, lookback_hours=500).scored == 0

    end = verification.newest_scored(scenario.conninfo, "pm25")
    assert end is not None
    expected = _independent(scenario.conninfo, pd.Timestamp(end))
    got = verification.scores_frame(verification.verification(scenario.conninfo, "pm25"))
    # every location has scored target times in 7 d (the 24 h window may miss one in a gap)
    assert len(got) == len(expected) >= len(scenario.location_ids) * HORIZONS * 2
    assert set(got.loc[got["window"] == "7d", "location_id"]) == set(scenario.location_ids)
    key = ["location_id", "model_version", "horizon", "window"]
    merged = got.merge(expected, on=key, suffixes=("", "_expected"))
    assert len(merged) == len(expected)
    assert (merged["pairs"] == merged["pairs_expected"]).all()
    for column in ("mae", "bias", "rmse", "coverage", "persistence_mae", "skill"):
        np.testing.assert_allclose(merged[column], merged[f"{column}_expected"], rtol=1e-9)
    # same target times for every horizon of a comparison
    assert (got.groupby(["location_id", "model_version", "window"])["pairs"].nunique() == 1).all()
    # the 24 h window is exactly 24 target hours wide, and 7 d holds everything scored so far
    assert got.loc[got["window"] == "24h", "pairs"].max() <= 24
    assert (
        got.loc[got["window"] == "7d", "pairs"].to_numpy()
        == got.loc[got["window"] == "30d", "pairs"].to_numpy()
    ).all()

    # all locations together, as /metrics and MLflow get them
    summary = verification.scores_frame(verification.summarize(scenario.conninfo, "pm25"))
    pooled = _independent(scenario.conninfo, pd.Timestamp(end))
    for (window, h), g in summary.groupby(["window", "horizon"]):
        part = pooled[(pooled["window"] == window) & (pooled["horizon"] == h)]
        weights = part["pairs"]
        row = g.iloc[0]
        assert row["pairs"] == weights.sum()
        assert row["mae"] == pytest.approx((part["mae"] * weights).sum() / weights.sum(), 1e-9)


def test_a_window_filter_and_horizon_filter_select(scenario: Scenario) -> None:
    location = scenario.location_ids[0]
    some = verification.verification(
        scenario.conninfo, "pm25", windows=["7d"], location_ids=[location], horizon=6
    )
    assert [(s.location_id, s.window, s.horizon) for s in some] == [(location, "7d", 6)]


def test_alarms_record_log_and_start_retraining(
    scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    with MageTriggerStub() as mage:
        settings = VerificationSettings(
            verify_skill_floor=0.99,  # a floor no real forecast reaches: the skill alarm
            verify_min_pairs=24,
            # a few days of a seasonal, autocorrelated series already differ from 50 days of
            # training data (a week: PSI ~0.7 here without the change): the threshold sits
            # above that, the changed days far above it
            verify_psi_threshold=2.5,
            verify_drift_hours=72,
            verify_lookback_hours=200,
            retrain_trigger_url=mage.url,
            retrain_trigger_token="retrain_token_1",  # type: ignore[arg-type]
        )
        with caplog.at_level(logging.WARNING, logger="aircast.alarms"):
            result = live.verify(scenario.conninfo, "pm25", settings=settings, until=END)
        # the PM2.5 of the last four days is ten times what the model was trained on; the
        # same days without that change stay below the threshold
        assert result["psi"]["pm25"] > 2.5
        recent = store.load_measurements(
            scenario.conninfo, "pm25", since=END - pd.Timedelta(hours=72), until=END
        )
        unshifted = np.where(recent["datetime"] > T0, recent["value"] / SHIFT, recent["value"])
        reference = drift.load_reference(scenario.name, scenario.version)
        assert reference is not None
        calm = drift.psi(reference["features"]["pm25"], unshifted)
        assert calm < 2.5
        kinds = {(a["kind"], a["feature"]) for a in result["alarms"]}
        assert {("drift", "pm25"), ("skill", "None")} <= kinds
        drifted = {f for k, f in kinds if k == "drift"}
        assert drifted == {f for f, v in result["psi"].items() if v > 2.5}
        assert len(mage.calls) == 1
        path, body = mage.calls[0]
        assert path == "/api/pipeline_schedules/3/pipeline_runs/retrain_token_1"
        assert body == {"pipeline_run": {"variables": {"parameter": "pm25"}}}
        logged_alarms = [r for r in caplog.records if "verification alarm:" in r.getMessage()]
        assert len(logged_alarms) == len(kinds)

        # within the cool-down the same alarms are neither raised nor retrained again
        again = live.verify(scenario.conninfo, "pm25", settings=settings, until=END)
        assert again["alarms"] == []
        assert len(mage.calls) == 1

    with psycopg.connect(scenario.conninfo) as conn:
        rows = conn.execute(
            "SELECT kind, coalesce(feature, 'None'), retraining, model_version "
            "FROM verification_alarms"
        ).fetchall()
    assert {(kind, feature) for kind, feature, _, _ in rows} == kinds
    assert {(retraining, version) for _, _, retraining, version in rows} == {
        ("started: run 7", scenario.version)
    }
    # the checks can stay silent: a floor below the skill and a threshold above the PSI
    summary = verification.summarize(scenario.conninfo, "pm25")
    quiet = VerificationSettings(verify_skill_floor=-100.0, verify_psi_threshold=1000.0)
    assert alarms.check_skill(summary, "pm25", quiet) is None
    assert alarms.check_drift(result["psi"], "pm25", 1, datetime.now(UTC), quiet) == []

    # live metrics on the version's MLflow run equal the summary
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run_id = client.get_model_version(scenario.name, str(scenario.version)).run_id
    logged = client.get_run(run_id).data.metrics
    skill = next(s for s in summary if s.window == "7d" and s.horizon == 24)
    assert logged["live_7d_skill_h24"] == pytest.approx(skill.skill)
    assert logged["live_24h_pairs_h1"] > 0


def test_drift_reference_was_recorded_at_training(scenario: Scenario) -> None:
    reference = drift.load_reference(scenario.name, scenario.version)
    assert reference is not None
    assert set(reference["features"]) == {"pm25", "temperature"}
    shares = reference["features"]["pm25"]["shares"]
    assert sum(shares) == pytest.approx(1.0)
    # the training data against itself is stable
    train = store.load_measurements(
        scenario.conninfo, "pm25", until=T0, since=T0 - pd.Timedelta(days=50)
    )
    assert drift.psi(reference["features"]["pm25"], train["value"].to_numpy()) < 0.01


def test_retention_drops_old_months(scenario: Scenario) -> None:
    # Nothing is older than a year: nothing goes.
    kept = prune(scenario.conninfo, 400, now=END.to_pydatetime())
    assert kept["dropped_partitions"] == []
    assert kept["deleted_rows"] == 0
    before = len(_archive(scenario.conninfo))
    # With a cut-off in the middle of the issued days, the older issues go and nothing else.
    cutoff = END - pd.Timedelta(days=2)
    result = prune(scenario.conninfo, 31, now=(cutoff + pd.Timedelta(days=31)).to_pydatetime())
    after = _archive(scenario.conninfo)
    assert result["deleted_rows"] == before - len(after) > 0
    assert (after["issue_time"] >= cutoff).all()
