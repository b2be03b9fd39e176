"""Render bench/results/*.json as the benchmark table in docs/benchmarks.md (`bench:report`).

Figures are read from the result files the benchmarks wrote; nothing here measures anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
START = "<!-- bench-table:start -->"
END = "<!-- bench-table:end -->"
DOC = ROOT / "docs" / "benchmarks.md"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _row(what: str, value: str, target: str, met: bool | None) -> str:
    verdict = "—" if met is None else ("met" if met else "**missed**")
    return f"| {what} | {value} | {target} | {verdict} |"


def _ingest(res: dict[str, Any]) -> list[str]:
    return [
        _row(
            f"upsert of {res['rows']:,} hourly rows (`bench:ingest`)",
            f"{res['upsert_rows_per_s']:,.0f} rows/s",
            "≥ 100,000 rows/s",
            res["upsert_rows_per_s"] >= 100_000,
        ),
        _row(
            "raw COPY into an unindexed table (ceiling)",
            f"{res['copy_rows_per_s']:,.0f} rows/s (upsert/COPY = {res['ratio']:.2f})",
            "—",
            None,
        ),
        _row(
            "backfill 12 months x 12 stations from the local OpenAQ server",
            f"{res['backfill_seconds']:.1f} s",
            "—",
            None,
        ),
    ]


def _skill(res: dict[str, Any]) -> list[str]:
    h1, h24 = res["horizons"]["1"], res["horizons"]["24"]
    gain24 = 1 - h24["mae"]["aircast"] / h24["mae"]["persistence"]
    coverage = [h["coverage_p10_p90"] for h in res["horizons"].values()]
    mean_cov = sum(coverage) / len(coverage)
    return [
        _row(
            "24 h MAE vs persistence, Beijing PM2.5 test year (`bench:skill`)",
            f"{h24['mae']['aircast']:.2f} vs {h24['mae']['persistence']:.2f} "
            f"(-{gain24:.1%}; seasonal naive {h24['mae']['seasonal_naive']:.2f})",
            "≥ 17 % below persistence",
            gain24 >= 0.17,
        ),
        *_seeds(res.get("seed_spread")),
        _row(
            "1 h MAE vs persistence",
            f"{h1['mae']['aircast']:.2f} vs {h1['mae']['persistence']:.2f}",
            "below persistence",
            h1["mae"]["aircast"] < h1["mae"]["persistence"],
        ),
        _row(
            "p10-p90 coverage, every horizon 1..24",
            f"{min(coverage):.3f}-{max(coverage):.3f} (mean {mean_cov:.3f})",
            "0.75-0.85",
            min(coverage) >= 0.75 and max(coverage) <= 0.85,
        ),
        _row(
            "training wall time, full training range, 2 cores",
            f"{res['train_seconds'] / 60:.1f} min",
            "< 15 min",
            res["train_seconds"] < 15 * 60,
        ),
        *_short(res.get("short_history")),
        *_weather(res.get("with_weather"), h24["mae"]["aircast"]),
    ]


def _seeds(res: dict[str, Any] | None) -> list[str]:
    """The 24 h skill of the same protocol fitted with other seeds (`--seeds`)."""
    if not res:
        return []
    h24 = res["skill_24h"]
    seeds = ", ".join(map(str, res["seeds"]))
    return [
        _row(
            f"24 h skill over fit seeds {seeds} (row sample, CatBoost's randomness)",
            f"median {h24['median']:.1%} (range {h24['min']:.1%}-{h24['max']:.1%})",
            "—",
            None,
        )
    ]


def _weather(res: dict[str, Any] | None, no_weather_24h: float) -> list[str]:
    """Rows of the with_weather scenario (observed weather as the forecast; docs/weather.md)."""
    if not res:
        return []
    config = res.get("configuration", {})
    label = (
        f" (reduced run: {config.get('stations')} stations, {config.get('iterations')} trees)"
        if config.get("reduced")
        else ""
    )
    rows = []
    for name, title, floor in (
        ("perfect_prognosis", "perfect prognosis (observed weather, upper bound)", 0.50),
        ("perturbed_forecast", "perturbed forecast (0.35 sd at 24 h, AR(1))", 0.40),
    ):
        part = res.get(name)
        if not part:
            continue
        h24 = part["horizons"]["24"]["mae"]
        gain = 1 - h24["aircast"] / h24["persistence"]
        rows.append(
            _row(
                f"with weather, {title}: 24 h MAE vs persistence{label}",
                f"{h24['aircast']:.2f} vs {h24['persistence']:.2f} (-{gain:.0%}; "
                + (
                    "a subset: not comparable with the no-weather run)"
                    if label
                    else f"no weather {no_weather_24h:.2f})"
                ),
                f"≥ {floor:.0%} below persistence",
                None if label else gain >= floor,
            )
        )
    return rows


def _short(res: dict[str, Any] | None) -> list[str]:
    """Rows of the short-history scenario (30 days of training before each test month)."""
    if not res:
        return []
    horizons = res["horizons"].values()
    worst = max(h["mae"]["aircast"] / h["mae"]["persistence"] for h in horizons)
    h24 = res["horizons"]["24"]["mae"]
    gain24 = 1 - h24["aircast"] / h24["persistence"]
    low, high = res["coverage_all_horizons"]
    return [
        _row(
            f"short history ({res['origins']} origins x 30 days): worst MAE / persistence",
            f"{worst:.3f}",
            "≤ 1 at every horizon",
            worst <= 1.0,
        ),
        _row(
            "short history: 24 h MAE vs persistence",
            f"{h24['aircast']:.2f} vs {h24['persistence']:.2f} (-{gain24:.0%})",
            "≥ 10 % below persistence",
            gain24 >= 0.10,
        ),
        _row(
            "short history: p10-p90 coverage, every horizon",
            f"{low:.3f}-{high:.3f}",
            "0.75-0.85",
            low >= 0.75 and high <= 0.85,
        ),
    ]


def _api(res: dict[str, Any]) -> list[str]:
    ours, theirs = res["aircast"], res["mlflow_serve"]
    rows = [
        _row(
            "single-row forecasts: aircast vs `mlflow models serve` (`bench:api`)",
            f"{ours['single']['rps']:,.0f} vs {theirs['single']['rps']:,.0f} req/s "
            f"(x{res['ratio_single_rps']:.1f}); p50 {ours['single']['p50_ms']:.1f} ms, "
            f"p99 {ours['single']['p99_ms']:.1f} ms",
            "≥ 5x",
            res["ratio_single_rps"] >= 5,
        ),
        _row(
            "100-location batches: aircast vs `mlflow models serve`",
            f"{ours['batch100']['rps']:,.0f} vs {theirs['batch100']['rps']:,.0f} req/s; "
            f"p99 {ours['batch100']['p99_ms']:.1f} vs {theirs['batch100']['p99_ms']:.1f} ms",
            "—",
            None,
        ),
        _row(
            "DB-backed single-location forecast, p99 at 200 req/s (forecast cache off)",
            f"{res['p99_ms_at_200rps_db']:.1f} ms "
            f"(achieved {res['fixed_rate_db']['achieved_rps']:.0f} req/s)",
            "≤ 20 ms",
            res["p99_ms_at_200rps_db"] <= 20,
        ),
    ]
    if "p99_ms_at_200rps_db_cached" in res:
        rows.append(
            _row(
                "the same with the forecast cache on (the default)",
                f"{res['p99_ms_at_200rps_db_cached']:.1f} ms "
                f"(achieved {res['fixed_rate_db_cached']['achieved_rps']:.0f} req/s)",
                "≤ 20 ms",
                res["p99_ms_at_200rps_db_cached"] <= 20,
            )
        )
    rows += [
        _row(
            "1,000-location batch",
            f"{res['batch1000_ms']:.1f} ms",
            "≤ 100 ms",
            res["batch1000_ms"] <= 100,
        ),
        _row(
            "ready after start (MLflow reachable)",
            f"{res['ready_seconds']:.2f} s",
            "≤ 5 s",
            res["ready_seconds"] <= 5,
        ),
        _row("resident memory", f"{res['rss_mb']:.0f} MB", "≤ 300 MB", res["rss_mb"] <= 300),
    ]
    return rows


def table() -> str:
    """The Markdown table of every result file present."""
    lines = ["| benchmark | measured | target | |", "|---|---|---|---|"]
    for name, render in (("ingest", _ingest), ("skill", _skill), ("api", _api)):
        res = _load(name)
        if res is None:
            lines.append(_row(f"`bench:{name}`", "not run yet", "—", None))
            continue
        lines += render(res)
    return "\n".join(lines)


def render_table(text: str) -> str:
    """``text`` with the benchmark table between the markers regenerated."""
    head, sep, rest = text.partition(START)
    if not sep:
        raise ValueError(f"{DOC.name} has no {START} marker")
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main() -> None:
    """Print the table; with --write, also put it into docs/benchmarks.md."""
    print(table())
    if "--write" in sys.argv:
        DOC.write_text(render_table(DOC.read_text()))


if __name__ == "__main__":
    main()
