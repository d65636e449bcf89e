"""`make demo` works: two incidents through the receiver, approvals by CLI, real SIEM and MLflow, a review."""

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
    assert out.count("approved ") == 2 and "approve by user:U024BE7LH" in out
    assert "result=created" in out  # the key went onto the gateway deny list in the SIEM
    assert "'quarantined': True, 'serving_version': 2" in out  # MLflow moved the alias to v2
    assert "Post-incident review" in out
    reviews = list((tmp_path / "demo" / "reviews").glob("*.md"))
    review = reviews[0].read_text() if reviews else ""
    assert "approval\\.decided" in review and "| approve | approve | user:U024BE7LH |" in review
    assert "Traceback" not in out + done.stderr
