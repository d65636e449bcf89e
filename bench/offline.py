"""Figures 3 and 7, measured outside Temporal: the engine's own time per step, validation, templating."""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter

from bench import work
from bench.actions import BENCH_REGISTRY, FIVE_STEPS, bench_alert, plan_of
from bench.genplaybooks import write_playbooks
from bench.stats import summarize_ms
from engine.activities.run_action import DEFAULT_OUTPUT_CAP, cap_output
from engine.plan.conductor import ActionCall, Conductor
from engine.plan.inputs import resolve_inputs
from engine.plan.models import Plan
from engine.plan.state import RunState
from engine.rehearsal.models import Mocks
from engine.rehearsal.simulated import SimulatedExecutor
from engine.spec.catalog import load_catalog
from engine.templating import TemplateEngine
from engine.workflows.types import RunInput

STEPS = 5


#: The 5-step playbook's step ids and the action each runs.
STEP_ACTIONS = {
    "search": "bench.search",
    "keys": "bench.enrich",
    "score": "bench.score",
    "contain": "bench.contain",
    "post": "bench.post",
}


def precomputed_outputs() -> dict[str, Any]:
    """Each bench action's real output, computed once so the work itself is not timed."""
    found = work.search("logs-model-gateway-*", "support-assistant")
    keys = work.enrich(work.unique_keys(found["hits"]))
    risk = work.score(found["total"], keys["owners"])
    return {
        "bench.search": found,
        "bench.enrich": keys,
        "bench.score": risk,
        "bench.contain": work.contain(keys["keys"], f"risk {risk['score']}"),
        "bench.post": work.post("#ai-incidents", "text"),
    }


async def conduct(
    plan: Plan, alert: dict[str, Any], mocks: Mocks, engine: TemplateEngine
) -> tuple[RunState, SimulatedExecutor]:
    """One whole run through the pure conductor, as the workflow runs it, with the rehearsal executor
    answering every action at once with its real (precomputed) output."""
    executor = SimulatedExecutor(plan, alert, mocks, engine)
    state = RunState(
        run_id="bench-run", playbook=plan.name, version=plan.version, sha256=plan.sha256,
        started_at=datetime.now(UTC),
    )  # fmt: skip
    inputs = resolve_inputs(plan, alert, {}, engine)
    conductor = Conductor(plan, state, alert=alert, inputs=inputs, executor=executor, engine=engine)
    return await conductor.run(), executor


def _wrapper_time(calls: list[ActionCall], outputs: dict[str, Any]) -> float:
    """What run_action adds around the action calls: lookup, argument validation, output capping."""
    started = time.perf_counter()
    for call in calls:
        definition = BENCH_REGISTRY.get(call.action)
        definition.params_model.model_validate(call.args)
        cap_output(outputs[call.action], DEFAULT_OUTPUT_CAP)
    return time.perf_counter() - started


async def per_step(n: int) -> dict[str, Any]:
    """The engine's own time per step: conducting + templating + timeline, and run_action's wrapper."""
    plan, alert = plan_of(FIVE_STEPS), bench_alert()
    outputs = precomputed_outputs()
    mocks = Mocks.model_validate(
        {"actions": {sid: {"output": outputs[a]} for sid, a in STEP_ACTIONS.items()}}
    )
    engine = TemplateEngine()  # one per worker, as in the workflow: the template cache is warm
    for _ in range(20):
        await conduct(plan, alert, mocks, engine)
    conduct_s: list[float] = []
    for _ in range(n):
        started = time.perf_counter()
        state, executor = await conduct(plan, alert, mocks, engine)
        conduct_s.append(time.perf_counter() - started)
    if state.status.value != "succeeded":
        raise RuntimeError(f"offline run ended {state.status.value}: {state.failure}")
    wrapper_s = [_wrapper_time(executor.calls, outputs) for _ in range(n)]
    converter = pydantic_data_converter.payload_converter
    run_input = RunInput(plan=plan, alert=alert, inputs={})
    convert_s: list[float] = []
    for _ in range(n):
        started = time.perf_counter()
        payloads = converter.to_payloads([run_input, state])
        converter.from_payloads(payloads, [RunInput, RunState])
        convert_s.append(time.perf_counter() - started)
    c, w = summarize_ms(conduct_s), summarize_ms(wrapper_s)
    return {
        "per_step_n": n,
        "per_step_conductor_ms": round(c["p50"] / STEPS, 3),
        "per_step_activity_wrapper_ms": round(w["p50"] / STEPS, 3),
        "per_step_overhead_ms": round((c["p50"] + w["p50"]) / STEPS, 3),
        "per_run_conductor_ms": c,
        "per_run_payload_convert_ms": summarize_ms(convert_s),
        "run_input_bytes": len(payloads[0].data),
        "run_state_bytes": len(payloads[1].data),
    }


def validate_50(repeat: int = 5) -> dict[str, Any]:
    """Validate a folder of 50 generated playbooks with load_catalog (first and median of ``repeat``)."""
    with tempfile.TemporaryDirectory(prefix="fireline-bench-pb-") as tmp:
        folder = Path(tmp)
        size = sum(len(p.read_bytes()) for p in write_playbooks(folder, 50))
        times: list[float] = []
        for _ in range(repeat):
            started = time.perf_counter()
            catalog = load_catalog([folder], BENCH_REGISTRY)
            times.append(time.perf_counter() - started)
    problems = [d.render() for d in catalog.diagnostics]
    if problems:
        raise RuntimeError(f"generated playbooks are invalid: {problems[:3]}")
    return {
        "validate_50_ms": round(statistics.median(times) * 1000, 1),
        "validate_50_first_ms": round(times[0] * 1000, 1),
        "validate_50_bytes": size,
        "validate_50_playbooks": len(catalog.entries),
    }


#: Templates a playbook typically renders against an alert.
ALERT_TEMPLATES: dict[str, Any] = {
    "title": "{{ alert.title }} on {{ alert.entities.models[0] }}",
    "count": "{{ alert.fields.events | length }}",
    "first": "{{ alert.fields.events[0].message }}",
    "keys": "{{ alert.entities.api_keys | join(', ') }}",
    "high_users": "{{ alert.fields.events | selectattr('severity', 'equalto', 'high')"
    " | map(attribute='user') | unique | list }}",
    "query": {"term": {"ml.model.name": "{{ alert.entities.models[0] }}"}, "size": "{{ 20 }}"},
}


def big_alert(target_bytes: int = 1_000_000) -> dict[str, Any]:
    """A normalized alert whose ``fields`` carry about ``target_bytes`` of original events."""
    alert = bench_alert()
    events: list[dict[str, Any]] = []
    size = 0
    i = 0
    while size < target_bytes:
        event = {
            "@timestamp": f"2026-11-20T08:{i % 60:02d}:{i % 60:02d}Z",
            "severity": ["low", "medium", "high"][i % 3],
            "user": f"svc-{i % 50}",
            "message": f"prompt {i} rejected by guardrail: " + "ignore previous instructions " * 8,
            "ml": {"model": {"name": "support-assistant"}, "score": round((i % 100) / 100, 2)},
        }
        size += len(str(event))
        events.append(event)
        i += 1
    alert["fields"] = {"events": events}
    alert["entities"]["api_keys"] = [f"key-{k:04d}" for k in range(50)]
    return alert


def template_1mb(repeat: int = 9) -> dict[str, Any]:
    """Render typical templates (and the 5-step playbook's arguments) against a 1 MB alert."""
    engine = TemplateEngine()
    big, small = big_alert(), bench_alert()
    small["fields"] = {"events": big["fields"]["events"][:5]}
    plan = plan_of(FIVE_STEPS)
    args = {step.id: step.args for step in plan.steps if step.id in ("search",)}

    def render(alert: dict[str, Any]) -> float:
        started = time.perf_counter()
        engine.render(ALERT_TEMPLATES, {"alert": alert})
        engine.render(args, {"alert": alert, "steps": {}, "inputs": {}})
        return time.perf_counter() - started

    render(big)  # compile once; the cache is warm in a worker
    heavy = [render(big) for _ in range(repeat)]
    light = [render(small) for _ in range(repeat)]
    return {
        "template_1mb_ms": round(statistics.median(heavy) * 1000, 2),
        "template_small_alert_ms": round(statistics.median(light) * 1000, 3),
        "template_1mb_alert_bytes": len(str(big)),
        "template_1mb_events": len(big["fields"]["events"]),
    }
