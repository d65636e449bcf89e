"""Load the YAML rehearsal cases under tests/rehearsals/ (playbooks, alert, mocks, expectations)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.plan.compile import compile_plan
from engine.plan.models import Plan
from engine.rehearsal.models import Expect, Mocks
from engine.spec.catalog import load_catalog

CASES_DIR = Path(__file__).parent / "rehearsals"
SHIPPED = Path(__file__).parents[1] / "playbooks"


@dataclass
class Case:
    """One rehearsal case."""

    name: str
    plan: Plan
    alert: dict[str, Any]
    mocks: Mocks
    expect: Expect


def load_case(folder: Path) -> Case:
    """Compile the case's playbook and read its alert, mocks and expectations.

    A case either brings its own ``playbooks/main.yaml`` or names a shipped playbook in ``case.yaml``.
    """
    if (folder / "case.yaml").exists():
        catalog = load_catalog([SHIPPED])
        main = catalog.get(yaml.safe_load((folder / "case.yaml").read_text())["playbook"])
    else:
        catalog = load_catalog([folder / "playbooks"])
        main = catalog.resolve(str(folder / "playbooks" / "main.yaml"))
    return Case(
        name=folder.name,
        plan=compile_plan(main, catalog),
        alert=json.loads((folder / "alert.json").read_text()),
        mocks=Mocks.model_validate(yaml.safe_load((folder / "mocks.yaml").read_text())),
        expect=Expect.model_validate(yaml.safe_load((folder / "expect.yaml").read_text())),
    )


CASE_DIRS = sorted(p for p in CASES_DIR.iterdir() if p.is_dir())
