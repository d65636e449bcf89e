"""`fireline validate | schema | graph | rehearse` as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
CASES = ROOT / "tests" / "rehearsals"


def fireline(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.entry", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


BROKEN = """\
apiVersion: fireline/v1
kind: Playbook
metadata: { name: broken-one, version: 1 }
steps:
  - id: evidence
    uses: core.echo
    with: { message: hi }
  - id: use
    uses: core.ecko
    with:
      message: "{{ steps.evidnce.output }}"
  - id: pause
    wait: 3 days
"""


def test_validate_shipped_playbooks_ok() -> None:
    done = fireline("validate", "playbooks")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "ok  playbooks/prompt-injection-response.yaml: prompt-injection-response v1 (6 steps)" in lines
    assert len(lines) == len(list((ROOT / "playbooks").glob("*.yaml"))) >= 8


def test_validate_reports_every_error_with_location(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN)
    done = fireline("validate", str(tmp_path / "broken.yaml"))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    where = str(tmp_path / "broken.yaml")
    assert f"{where}:9:11: steps[1].uses: unknown action 'core.ecko' (did you mean 'core.echo'?)" in lines
    assert f"{where}:11:16: steps[1].with.message: unknown step 'evidnce' (did you mean 'evidence'?)" in lines
    assert any(line.startswith(f"{where}:13:11: steps[2].wait: '3 days' is not a duration") for line in lines)
    assert "3 error(s) in 1 of 1 playbook(s)" in done.stderr


def test_validate_json_for_editors(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN)
    done = fireline("validate", "--format", "json", str(tmp_path))
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report[0]["ok"] is False
    first = report[0]["diagnostics"][0]
    assert {"file", "line", "col", "path", "message", "hint", "code"} <= set(first)
    assert (first["line"], first["col"], first["code"]) == (9, 11, "unknown-action")


def test_schema_is_generated_and_describes_steps() -> None:
    done = fireline("schema")
    schema = json.loads(done.stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    assert {"apiVersion", "kind", "metadata", "steps"} <= set(schema["properties"])
    assert {"ActionStep", "ApprovalStep", "ForEachStep", "ParallelStep", "WaitStep", "PlaybookStep"} <= set(
        schema["$defs"]
    )
    assert schema["$defs"]["ActionStep"]["additionalProperties"] is False


def test_graph_marks_approvals_loops_and_parallel_blocks() -> None:
    done = fireline("graph", "playbooks/prompt-injection-response.yaml")
    assert done.returncode == 0
    chart = done.stdout
    assert chart.startswith("flowchart TD")
    assert "✋ approval" in chart and "class approve approval" in chart
    assert 'subgraph block_keys_loop["🔁 for each key_id (max 5)"]' in chart
    assert 'subgraph record_par["⇉ parallel record"]' in chart
    assert "approve -->|if steps.approve.approved| block_keys" in chart


def test_rehearse_prints_steps_and_exits_by_expectations(tmp_path: Path) -> None:
    case = CASES / "breach-deadline"
    args = ["rehearse", str(case / "playbooks" / "main.yaml"), "--alert", str(case / "alert.json")]
    done = fireline(*args, "--mocks", str(case / "mocks.yaml"), "--expect", str(case / "expect.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("ok")
    assert "+08:00:00  notify" in done.stdout  # the 4 h approval escalated, then timed out: simulated time

    wrong = tmp_path / "expect.yaml"
    shutil.copy(case / "expect.yaml", wrong)
    wrong.write_text(wrong.read_text().replace("dpo_review: timed_out", "dpo_review: succeeded"))
    done = fireline(*args, "--mocks", str(case / "mocks.yaml"), "--expect", str(wrong))
    assert done.returncode == 1
    assert "DIFF dpo_review: expected succeeded, got timed_out" in done.stdout


def test_rehearse_refuses_missing_mocks(tmp_path: Path) -> None:
    case = CASES / "contain-with-retries"
    (tmp_path / "mocks.yaml").write_text("actions:\n  evidence: { output: {} }\n")
    done = fireline(
        "rehearse",
        str(case / "playbooks" / "main.yaml"),
        "--alert",
        str(case / "alert.json"),
        "--mocks",
        str(tmp_path / "mocks.yaml"),
    )
    assert done.returncode == 1
    assert "no mock for action step(s): revoke_keys.revoke, notify" in done.stderr


def test_validate_names_a_missing_path() -> None:
    done = fireline("validate", "no-such-folder")
    assert done.returncode == 1
    assert "no-such-folder: no such file or folder" in done.stderr
