"""The bench package imports, and its numbers are computed right (speed itself is never asserted)."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from bench import baseline, parked, run, stats, storm_procs
from bench.actions import APPROVAL, BENCH_REGISTRY, FIVE_STEPS, plan_of
from bench.genplaybooks import playbook
from bench.offline import per_step
from bench.report import table
from bench.stack import without_speed_flags
from engine.spec.catalog import validate_text
from engine.stack.processes import TEMPORAL_SPEED_FLAGS


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    assert stats.percentile([1, 2, 3, 4], 50) == 2.5
    assert stats.percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert stats.percentile(list(range(1, 101)), 50) == 50.5
    assert stats.percentile([7], 99) == 7
    assert stats.percentile([3, 1, 2], 0) == 1 and stats.percentile([3, 1, 2], 100) == 3


def test_percentile_refuses_nothing_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


def test_ratios_rates_and_summaries() -> None:
    assert stats.ratio(115, 100) == 1.15
    assert stats.ratio(2, 3) == 0.667
    assert math.isnan(stats.ratio(1, 0))
    assert stats.per_second(85, 10) == 8.5 and stats.per_second(1, 0) == 0.0
    summary = stats.summarize_ms([0.010, 0.020, 0.030, 0.040])
    assert summary == {"p50": 25.0, "p95": 38.5, "mean": 25.0, "min": 10.0, "max": 40.0, "n": 4}


def test_stock_server_argv_drops_exactly_the_speed_flags() -> None:
    argv = ["temporal", "server", "start-dev", "--port", "1", *TEMPORAL_SPEED_FLAGS, "--log-level", "warn"]
    assert without_speed_flags(argv) == [
        "temporal",
        "server",
        "start-dev",
        "--port",
        "1",
        "--log-level",
        "warn",
    ]
    assert without_speed_flags(["temporal"]) == ["temporal"]


def test_sizes_scale_counts_but_not_concurrency() -> None:
    small = run.Sizes().scaled(0.1)
    assert small.overhead_n == 10 and small.parked_n == 100
    assert small.in_flight == 50 and small.ingest_fingerprints == 1_000
    assert run.Sizes().scaled(1.0) == run.Sizes()


def test_parked_runs_are_decided_in_alternating_blocks_covering_every_run_once() -> None:
    order = parked.BLOCK_ORDER
    # Each side as often as the other, and as often early as late: A B B A mirrored.
    assert order.count("engine") == order.count("baseline")
    assert [sum(i for i, s in enumerate(order) if s == side) for side in parked.SIDES] == [14, 14]
    ids = [f"r{i}" for i in range(10)]
    blocks = parked._blocks(ids, 4)
    assert [len(b) for b in blocks] == [3, 3, 2, 2]
    assert [i for block in blocks for i in block] == ids


def test_bench_playbooks_and_generated_catalog_are_valid() -> None:
    assert [s.id for s in plan_of(FIVE_STEPS).steps] == ["search", "keys", "score", "contain", "post"]
    assert [s.id for s in plan_of(APPROVAL).steps] == ["evidence", "approve", "contain"]
    for i in (0, 1, 3, 8):  # every shape: approval, wait, loops, parallel (child links need the folder)
        loaded = validate_text(playbook(i), f"generated-{i}.yaml", BENCH_REGISTRY)
        assert loaded.diagnostics == [], [d.render() for d in loaded.diagnostics]


async def test_offline_figures_come_from_a_successful_run() -> None:
    result = await per_step(3)
    assert result["per_step_overhead_ms"] == pytest.approx(
        result["per_step_conductor_ms"] + result["per_step_activity_wrapper_ms"], abs=0.002
    )
    assert result["run_input_bytes"] > 0 and result["run_state_bytes"] > 0


def test_baseline_workflows_are_importable_temporal_definitions() -> None:
    assert baseline.FiveSteps.__temporal_workflow_definition.name == "BaselineFiveSteps"  # type: ignore[attr-defined]
    assert {a.__temporal_activity_definition.name for a in baseline.ACTIVITIES} >= {"bl_search", "bl_post"}  # type: ignore[attr-defined]


def test_table_shows_absolute_numbers_ratios_and_missed_targets() -> None:
    text = table(
        {
            "overhead_n": 3,
            "overhead_engine_ms": {"p50": 120.0, "p95": 150.0},
            "overhead_baseline_ms": {"p50": 100.0, "p95": 140.0},
            "overhead_ratio_p50": 1.2,
            "overhead_ratio_p95": 1.071,
            "cpu_ms_per_run_engine": 50.0,
            "cpu_ms_per_run_baseline": 40.0,
            "server_cpu_ms_per_run_engine": 60.0,
            "server_cpu_ms_per_run_baseline": 60.0,
            "ingest": "not measured: no receiver",
        }
    )
    assert "120.0 ms" in text and "100.0 ms" in text and "1.20x" in text
    assert "MISSED (≤ 1.15)" in text and "ok (≤ 1.15)" in text
    assert "not measured: no receiver" in text


def test_table_judges_the_storm_latency_at_the_offered_rate_not_in_the_closed_loop() -> None:
    storm = {
        "ingest_alerts": 100,
        "ingest_fingerprints": 10,
        "ingest_senders": 50,
        "ingest_alerts_per_s": 1000.0,
        "ingest_handed_over_per_s": 800.0,
        "ingest_raw_starts_per_s": 700.0,
        "ingest_rate_ratio": 1.143,
        "ingest_accept_p50_ms": 45.0,
        "ingest_accept_p99_ms": 140.0,
        "ingest_check": {"runs": 10, "recorded_on_their_run": 100, "acknowledged": 100, "lost": 0},
        "ingest_paced_offered_per_s": 700.0,
        "ingest_paced_alerts_per_s": 699.0,
        "ingest_paced_handed_over_per_s": 690.0,
        "ingest_paced_accept_p50_ms": 4.0,
        "ingest_paced_accept_p99_ms": 61.5,
        "ingest_paced_check": {"runs": 10, "recorded_on_their_run": 99, "acknowledged": 100, "lost": 1},
    }
    lines = {line.split("|")[0].strip(): line for line in table(storm).splitlines()}
    closed = lines["ingest storm: accept p50 / p99, closed loop"]
    assert "140.0 ms" in closed and "≈ 50 / accepted rate" in closed and "MISSED" not in closed
    paced = lines["ingest storm offered at 700 alerts/s: accept p50 / p99"]
    assert "4.0 / 61.5 ms" in paced and "1.00x" in paced and "MISSED (≤ 50.0 ms)" in paced
    assert "lost 1" in lines["ingest storm offered: runs / alerts recorded on their run"]
    # With the deployment's CPU weights, that storm is judged; the one at equal weights is only shown.
    equal = {
        "ingest_equal_offered_per_s": 700.0,
        "ingest_equal_alerts_per_s": 650.0,
        "ingest_equal_handed_over_per_s": 500.0,
        "ingest_equal_accept_p50_ms": 30.0,
        "ingest_equal_accept_p99_ms": 400.0,
    }
    lines = {
        line.split("|")[0].strip(): line
        for line in table({**storm, **equal, "ingest_deploy_nice": 6}).splitlines()
    }
    weighted = lines["ingest storm offered at 700 alerts/s: accept p50 / p99, deployed CPU weights"]
    assert "61.5 ms" in weighted and "MISSED (≤ 50.0 ms)" in weighted
    shared = lines["ingest storm offered at 700 alerts/s: accept p50 / p99, one CPU weight for all"]
    assert "30.0 / 400.0 ms" in shared and "MISSED" not in shared and "ok" not in shared


async def _slow_receiver(delay_s: float) -> tuple[asyncio.Server, str]:
    """An HTTP/1.1 server answering every POST with the receiver's 202 body after ``delay_s``."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            await asyncio.sleep(delay_s)
            body = json.dumps({"alerts": [{"status": "accepted", "playbooks": [{"run_id": "r"}]}]}).encode()
            writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def test_paced_sender_times_alerts_from_when_they_were_due() -> None:
    server, url = await _slow_receiver(0.05)
    async with server:
        closed = await storm_procs.sender(url, "c", 6, 6, 1)
        paced = await storm_procs.sender(url, "p", 6, 6, 1, rate=100.0)
    # Closed loop: each alert waits only for its own answer.
    assert len(closed["latencies"]) == 6 and max(closed["latencies"]) < 0.1
    # Open loop at 100/s on one connection answering every 50 ms: alert 5 was due at 50 ms but
    # could go only after five answers (250 ms), so it counts ~250 ms, not its own 50.
    assert sorted(paced["latencies"]) == paced["latencies"]
    assert paced["latencies"][-1] > 0.2 and len(paced["acknowledged"]) == 6
    assert paced["late"][0] < 0.05 and paced["late"][-1] > 0.15 and closed["late"] == []
