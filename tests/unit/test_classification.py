"""Classification: pinned MITRE ATLAS and OWASP LLM 2025 lists, playbook validation, alert-added ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from engine.classification import ATLAS, OWASP_LLM, Classification, Framework, closest
from engine.classification.tags import MAX_ALERT_IDS
from engine.cli import app
from engine.plan.compile import compile_plan
from engine.spec.catalog import load_catalog, validate_text

PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
PLAYBOOK = """\
apiVersion: fireline/v1
kind: Playbook
metadata:
  name: tagged-playbook
  version: 1
  classification:
    atlas: [AML.T0051, AML.T0O51, AML.T0024]
    owasp_llm: [LLM01:2025, LLM11:2025]
steps:
  - id: pause
    wait: 1s
"""


def test_the_pinned_lists_carry_their_versions_and_the_real_ids() -> None:
    assert ATLAS.version == "5.1.0" and "atlas.mitre.org" in ATLAS.source
    assert OWASP_LLM.version == "2025" and "genai.owasp.org" in OWASP_LLM.source
    assert ATLAS.name("AML.T0051") == "LLM Prompt Injection"
    assert ATLAS.name("AML.T0024") == "Exfiltration via AI Inference API"
    assert ATLAS.name("AML.T0010") == "AI Supply Chain Compromise"
    assert ATLAS.name("AML.T0040") == "AI Model Inference API Access"
    assert ATLAS.name("AML.T0057") == "LLM Data Leakage" and ATLAS.name("AML.T0054") == "LLM Jailbreak"
    assert ATLAS.name("AML.T0044") == "Full AI Model Access" and ATLAS.name("AML.T0048") == "External Harms"
    assert list(OWASP_LLM.entries) == [f"LLM{n:02}:2025" for n in range(1, 11)]
    assert OWASP_LLM.name("LLM06:2025") == "Excessive Agency"
    assert OWASP_LLM.name("LLM10:2025") == "Unbounded Consumption"
    assert closest(Framework.ATLAS, "aml.t0051") == "AML.T0051"
    assert ATLAS.name("AML.T0051.001") == "Indirect"
    assert ATLAS.label("AML.T0051.001") == "LLM Prompt Injection: Indirect"
    assert ATLAS.label("AML.T0051") == "LLM Prompt Injection" and ATLAS.label("AML.T9999") == ""


def test_validate_rejects_unknown_ids_with_place_and_closest_id() -> None:
    diags = validate_text(PLAYBOOK, "tagged.yaml").diagnostics
    rendered = [d.render() for d in diags]
    assert [d.code for d in diags] == ["unknown-classification"] * 2, rendered
    assert rendered[0] == (
        "tagged.yaml:7:24: metadata.classification.atlas[1]: 'AML.T0O51' is not on the pinned "
        "MITRE ATLAS 5.1.0 list (did you mean 'AML.T0051' (LLM Prompt Injection)?)"
    )
    assert rendered[1].startswith("tagged.yaml:8:29: metadata.classification.owasp_llm[1]: 'LLM11:2025'")


def test_the_cli_refuses_the_playbook_and_the_schema_lists_the_ids(tmp_path: Path) -> None:
    bad = tmp_path / "tagged.yaml"
    bad.write_text(PLAYBOOK)
    result = CliRunner().invoke(app, ["validate", str(bad)])
    assert result.exit_code != 0 and "did you mean 'AML.T0051'" in result.output
    schema = json.loads(CliRunner().invoke(app, ["schema"]).output)
    spec = schema["$defs"]["ClassificationSpec"]["properties"]
    assert "AML.T0051" in spec["atlas"]["items"]["enum"]
    assert spec["owasp_llm"]["items"]["enum"][0] == "LLM01:2025"


def test_every_shipped_incident_playbook_is_classified_and_plans_keep_it() -> None:
    catalog = load_catalog([PLAYBOOKS])
    assert all(not e.diagnostics for e in catalog.entries), [
        d.render() for e in catalog.entries for d in e.diagnostics
    ]
    for entry in catalog.entries:
        plan = compile_plan(entry, catalog)
        if plan.name == "post-incident-review":  # reviews other runs; classifies nothing itself
            assert plan.classification == {}
            continue
        assert plan.classification.get("atlas"), plan.name
    assert compile_plan(catalog.get("prompt-injection-response"), catalog).classification == {
        "atlas": ["AML.T0051", "AML.T0054"],
        "owasp_llm": ["LLM01:2025"],
    }


def alert(fields: dict[str, Any]) -> dict[str, Any]:
    return {"id": "a1", "title": "t", "fields": fields}


def test_alerts_add_listed_ids_and_unknown_ones_are_recorded_as_rejected() -> None:
    declared = {"atlas": ["AML.T0051"], "owasp_llm": ["LLM01:2025"]}
    found = Classification.for_run(
        declared,
        alert(
            {
                "labels": {"atlas": "AML.T0057, AML.T0051", "owasp_llm": "LLM02:2025,LLM99:2025"},
                "classification": {"atlas": ["AML.T0O24", {"$ne": 1}], "owasp_llm": "LLM01:2025"},
                "threat": {"technique": {"id": ["AML.T0024", "T1190", "LLM07:2025"]}},
            }
        ),
    )
    assert found.atlas == ["AML.T0051", "AML.T0057", "AML.T0024"]
    assert found.owasp_llm == ["LLM01:2025", "LLM02:2025", "LLM07:2025"]
    assert [(r.framework, r.value, r.hint) for r in found.rejected] == [
        (Framework.ATLAS, "AML.T0O24", "AML.T0024"),
        (Framework.ATLAS, "{'$ne': 1}", ""),
        (Framework.OWASP_LLM, "LLM99:2025", "LLM09:2025"),
        (None, "T1190", ""),
    ]
    # an OWASP id under the ATLAS label is not quietly moved: it is rejected
    wrong = Classification.for_run({}, alert({"labels": {"atlas": "LLM01:2025"}}))
    assert wrong.atlas == [] and wrong.owasp_llm == [] and wrong.rejected[0].value == "LLM01:2025"


def test_hostile_alert_classification_never_crashes_and_stays_bounded() -> None:
    for fields in ({"classification": "AML.T0051"}, {"classification": None}, {"labels": 7}, {"threat": []}):
        assert Classification.for_run({}, alert(fields)).atlas == []
    assert Classification.for_run({}, {"fields": "x"}).empty
    flood = Classification.for_run({}, alert({"classification": {"atlas": ["x" * 10_000] * 500}}))
    assert len(flood.rejected) == MAX_ALERT_IDS and all(len(r.value) <= 40 for r in flood.rejected)
    audit = Classification(atlas=["AML.T0051"]).for_audit()
    assert audit["atlas"] == {
        "title": "MITRE ATLAS",
        "version": "5.1.0",
        "ids": [{"id": "AML.T0051", "name": "LLM Prompt Injection"}],
    }
