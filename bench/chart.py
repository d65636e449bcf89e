"""The PNG chart beside latest.json (matplotlib, a bench-only dependency)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import (
    APPROVAL_TARGET,
    INGEST_RATE_TARGET,
    OVERHEAD_TARGET,
    RESULTS,
    THROUGHPUT_TARGET,
)

ENGINE, BASE, GREY = "#d9480f", "#1c7ed6", "#868e96"


def _pair(ax: Any, r: dict[str, Any], engine_key: str, base_key: str, title: str) -> None:
    """p50 and p95 bars, fireline beside hand-written."""
    if engine_key not in r:
        ax.set_axis_off()
        return
    xs = [0, 1]
    ax.bar(
        [x - 0.2 for x in xs],
        [r[engine_key]["p50"], r[engine_key]["p95"]],
        0.4,
        label="fireline",
        color=ENGINE,
    )
    ax.bar(
        [x + 0.2 for x in xs], [r[base_key]["p50"], r[base_key]["p95"]], 0.4, label="hand-written", color=BASE
    )
    ax.set_xticks(xs, ["p50", "p95"])
    ax.set_ylabel("ms")
    ax.set_title(title)
    ax.set_ylim(top=max(r[engine_key]["p95"], r[base_key]["p95"]) * 1.3)
    ax.legend(loc="upper left")


def _bars(ax: Any, labels: list[str], values: list[float], colors: list[str], title: str, unit: str) -> None:
    ax.bar(labels, values, color=colors)
    ax.set_ylabel(unit)
    ax.set_title(title)


def _ratios(ax: Any, r: dict[str, Any]) -> None:
    ratios = [
        ("overhead p50", r.get("overhead_ratio_p50"), OVERHEAD_TARGET),
        ("overhead p95", r.get("overhead_ratio_p95"), OVERHEAD_TARGET),
        ("audit+codec p50", r.get("audit_es_ratio_p50"), OVERHEAD_TARGET),
        ("approval p50", r.get("approval_ratio_p50"), APPROVAL_TARGET),
        ("throughput", r.get("throughput_ratio"), THROUGHPUT_TARGET),
        ("parked RSS", r.get("parked_rss_growth_ratio"), None),
        ("decide all", r.get("parked_decide_all_ratio"), APPROVAL_TARGET),
        ("storm vs raw starts", r.get("ingest_rate_ratio"), INGEST_RATE_TARGET),
    ]
    shown = [x for x in ratios if isinstance(x[1], int | float)]
    ax.barh([x[0] for x in shown], [x[1] for x in shown], color=ENGINE)
    for i, (_, _, target) in enumerate(shown):
        if target is not None:
            ax.plot([target, target], [i - 0.4, i + 0.4], color="black", linewidth=2)
    ax.axvline(1.0, color=GREY, linestyle=":")
    ax.set_title("fireline ÷ hand-written (black: target)")


def draw(r: dict[str, Any], path: Path | None = None) -> Path | None:
    """Draw the six panels; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    path = path or RESULTS / "latest.png"
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    _pair(axes[0][0], r, "overhead_engine_ms", "overhead_baseline_ms", "5-step run, start → result")
    _pair(axes[0][1], r, "approval_engine_ms", "approval_baseline_ms", "Decision → next step started")
    if "flags_stock_ms" in r:
        s, t = r["flags_stock_ms"], r["flags_tuned_ms"]
        _bars(axes[0][2], ["stock p50", "tuned p50", "stock p95", "tuned p95"],
              [s["p50"], t["p50"], s["p95"], t["p95"]], [GREY, BASE, GREY, BASE],
              "Hand-written 5 activities: server flags", "ms")  # fmt: skip
    if "throughput_ratio" in r:
        _bars(axes[1][0], ["fireline", "hand-written"],
              [r["throughput_engine_runs_per_s"], r["throughput_baseline_runs_per_s"]], [ENGINE, BASE],
              f"Throughput, {r['throughput_in_flight']} runs in flight", "runs / s")  # fmt: skip
    if "parked_engine" in r:
        _bars(axes[1][1], ["fireline", "hand-written"],
              [r["parked_engine"]["rss_growth_mib"], r["parked_baseline"]["rss_growth_mib"]], [ENGINE, BASE],
              f"Worker RSS growth, {r['parked_n']} runs parked on approvals", "MiB")  # fmt: skip
    _ratios(axes[1][2], r)
    machine = r.get("machine", {})
    fig.suptitle(
        f"fireline bench — {machine.get('cpu_count')} × {machine.get('cpu_model')}, "
        f"Python {machine.get('python')}, temporalio {machine.get('temporalio')}, {r.get('generated_at', '')}"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
