"""The results: a table of absolute numbers and ratios, ``latest.json`` and a PNG chart."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
OVERHEAD_TARGET = 1.15
THROUGHPUT_TARGET = 0.85
INGEST_RATE_TARGET = 0.8
APPROVAL_TARGET = 1.2
PARKED_KIB_TARGET = 100.0
ACCEPT_P99_TARGET_MS = 50.0


def _ms(summary: dict[str, Any] | None, key: str) -> str:
    return "-" if not summary else f"{summary[key]:.1f} ms"


def _x(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}x"


def _verdict(value: Any, target: float, higher_is_better: bool) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return ""
    ok = value >= target if higher_is_better else value <= target
    return f"{'ok' if ok else 'MISSED'} ({'≥' if higher_is_better else '≤'} {target})"


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, engine, baseline, ratio, target) rows."""
    out: list[tuple[str, str, str, str, str]] = []
    if "flags_stock_ms" in r:
        for q in ("p50", "p95"):
            out.append(
                (
                    f"5 activities, stock vs tuned server {q} (n={r['flags_n']})",
                    f"tuned {_ms(r['flags_tuned_ms'], q)}",
                    f"stock {_ms(r['flags_stock_ms'], q)}",
                    f"{r[f'flags_speedup_{q}']:.2f}x faster",
                    "",
                )
            )
    if "overhead_engine_ms" in r:
        for q in ("p50", "p95"):
            out.append(
                (
                    f"5-step run start→result {q} (n={r['overhead_n']})",
                    _ms(r["overhead_engine_ms"], q),
                    _ms(r["overhead_baseline_ms"], q),
                    _x(r[f"overhead_ratio_{q}"]),
                    _verdict(r[f"overhead_ratio_{q}"], OVERHEAD_TARGET, False),
                )
            )
        out.append(
            (
                "CPU per run: this process (client+worker)",
                f"{r['cpu_ms_per_run_engine']:.1f} ms",
                f"{r['cpu_ms_per_run_baseline']:.1f} ms",
                _x(r["cpu_ms_per_run_engine"] / r["cpu_ms_per_run_baseline"]),
                "",
            )
        )
        out.append(
            (
                "CPU per run: Temporal server",
                f"{r['server_cpu_ms_per_run_engine']:.1f} ms",
                f"{r['server_cpu_ms_per_run_baseline']:.1f} ms",
                _x(r["server_cpu_ms_per_run_engine"] / max(r["server_cpu_ms_per_run_baseline"], 1e-9)),
                "",
            )
        )
    if "per_step_overhead_ms" in r:
        out.append(
            (
                "engine's own time per step (conduct+templating+wrapper)",
                f"{r['per_step_overhead_ms']:.3f} ms",
                f"1 round trip {r.get('activity_round_trip_ms', 0):.1f} ms",
                f"{r.get('per_step_overhead_share', 0) * 100:.1f}% of it",
                "",
            )
        )
        if "per_step_overhead_e2e_ms" in r:
            out.append(
                (
                    "end-to-end extra per step ((engine-baseline) p50 / 5)",
                    f"{r['per_step_overhead_e2e_ms']:.2f} ms",
                    "",
                    "",
                    "",
                )
            )
    if isinstance(r.get("audit_es"), str):
        out.append(("5-step run, audit trail in Elasticsearch", r["audit_es"], "", "", ""))
    elif "audit_es_engine_ms" in r:
        for q in ("p50", "p95"):
            out.append(
                (
                    f"5-step run, audit trail in ES + codec {q} (n={r['audit_es_n']})",
                    _ms(r["audit_es_engine_ms"], q),
                    _ms(r["audit_es_baseline_ms"], q),
                    _x(r[f"audit_es_ratio_{q}"]),
                    _verdict(r[f"audit_es_ratio_{q}"], OVERHEAD_TARGET, False) if q == "p50" else "",
                )
            )
        if "audit_es_extra_per_step_ms" in r:
            out.append(
                (
                    "audit writes per step (with ES minus without)",
                    f"{r['audit_es_extra_per_step_ms']:.2f} ms",
                    "",
                    "",
                    "",
                )
            )
    if "approval_engine_ms" in r:
        for q in ("p50", "p95"):
            out.append(
                (
                    f"decision → next step started {q} (n={r['approval_n']})",
                    _ms(r["approval_engine_ms"], q),
                    _ms(r["approval_baseline_ms"], q),
                    _x(r[f"approval_ratio_{q}"]),
                    _verdict(r[f"approval_ratio_{q}"], APPROVAL_TARGET, False) if q == "p50" else "",
                )
            )
    if "throughput_ratio" in r:
        out.append(
            (
                f"throughput, {r['throughput_in_flight']} in flight"
                f" ({r['throughput_runs_per_side']} runs/side)",
                f"{r['throughput_engine_runs_per_s']:.1f} runs/s",
                f"{r['throughput_baseline_runs_per_s']:.1f} runs/s",
                _x(r["throughput_ratio"]),
                _verdict(r["throughput_ratio"], THROUGHPUT_TARGET, True),
            )
        )
    if "parked_engine" in r:
        e, b = r["parked_engine"], r["parked_baseline"]
        n = r["parked_n"]
        out.append(
            (
                f"{n} parked: worker RSS growth",
                f"{e['rss_growth_mib']:.1f} MiB",
                f"{b['rss_growth_mib']:.1f} MiB",
                _x(r["parked_rss_growth_ratio"]),
                "",
            )
        )
        out.append(
            (
                f"{n} parked: RSS per parked run",
                f"{e['rss_growth_kib_per_run']:.1f} KiB",
                f"{b['rss_growth_kib_per_run']:.1f} KiB",
                "",
                _verdict(e["rss_growth_kib_per_run"], PARKED_KIB_TARGET, False).replace(")", " KiB)"),
            )
        )
        out.append(
            (
                f"{n} parked: decide all (50 at a time)",
                f"{e['decide_all_s']:.1f} s",
                f"{b['decide_all_s']:.1f} s",
                _x(r["parked_decide_all_ratio"]),
                _verdict(r["parked_decide_all_ratio"], APPROVAL_TARGET, False),
            )
        )
    if isinstance(r.get("ingest"), str):
        out.append(("ingest storm", r["ingest"], "", "", ""))
    elif "ingest_alerts_per_s" in r:
        check = r.get("ingest_check", {})
        out.append(
            (
                f"ingest storm: {r['ingest_alerts']} alerts, {r['ingest_fingerprints']} fingerprints",
                f"{r['ingest_handed_over_per_s']:.0f} alerts/s on runs",
                f"raw starts {r['ingest_raw_starts_per_s']:.0f}/s",
                _x(r.get("ingest_rate_ratio")),
                _verdict(r.get("ingest_rate_ratio"), INGEST_RATE_TARGET, True),
            )
        )
        out.append(
            (
                "ingest storm: accept p50 / p99, closed loop",
                f"{r['ingest_accept_p50_ms']:.1f} / {r['ingest_accept_p99_ms']:.1f} ms",
                f"{r['ingest_alerts_per_s']:.0f} alerts/s accepted",
                "",
                f"≈ {r['ingest_senders']} / accepted rate",
            )
        )
        out.append(
            (
                "ingest storm: runs / repeats recorded on their run",
                f"{check.get('runs', '-')} runs",
                f"{check.get('recorded_on_their_run', '-')} of {check.get('acknowledged', '-')}",
                "",
                f"want {r['ingest_fingerprints']} runs, lost {check.get('lost', '-')}",
            )
        )
        if "ingest_storm_server_cpu_ms_per_alert" in r:
            out.append(_storm_cpu_row(r))
        if "ingest_paced_accept_p99_ms" in r:
            out.extend(_paced_rows(r))
    if "ingest_kill_check" in r:
        kill = r["ingest_kill_check"]
        out.append(
            (
                f"receiver SIGKILLed mid-storm ({r['ingest_kill_alerts']} alerts)",
                f"{kill['recorded_on_their_run']} of {kill['acknowledged']} acknowledged on runs",
                f"{kill['runs']} runs / {kill['fingerprints']} fingerprints",
                "",
                f"lost {kill['lost']} (want 0)",
            )
        )
    if "validate_50_ms" in r:
        out.append(
            (
                f"validate {r['validate_50_playbooks']} playbooks (load_catalog)",
                f"{r['validate_50_ms']:.0f} ms",
                "",
                "",
                "",
            )
        )
    if "template_1mb_ms" in r:
        out.append(
            (
                "render templates against a 1 MB alert",
                f"{r['template_1mb_ms']:.2f} ms",
                f"small alert {r['template_small_alert_ms']:.2f} ms",
                "",
                "",
            )
        )
    return out


def table(r: dict[str, Any]) -> str:
    """The results as an aligned text table (also pasted into the README)."""
    head = ("figure", "engine", "hand-written", "ratio", "target")
    body = rows(r)
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(5)]
    lines = [
        " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [head, *body]
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(r: dict[str, Any], path: Path | None = None) -> Path:
    """Write ``latest.json`` (NaN as null)."""
    path = path or RESULTS / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = json.loads(json.dumps(r, default=str).replace("NaN", "null"))
    path.write_text(json.dumps(clean, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def _paced_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """The storm offered at a share of the raw start rate: the accept latency the target is about.

    Judged with the deployment's CPU weights (``ingest_deploy_nice``); the same storm with every
    process at one weight is shown beside it, unjudged.
    """
    out: list[tuple[str, str, str, str, str]] = []
    raw = r["ingest_raw_starts_per_s"]
    weighted = "ingest_deploy_nice" in r
    for name, how in (("equal", "one CPU weight for all"), ("paced", "deployed CPU weights")):
        if f"ingest_{name}_accept_p99_ms" not in r:
            continue
        offered = r[f"ingest_{name}_offered_per_s"]
        p99 = r[f"ingest_{name}_accept_p99_ms"]
        judged = name == "paced"
        label = f"ingest storm offered at {offered:.0f} alerts/s: accept p50 / p99"
        out.append(
            (
                label + (f", {how}" if weighted else ""),
                f"{r[f'ingest_{name}_accept_p50_ms']:.1f} / {p99:.1f} ms",
                f"{r[f'ingest_{name}_alerts_per_s']:.0f} accepted/s, "
                f"{r[f'ingest_{name}_handed_over_per_s']:.0f} on runs",
                _x(round(offered / raw, 3) if raw else None),
                _verdict(p99, ACCEPT_P99_TARGET_MS, False).replace(")", " ms)") if judged else "",
            )
        )
    check = r.get("ingest_paced_check", {})
    out.append(
        (
            "ingest storm offered: runs / alerts recorded on their run",
            f"{check.get('runs', '-')} runs",
            f"{check.get('recorded_on_their_run', '-')} of {check.get('acknowledged', '-')}",
            "",
            f"want {r['ingest_fingerprints']} runs, lost {check.get('lost', '-')}",
        )
    )
    return out


def _storm_cpu_row(r: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """What an alert of the storm costs, beside what a raw start costs (CPU ms)."""
    parts = ("server", "worker", "receiver", "handover")
    storm = [r.get(f"ingest_storm_{p}_cpu_ms_per_alert") for p in parts]
    raw = [r.get(f"ingest_raw_{p}_cpu_ms_per_alert") for p in ("server", "worker", "client")]
    shown = " / ".join("-" if v is None else f"{v:.2f}" for v in storm)
    return (
        "ingest storm CPU per alert: server / worker / receiver / hand-over (client)",
        f"{shown} ms",
        "raw start: " + " / ".join("-" if v is None else f"{v:.2f}" for v in raw) + " ms",
        _x(round(storm[0] / raw[0], 3) if storm[0] and raw[0] else None),
        "server's, storm ÷ raw",
    )
