"""`make demo` works: two incidents, approvals by Slack click and CLI, real SIEM and MLflow, a review."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_demo_runs_two_incidents_end_to_end(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli.entry", "demo", "--home", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=420,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "→ prompt-injection-response" in out and "→ quarantine-compromised-model" in out
    # Both approval requests went to the Slack stand-in as Block Kit messages with decision buttons.
    assert out.count("Slack approval message posted to #ai-incidents:") == 2
    assert "BLOCK 1 API KEY(S) ATTACKING SUPPORT-ASSISTANT?" in out
    assert "QUARANTINE SUPPORT-ASSISTANT (PRODUCTION)?" in out
    assert out.count("[ Approve ]  [ Reject ]") == 2
    # Incident A by a signed click the receiver accepted, incident B by `fireline approve`.
    assert "clicked Approve in Slack → POST /slack/interactions answered 200" in out
    assert out.count("approved ") == 1 and out.count("approve by user:U024BE7LH") >= 2
    decisions = [line for line in out.splitlines() if line.startswith("decision on approve:")]
    assert decisions == [
        "decision on approve: approve by user:U024BE7LH via slack",
        "decision on approve: approve by user:U024BE7LH via cli",
    ], decisions
    assert "SLACK_BOT_TOKEN" not in out and "step failed" not in out and "│ failed" not in out
    assert "channel=C0AIINCIDENTS" in out  # the quarantine run told the incident channel
    assert "result=created" in out  # the key went onto the gateway deny list in the SIEM
    assert "'quarantined': True, 'serving_version': 2" in out  # MLflow moved the alias to v2
    assert "Post-incident review" in out
    reviews = list((tmp_path / "demo" / "reviews").glob("*.md"))
    review = reviews[0].read_text() if reviews else ""
    assert "approval\\.decided" in review and "| approve | approve | user:U024BE7LH |" in review
    assert "Traceback" not in out + done.stderr
