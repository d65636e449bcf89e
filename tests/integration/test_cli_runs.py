"""A responder's day on the CLI: up --detach, run, show, approve, runs, cancel, status, down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PLAYBOOK = """\
apiVersion: fireline/v1
kind: Playbook
metadata: { name: cli-approval, version: 1 }
trigger:
  any: [{ source: generic, match: { rule: "drill*" } }]
inputs:
  model: { type: string, default: "{{ alert.entities.models[0] }}" }
  reason: { type: string, default: "drill" }
steps:
  - id: evidence
    uses: core.echo
    with: { message: "{{ inputs.model }}: {{ inputs.reason }}" }
  - id: approve
    approval:
      title: "Quarantine {{ inputs.model }}?"
      approvers: [user:U1, group:ml-oncall]
      timeout: 2h
  - id: act
    if: steps.approve.approved
    uses: core.echo
    with: { message: "done by {{ steps.approve.decided_by }}" }
"""
EDIT_PLAYBOOK = """\
apiVersion: fireline/v1
kind: Playbook
metadata: { name: cli-edit, version: 1 }
steps:
  - id: approve
    approval:
      title: "Send the note?"
      approvers: [user:U1, group:ml-oncall]
      guards: act
      editable: [message]
  - id: act
    if: steps.approve.approved
    uses: core.echo
    with: { message: "note about {{ alert.title }}" }
"""
ALERT = {
    "id": "cli-1",
    "source": "generic",
    "rule": "drill",
    "title": "CLI drill <b>",
    "severity": "medium",
    "fingerprint": "cli-fp-1",
    "occurred_at": "2026-11-20T08:14:03Z",
    "received_at": "2026-11-20T08:14:05Z",
    "entities": {"models": ["fraud-scorer"]},
    "fields": {},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("home")
    (home / "playbooks").mkdir()
    (home / "playbooks" / "cli-approval.yaml").write_text(PLAYBOOK)
    (home / "playbooks" / "cli-edit.yaml").write_text(EDIT_PLAYBOOK)
    (home / "alert.json").write_text(json.dumps(ALERT))
    (home / "fireline.yaml").write_text(
        f"playbooks_dir: {home / 'playbooks'}\n"
        "temporal: { ports: { grpc: 0, ui: 0, http: 0 } }\n"
        "elasticsearch: { port: 0 }\n"
        "receiver: { listen: '127.0.0.1:0' }\n"
        "approver_groups: { ml-oncall: [alice] }\n"
    )
    env = {**os.environ, "FIRELINE_HOME": str(home)}
    for key in [k for k in env if k.startswith(("TEMPORAL_", "ELASTICSEARCH_"))]:
        env.pop(key)
    up = run(env, "up", "--detach", "--no-seed")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield env
    finally:
        down = run(env, "down")
        assert "stopped temporal" in down.stdout, down.stdout + down.stderr


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.entry", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_status_reports_what_runs_where(stack: dict[str, str]) -> None:
    done = run(stack, "status", "--json")
    status = json.loads(done.stdout)
    assert status["phase"] == "running"
    alive = {c["component"]: c["alive"] for c in status["components"]}
    assert alive.get("temporal") and alive.get("worker") and alive.get("elasticsearch")
    assert status["temporal_address"].startswith("127.0.0.1:")


def test_run_show_approve_and_list(stack: dict[str, str]) -> None:
    alert = str(Path(stack["FIRELINE_HOME"]) / "alert.json")
    started = run(stack, "run", "cli-approval", "--alert", alert, "--input", "reason=tabletop")
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.split()[-1]
    assert started.stdout.startswith("started run cli-approval-")
    again = run(stack, "run", "cli-approval", "--alert", alert)
    assert again.stdout.strip() == f"joined open run {run_id}"

    refused = run(stack, "approve", run_id, "approve", "--as", "mallory")
    assert refused.returncode == 1 and "not an approver" in refused.stderr

    import time

    deadline = time.monotonic() + 30
    while "waiting for" not in (shown := run(stack, "show", run_id)).stdout:
        assert time.monotonic() < deadline, shown.stdout + shown.stderr
    assert "fraud-scorer: tabletop" in shown.stdout and "CLI drill <b>" in shown.stdout

    approved = run(stack, "approve", run_id, "approve", "--as", "alice")  # via group ml-oncall
    assert approved.returncode == 0, approved.stderr
    deadline = time.monotonic() + 30
    while '"status": "succeeded"' not in (final := run(stack, "show", run_id, "--json")).stdout[:400]:
        assert time.monotonic() < deadline, final.stdout
    state = json.loads(final.stdout)
    steps = {s["path"]: s for s in state["steps"]}
    assert steps["approve"]["approval"]["decided_by"] == "user:alice"
    assert steps["act"]["output"] == {"message": "done by user:alice"}
    listed = run(stack, "runs")
    assert run_id in listed.stdout and "succeeded" in listed.stdout


def test_approve_with_edits_and_a_second_decision(stack: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "e.json").write_text(json.dumps(dict(ALERT, id="cli-3", fingerprint="cli-fp-3")))
    run_id = run(stack, "run", "cli-edit", "--alert", str(tmp_path / "e.json")).stdout.split()[-1]
    import time

    deadline = time.monotonic() + 30
    while "waiting for" not in (shown := run(stack, "show", run_id)).stdout:
        assert time.monotonic() < deadline, shown.stdout + shown.stderr

    not_json = run(stack, "approve", run_id, "approve", "--as", "alice", "--set", "message=hello")
    assert not_json.returncode == 1 and "--set message: value is not JSON" in not_json.stderr
    wrong_type = run(stack, "approve", run_id, "approve", "--as", "alice", "--set", "message=42")
    assert (
        wrong_type.returncode == 1 and "edited act.message: 42 is not of type 'string'" in wrong_type.stderr
    )
    not_editable = run(stack, "approve", run_id, "approve", "--as", "alice", "--set", 'title="x"')
    assert not_editable.returncode == 1 and "title is not editable on approve" in not_editable.stderr

    edited = run(stack, "approve", run_id, "approve", "--as", "alice", "--set", 'message="shorter note"')
    assert edited.returncode == 0, edited.stderr
    assert edited.stdout.strip() == f"approved {run_id} approve as user:alice with message edited"
    second = run(stack, "approve", run_id, "approve", "--as", "U1", "--reject", "--reason", "no")
    assert second.returncode == 1
    assert "approve was already approved by user:alice at " in second.stderr and "via cli" in second.stderr

    deadline = time.monotonic() + 30
    while '"status": "succeeded"' not in (final := run(stack, "show", run_id, "--json")).stdout[:400]:
        assert time.monotonic() < deadline, final.stdout
    steps = {s["path"]: s for s in json.loads(final.stdout)["steps"]}
    shown = run(stack, "show", run_id).stdout
    assert 'edited act.message: "note about CLI drill <b>" -> "shorter note"' in shown
    assert "ran with edited message" in shown
    assert steps["act"]["output"] == {"message": "shorter note"}
    assert steps["approve"]["approval"]["edits"] == {"message": "shorter note"}
    assert steps["approve"]["approval"]["editable"] == {"message": "note about CLI drill <b>"}


def test_cancel_and_bad_input(stack: dict[str, str], tmp_path: Path) -> None:
    other = dict(ALERT, id="cli-2", fingerprint="cli-fp-2")
    (tmp_path / "a.json").write_text(json.dumps(other))
    started = run(stack, "run", "cli-approval", "--alert", str(tmp_path / "a.json"))
    run_id = started.stdout.split()[-1]
    cancelled = run(stack, "cancel", run_id)
    assert cancelled.returncode == 0

    (tmp_path / "bad.json").write_text('{"id": 1,')
    bad = run(stack, "run", "cli-approval", "--alert", str(tmp_path / "bad.json"))
    assert bad.returncode == 1 and "invalid JSON" in bad.stderr and "bad.json:1:" in bad.stderr
    unknown = run(stack, "run", "cli-approval", "--alert", str(tmp_path / "a.json"), "--input", "nope=1")
    assert unknown.returncode == 1 and "unknown input 'nope'" in unknown.stderr


def test_alerts_sent_to_the_receiver_start_runs_and_are_listed(stack: dict[str, str], tmp_path: Path) -> None:
    payload = {
        "rule": "drill-receiver",
        "title": "Receiver drill",
        "severity": "high",
        "model": "fraud-scorer",
    }
    (tmp_path / "p.json").write_text(json.dumps(payload))
    sent = run(stack, "alerts", "send", str(tmp_path / "p.json"), "--source", "generic")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    # `fireline up` answers once the alert is in its spool; the run starts right after.
    assert sent.stdout.startswith("202 ") and '"disposition": "queued"' in sent.stdout
    assert '"run_id": "cli-approval-' in sent.stdout
    other = dict(payload, rule="unrelated")
    (tmp_path / "o.json").write_text(json.dumps(other))
    assert run(stack, "alerts", "send", str(tmp_path / "o.json")).returncode == 0
    deadline = time.monotonic() + 30
    while "started cli-approval cli-approval-" not in (listed := run(stack, "alerts").stdout):
        assert time.monotonic() < deadline, listed
        time.sleep(0.2)
    assert "no playbook matched (cli-approval:" in listed

    status = json.loads(run(stack, "status", "--json").stdout)
    import httpx

    unsigned = httpx.post(status["receiver_url"] + "/alerts/generic", json=payload, timeout=10)
    assert unsigned.status_code == 401
    assert run(stack, "alerts").stdout.count("rejected") >= 1


def test_reset_reruns_a_finished_run_from_a_step_and_the_trail_verifies(
    stack: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "r.json").write_text(json.dumps(dict(ALERT, id="cli-5", fingerprint="cli-fp-5")))
    run_id = run(stack, "run", "cli-approval", "--alert", str(tmp_path / "r.json")).stdout.split()[-1]
    deadline = time.monotonic() + 30
    while "waiting for" not in (shown := run(stack, "show", run_id)).stdout:
        assert time.monotonic() < deadline, shown.stdout + shown.stderr
    assert run(stack, "approve", run_id, "approve", "--as", "alice").returncode == 0
    deadline = time.monotonic() + 30
    while '"status": "succeeded"' not in (done := run(stack, "show", run_id, "--json")).stdout[:400]:
        assert time.monotonic() < deadline, done.stdout

    no_reason = run(stack, "reset", run_id, "--to", "act", "--as", "alice", "--reason", " ")
    assert no_reason.returncode == 1 and "a reset needs a reason" in no_reason.stderr
    unknown = run(stack, "reset", run_id, "--to", "nope", "--as", "alice", "--reason", "x")
    assert unknown.returncode == 1 and f"run {run_id} has no step 'nope'" in unknown.stderr

    reset = run(stack, "reset", run_id, "--to", "act", "--as", "alice", "--reason", "re-run the drill")
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.startswith(f"reset {run_id} to act as user:alice: run ")
    deadline = time.monotonic() + 60
    while "re-run from act by user:alice" not in (shown := run(stack, "show", run_id)).stdout:
        assert time.monotonic() < deadline, shown.stdout + shown.stderr
    while '"status": "succeeded"' not in (final := run(stack, "show", run_id, "--json")).stdout[:400]:
        assert time.monotonic() < deadline, final.stdout
    state = json.loads(final.stdout)
    [note] = state["resets"]
    assert (note["by"], note["reason"], note["step"]) == ("user:alice", "re-run the drill", "act")
    steps = {s["path"]: s for s in state["steps"]}
    assert steps["approve"]["approval"]["decided_by"] == "user:alice"  # the approval stands
    assert steps["act"]["output"] == {"message": "done by user:alice"}

    # Both branches stay in Elasticsearch: the replaced run's end and the re-run's, one fork, explained.
    verified = run(stack, "audit", "verify", run_id)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "form an unbroken chain" in verified.stdout and "1 reset(s)" in verified.stdout
