"""Every pipeline's triggers.yaml goes through Mage's own trigger loader, in the Mage env.

No Mage CLI validates schedules, so a typo in a cron string would only surface when the
deployed scheduler silently skipped the pipeline. This loads every file with
``load_trigger_configs(..., raise_exception=True)`` and checks ``has_valid_schedule_interval``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from aircast_dev.stack import hatch_env_executable, project_root

pytestmark = pytest.mark.mage

PIPELINES = project_root() / "components" / "mage" / "aircast_mage" / "pipelines"

CHECK = r"""
import json, sys
from mage_ai.data_preparation.models.triggers import ScheduleType, load_trigger_configs

report = {}
for path in sys.argv[1:]:
    pipeline = path.split("/")[-2]
    with open(path, encoding="utf-8") as handle:
        content = handle.read()
    triggers = load_trigger_configs(content, pipeline_uuid=pipeline, raise_exception=True)
    report[pipeline] = [
        {
            "name": t.name,
            "type": str(getattr(t.schedule_type, "value", t.schedule_type)),
            "interval": t.schedule_interval,
            "valid": t.has_valid_schedule_interval,
            "skip_if_previous_running": bool((t.settings or {}).get("skip_if_previous_running")),
        }
        for t in triggers
    ]
print(json.dumps(report))
"""


def _load(paths: list[Path]) -> dict[str, list[dict[str, object]]]:
    python = hatch_env_executable("mage", "python")
    done = subprocess.run(
        [str(python), "-c", CHECK, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Mage's loader raises on a file it cannot load (e.g. a trigger missing start_time or
    # schedule_interval, which Mage requires even for API triggers: give them `null`).
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, list[dict[str, object]]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


TRIGGER_FILES = sorted(PIPELINES.glob("*/triggers.yaml"))


@pytest.mark.parametrize("path", TRIGGER_FILES, ids=[p.parent.name for p in TRIGGER_FILES])
def test_triggers_yaml_loads_with_a_valid_schedule(path: Path) -> None:
    report = _load([path])
    triggers = report[path.parent.name]
    assert triggers, f"{path.parent.name}/triggers.yaml defines no trigger"
    for trigger in triggers:
        assert trigger["valid"], f"{path.parent.name}: {trigger}"


def test_ingest_openaq_runs_hourly_without_overlapping_runs() -> None:
    assert any(p.parent.name == "ingest_openaq" for p in TRIGGER_FILES)
    report = _load([PIPELINES / "ingest_openaq" / "triggers.yaml"])
    ingest = {t["name"]: t for t in report["ingest_openaq"]}["ingest_openaq_hourly"]
    assert ingest["interval"] == "@hourly"
    assert ingest["type"] == "time"
    assert ingest["skip_if_previous_running"]


def test_issue_forecasts_runs_hourly_after_ingest_without_overlapping_runs() -> None:
    report = _load([PIPELINES / "ingest_openaq" / "triggers.yaml",
                    PIPELINES / "issue_forecasts" / "triggers.yaml"])  # fmt: skip
    ingest = {t["name"]: t for t in report["ingest_openaq"]}["ingest_openaq_hourly"]
    issue = {t["name"]: t for t in report["issue_forecasts"]}["issue_forecasts_hourly"]
    assert issue["type"] == "time"
    assert issue["skip_if_previous_running"]
    # every hour, at a minute after the ingest's (which starts at :05, '@hourly' from 00:05)
    minute, *rest = str(issue["interval"]).split()
    assert rest == ["*", "*", "*", "*"]
    assert ingest["interval"] == "@hourly"
    assert int(minute) > 5


def test_a_bad_cron_string_is_caught(tmp_path: Path) -> None:
    # The check above can fail: a schedule Mage cannot parse is reported invalid.
    bad = tmp_path / "broken_pipeline" / "triggers.yaml"
    bad.parent.mkdir()
    bad.write_text(
        "triggers:\n- name: nightly\n  schedule_type: time\n  schedule_interval: '61 * * * *'\n"
        "  start_time: 2026-01-01 00:00:00\n  status: active\n",
        encoding="utf-8",
    )
    report = _load([bad])
    assert report["broken_pipeline"][0]["valid"] is False


def test_ingest_weather_runs_hourly_after_ingest_without_overlapping_runs() -> None:
    report = _load([PIPELINES / "ingest_openaq" / "triggers.yaml",
                    PIPELINES / "ingest_weather" / "triggers.yaml"])  # fmt: skip
    ingest = {t["name"]: t for t in report["ingest_openaq"]}["ingest_openaq_hourly"]
    weather = {t["name"]: t for t in report["ingest_weather"]}["ingest_weather_hourly"]
    assert weather["type"] == "time"
    assert weather["skip_if_previous_running"]
    minute, *rest = str(weather["interval"]).split()
    assert rest == ["*", "*", "*", "*"]
    assert ingest["interval"] == "@hourly"
    assert int(minute) > 5
