"""Architecture boundaries: pure layers never import temporalio; integrations use only engine.sdk."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
PURE = ["engine.spec", "engine.templating", "engine.plan", "engine.alerts"]


def test_pure_layers_do_not_import_temporalio() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in PURE)
        + "import pkgutil, importlib\n"
        + f"for pkg in {PURE!r}:\n"
        + "    mod = importlib.import_module(pkg)\n"
        + "    for info in pkgutil.walk_packages(mod.__path__, pkg + '.'):\n"
        + "        importlib.import_module(info.name)\n"
        + "print(sorted(m for m in sys.modules if m.split('.')[0] == 'temporalio'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_integrations_import_only_the_sdk_from_the_engine() -> None:
    offenders = []
    for path in (ROOT / "integrations").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.startswith("engine") and not name.startswith("engine.sdk"):
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_workflow_code_never_imports_an_integration() -> None:
    for path in (ROOT / "engine" / "workflows").rglob("*.py"):
        assert "integrations" not in path.read_text(), path
