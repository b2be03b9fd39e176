"""The hourly live cycle the Mage pipeline ``issue_forecasts`` runs: issue, then verify.

:func:`issue` archives the champion's forecast of every active location
(:mod:`aircast.forecast_archive`) and applies the retention; :func:`verify` scores the archive
against the observations that arrived (:mod:`aircast.verification`), refreshes the
all-locations summary, logs it to MLflow, and checks the skill and drift alarms
(:mod:`aircast.alarms`, :mod:`aircast.drift`). Both are safe to re-run.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from aircast import alarms, drift, verification
from aircast.forecast_archive import issue_forecasts, prune
from aircast.registry import champion_version, load_model, model_name
from aircast.settings import ArchiveSettings, VerificationSettings
from aircast.store.queries import _utc

log = logging.getLogger("aircast.live")


def parameters(value: str | None, settings: ArchiveSettings | None = None) -> list[str]:
    """Parameters from a comma-separated pipeline variable, else ``AIRCAST_ARCHIVE_PARAMETERS``."""
    text = value or (settings or ArchiveSettings()).archive_parameters
    return [p.strip() for p in text.split(",") if p.strip()]


def issue(
    conninfo: str,
    parameter: str,
    *,
    settings: ArchiveSettings | None = None,
    until: datetime | str | pd.Timestamp | None = None,
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """Archive the champion's forecasts of ``parameter`` and prune beyond the retention."""
    settings = settings or ArchiveSettings()
    loaded = load_model(model_name(parameter), tracking_uri=tracking_uri)
    summary = issue_forecasts(
        conninfo,
        parameter,
        loaded.forecaster,
        loaded.version,
        until=until,
        active_hours=settings.archive_active_hours,
        min_recent_hours=settings.archive_min_recent_hours,
        chunk_locations=settings.archive_chunk_locations,
    )
    moment = _utc(until) or datetime.now(UTC)
    pruned = prune(conninfo, settings.archive_retention_days, now=moment)
    return {**summary.as_dict(), "pruned": pruned}


def verify(
    conninfo: str,
    parameter: str,
    *,
    settings: VerificationSettings | None = None,
    until: datetime | str | pd.Timestamp | None = None,
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """Score, summarise, log live metrics, and raise the skill and drift alarms."""
    settings = settings or VerificationSettings()
    end = _utc(until) or datetime.now(UTC)
    scored = verification.score(
        conninfo, parameter, until=end, lookback_hours=settings.verify_lookback_hours
    )
    summary = verification.summarize(conninfo, parameter)
    runs: dict[int, str] = {}
    if settings.verify_mlflow and summary:
        runs = verification.log_live_metrics(parameter, summary, tracking_uri=tracking_uri)
    raised: list[alarms.Alarm] = []
    skill = alarms.check_skill(summary, parameter, settings)
    if skill is not None:
        raised.append(skill)
    name = model_name(parameter)
    version = champion_version(name, tracking_uri=tracking_uri)
    psi: dict[str, float] = {}
    if version is not None:
        reference = drift.load_reference(name, version, tracking_uri=tracking_uri)
        if reference is None:
            log.info("%s v%s has no drift reference; drift not checked", name, version)
        else:
            recent = drift.recent_values(
                conninfo,
                list(reference.get("features", {})),
                end - timedelta(hours=settings.verify_drift_hours),
                end,
            )
            psi = drift.drift(reference, recent)
            raised += alarms.check_drift(psi, parameter, version, end, settings)
    recorded = alarms.raise_alarms(conninfo, raised, settings) if raised else []
    return {
        **scored.as_dict(),
        "summary_rows": len(summary),
        "mlflow_runs": {str(k): v for k, v in runs.items()},
        "psi": psi,
        "alarms": [{k: str(v) for k, v in a.items()} for a in recorded],
    }
