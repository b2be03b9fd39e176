"""Verification alarms and the retraining trigger.

Two alarms, checked by the verification step after scoring:

* **skill**: the parameter's live skill at ``verify_skill_horizon`` (24 h by default) over the
  7-day window, all locations together, is below ``verify_skill_floor`` (with at least
  ``verify_min_pairs`` scored target times, so one bad hour is not an alarm);
* **drift**: a key feature's PSI between the recent observations and the training data
  (:mod:`aircast.drift`) exceeds ``verify_psi_threshold``.

An alarm is a row of ``verification_alarms``, a WARNING log line (logger ``aircast.alarms``)
and, through the API's ``/metrics``, the gauges ``aircast_verification_alarms``. Raising one
also starts the Mage pipeline ``train_forecaster`` through its API trigger
(``AIRCAST_RETRAIN_TRIGGER_URL`` + ``AIRCAST_RETRAIN_TRIGGER_TOKEN``). An alarm of the same
kind and parameter is not raised again within ``verify_alarm_cooldown_hours``: a model that
stays bad must not start a training every hour.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import httpx

from aircast.settings import VerificationSettings
from aircast.store.queries import Conninfo, _connected
from aircast.verification import WindowScore

log = logging.getLogger("aircast.alarms")


@dataclass(frozen=True)
class Alarm:
    """One alarm before it is recorded."""

    parameter: str
    kind: str  # "skill" or "drift"
    model_version: int | None
    value: float
    threshold: float
    window_end: datetime
    feature: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        """The log line."""
        if self.kind == "skill":
            return (
                f"{self.parameter} v{self.model_version}: live skill {self.value:.3f} "
                f"({self.detail.get('window', '7d')}, h{self.detail.get('horizon')}) is below "
                f"the floor {self.threshold:.3f}"
            )
        return (
            f"{self.parameter} v{self.model_version}: input drift on {self.feature}, "
            f"PSI {self.value:.3f} above {self.threshold:.3f}"
        )


def check_skill(
    scores: Sequence[WindowScore], parameter: str, settings: VerificationSettings
) -> Alarm | None:
    """The skill alarm from the all-locations figures (:func:`aircast.verification.summarize`).

    Judged on the newest model version with enough scored target times in the 7-day window.
    """
    candidates = [
        s
        for s in scores
        if s.location_id is None
        and s.window == "7d"
        and s.horizon == settings.verify_skill_horizon
        and s.pairs >= settings.verify_min_pairs
        and s.skill is not None
    ]
    if not candidates:
        return None
    newest = max(candidates, key=lambda s: s.model_version)
    assert newest.skill is not None  # noqa: S101 - filtered above, for mypy
    if newest.skill >= settings.verify_skill_floor:
        return None
    return Alarm(
        parameter=parameter,
        kind="skill",
        model_version=newest.model_version,
        value=newest.skill,
        threshold=settings.verify_skill_floor,
        window_end=newest.window_end,
        detail={
            "window": "7d",
            "horizon": newest.horizon,
            "pairs": newest.pairs,
            "mae": newest.mae,
            "persistence_mae": newest.persistence_mae,
        },
    )


def check_drift(
    psi_by_feature: Mapping[str, float],
    parameter: str,
    model_version: int | None,
    window_end: datetime,
    settings: VerificationSettings,
) -> list[Alarm]:
    """One drift alarm per key feature whose PSI exceeds the threshold."""
    return [
        Alarm(
            parameter=parameter,
            kind="drift",
            model_version=model_version,
            value=value,
            threshold=settings.verify_psi_threshold,
            window_end=window_end,
            feature=feature,
            detail={"psi": dict(psi_by_feature), "hours": settings.verify_drift_hours},
        )
        for feature, value in sorted(psi_by_feature.items())
        if value > settings.verify_psi_threshold
    ]


def trigger_retraining(
    settings: VerificationSettings, variables: Mapping[str, Any], *, timeout: float = 30.0
) -> str:
    """Start ``train_forecaster`` through its Mage API trigger; returns what happened.

    ``"not configured"`` when no trigger URL is set; ``"started: run N"`` when Mage created
    a pipeline run; ``"failed: ..."`` otherwise (the alarm is recorded either way).
    """
    if not settings.retrain_trigger_url:
        return "not configured"
    url = settings.retrain_trigger_url.rstrip("/")
    if settings.retrain_trigger_token is not None:
        url += "/" + settings.retrain_trigger_token.get_secret_value()
    try:
        response = httpx.post(
            url, json={"pipeline_run": {"variables": dict(variables)}}, timeout=timeout
        )
    except httpx.HTTPError as error:
        return f"failed: {type(error).__name__}: {error}"[:500]
    if response.status_code >= 400:
        return f"failed: HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        body = {}
    run = body.get("pipeline_run") if isinstance(body, dict) else None
    if isinstance(body, dict) and body.get("error"):
        return f"failed: {json.dumps(body['error'])[:400]}"
    run_id = run.get("id") if isinstance(run, dict) else None
    return f"started: run {run_id}" if run_id is not None else "started"


def raise_alarms(
    conninfo: Conninfo, alarms: Sequence[Alarm], settings: VerificationSettings
) -> list[dict[str, Any]]:
    """Record the alarms not in cooldown, log them, and start one retraining per parameter.

    Returns the recorded alarms (with the retraining outcome).
    """
    recorded: list[dict[str, Any]] = []
    with _connected(conninfo) as conn:
        fresh = []
        for alarm in alarms:
            row = conn.execute(
                """
                SELECT 1 FROM verification_alarms
                WHERE parameter = %s AND kind = %s
                  AND raised_at > now() - make_interval(hours => %s)
                LIMIT 1
                """,
                (alarm.parameter, alarm.kind, settings.verify_alarm_cooldown_hours),
            ).fetchone()
            if row is None:
                fresh.append(alarm)
            else:
                log.info("alarm in cooldown, not raised again: %s", alarm.message())
        outcome: dict[str, str] = {}
        for parameter in dict.fromkeys(a.parameter for a in fresh):
            outcome[parameter] = trigger_retraining(settings, {"parameter": parameter})
        for alarm in fresh:
            retraining = outcome[alarm.parameter]
            conn.execute(
                """
                INSERT INTO verification_alarms (parameter, kind, model_version, feature,
                    value, threshold, window_end, detail, retraining)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)
                """,
                (
                    alarm.parameter, alarm.kind, alarm.model_version, alarm.feature,
                    alarm.value, alarm.threshold, alarm.window_end,
                    json.dumps(alarm.detail, default=str), retraining,
                ),
            )  # fmt: skip
            log.warning("verification alarm: %s; retraining %s", alarm.message(), retraining)
            recorded.append({**asdict(alarm), "retraining": retraining})
        conn.commit()
    return recorded


def alarm_counts_query() -> bytes:
    """SQL of ``(parameter, kind, alarms raised in the last 24 h, newest raised_at)``."""
    return b"""
        SELECT parameter, kind,
               count(*) FILTER (WHERE raised_at > now() - interval '24 hours'),
               max(raised_at)
        FROM verification_alarms GROUP BY parameter, kind ORDER BY parameter, kind
    """
