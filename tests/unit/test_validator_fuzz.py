"""Random YAML and random mutations of valid playbooks never crash the validator."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import PlaybookInvalid
from engine.spec.catalog import validate_text

PLAYBOOKS = sorted((Path(__file__).parents[2] / "playbooks").glob("*.yaml")) + sorted(
    (Path(__file__).parents[1] / "rehearsals").glob("*/playbooks/*.yaml")
)
SEEDS = [p.read_text() for p in PLAYBOOKS]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(
        ["{{ steps.x.output }}", "{% for i in range(9) %}{% endfor %}", "1h", "user:x", "core.echo"]
    ),
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


def assert_clean(text: str) -> None:
    entry = validate_text(text, "fuzz.yaml")
    for d in entry.diagnostics:
        assert d.file == "fuzz.yaml" and d.line >= 1 and d.col >= 1 and d.message
    try:
        entry.require()
    except PlaybookInvalid as exc:
        assert exc.diagnostics


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    assert_clean(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_yaml_documents(doc: object) -> None:
    assert_clean(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.data())
def test_mutations_of_valid_playbooks(seed: str, data: st.DataObject) -> None:
    lines = seed.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["drop", "dup", "indent", "dedent", "replace", "swap"]))
        if action == "drop":
            lines.pop(index)
        elif action == "dup":
            lines.insert(index, lines[index])
        elif action == "indent":
            lines[index] = "  " + lines[index]
        elif action == "dedent":
            lines[index] = lines[index][2:]
        elif action == "replace":
            lines[index] = lines[index][: data.draw(st.integers(0, len(lines[index])))] + data.draw(
                scalars.map(str)
            )
        else:
            other = data.draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        if not lines:
            lines = ["x"]
    assert_clean("\n".join(lines) + "\n")


def test_mutation_seeds_are_valid_playbooks() -> None:
    """Mutations start from valid text, so they probe the validator's edges rather than only syntax."""
    assert len(SEEDS) >= 5
    for seed in SEEDS:
        assert validate_text(seed, "seed.yaml").playbook is not None
