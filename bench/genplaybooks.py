"""Generate a folder of varied, realistic playbooks for the validation benchmark."""

from __future__ import annotations

from pathlib import Path

MODELS = ["support-assistant", "fraud-scorer", "code-helper", "search-ranker", "summarizer"]
RULES = ["AI model prompt injection*", "AI model scraping*", "API key leaked*", "AI model jailbreak*"]


def _search(i: int) -> str:
    return f"""\
  - id: evidence
    name: Gateway requests for the model
    uses: bench.query
    with:
      index: logs-model-gateway-*
      query:
        bool:
          filter:
            - term: {{ ml.model.name: "{{{{ inputs.model }}}}" }}
            - range: {{ ml.prompt_injection.score: {{ gte: "{{{{ inputs.threshold }}}}" }} }}
            - range: {{ "@timestamp": {{ gte: "now-{1 + i % 24}h" }} }}
      size: {10 + i % 40}
      sort: [{{ "@timestamp": desc }}]
    timeout: 30s
    retry: {{ attempts: {2 + i % 4}, initial: 1s, backoff: 2.0, max: 30s }}
  - id: keys
    uses: bench.enrich
    with:
      keys: "{{{{ steps.evidence.output.hits | map(attribute='user.api_key.id') | unique | list }}}}"
"""


def _approval(i: int) -> str:
    return f"""\
  - id: approve
    approval:
      title: "Block {{{{ steps.keys.output['keys'] | length }}}} key(s) on {{{{ inputs.model }}}}?"
      details: "{{{{ steps.evidence.output.total }}}} requests over {{{{ inputs.threshold }}}}"
      approvers: [group:ml-oncall, user:U0{i:03d}]
      timeout: {15 + i % 45}m
      on_timeout: {["escalate", "reject", "approve"][i % 3]}
      escalate_to: [group:security-leads]
"""


def _loop(i: int) -> str:
    cond = "    if: steps.approve.approved\n" if i % 3 == 0 else ""
    return f"""\
  - id: contain
{cond}    for_each: "{{{{ steps.keys.output['keys'] }}}}"
    as: key_id
    max_parallel: {1 + i % 8}
    steps:
      - id: block
        uses: bench.contain
        with: {{ keys: ["{{{{ key_id }}}}"], reason: "{{{{ alert.rule }}}} ({{{{ run.id }}}})" }}
        on_error: continue
"""


def _tell(i: int) -> str:
    return f"""\
  - id: tell
    parallel:
      - id: chat
        uses: bench.post
        with: {{ channel: "#ai-incidents-{i % 4}", text: "{{{{ inputs.model }}}}: {{{{ alert.title }}}}" }}
      - id: owner
        uses: bench.post
        with:
          channel: "#team-{i % 5}"
          text: "{{{{ steps.keys.output.owners | to_json }}}}"
"""


def _extra(i: int) -> str:
    out = ""
    for k in range(i % 5):
        out += f"""\
  - id: note_{k}
    if: steps.evidence.output.total > {k}
    uses: bench.score
    with: {{ total: "{{{{ steps.evidence.output.total }}}}", owners: "{{{{ steps.keys.output.owners }}}}" }}
"""
    if i % 4 == 1:
        out += f"  - id: cool_down\n    wait: {1 + i % 12}h\n"
    if i % 10 == 9:
        out += f"  - id: review\n    playbook: generated-{i - 1:02d}\n"
        out += '    with: { model: "{{ inputs.model }}" }\n'
    return out


def playbook(i: int) -> str:
    """The ``i``-th generated playbook (the text of one YAML file)."""
    approval = _approval(i) if i % 3 == 0 else ""
    return f"""\
apiVersion: fireline/v1
kind: Playbook
metadata:
  name: generated-{i:02d}
  version: {1 + i % 7}
  title: Respond to {RULES[i % len(RULES)].rstrip("*")} on {MODELS[i % len(MODELS)]}
  owner: ml-security
  tags: [ai, generated, bench]
trigger:
  any:
    - source: {["elastic", "generic", "alertmanager"][i % 3]}
      match:
        rule: "{RULES[i % len(RULES)]}"
        severity: [high, critical]
  dedup:
    key: "{{{{ alert.fingerprint }}}}"
    window: {1 + i % 12}h
inputs:
  model:
    type: string
    default: "{{{{ alert.entities.models[0] if alert.entities.models else '{MODELS[i % len(MODELS)]}' }}}}"
  threshold:
    type: number
    default: 0.{5 + i % 5}
steps:
{_search(i)}{approval}{_loop(i)}{_extra(i)}{_tell(i)}on_failure:
  - id: alert_humans
    uses: bench.post
    with: {{ channel: "#ai-incidents", text: "{{{{ run.playbook }}}} failed at {{{{ failure.step }}}}" }}
outputs:
  blocked: "{{{{ steps.contain.output | length }}}}"
"""


def write_playbooks(folder: Path, count: int = 50) -> list[Path]:
    """Write ``count`` playbooks into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"generated-{i:02d}.yaml"
        path.write_text(playbook(i), encoding="utf-8")
        paths.append(path)
    return paths
