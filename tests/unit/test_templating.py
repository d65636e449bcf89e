"""Rendering playbook values: native values, mixed text, strict undefined, errors, caching."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from engine.errors import FirelineError, TemplateError
from engine.templating import TemplateEngine, is_template
from engine.templating.compiler import TemplateCache

CONTEXT: dict[str, Any] = {
    "alert": {
        "title": "Model fraud-scorer exfiltration",
        "severity": "high",
        "occurred_at": "2026-11-20T08:14:03Z",
        "fields": {"ml": {"model": {"name": "fraud-scorer"}}, "items": ["from-data"], "count": 0},
    },
    "inputs": {"model": "fraud-scorer", "limit": 5},
    "steps": {
        "evidence": {
            "status": "succeeded",
            "output": {
                "total": 42,
                "hits": [
                    {"_source": {"msg": "a"}, "user": {"api_key": {"id": "k1"}}},
                    {"_source": {"msg": "b"}, "user": {"api_key": {"id": "k2"}}},
                    {"_source": {"msg": "c"}, "user": {"api_key": {"id": "k1"}}},
                ],
            },
        },
        "approve": {"status": "succeeded", "approved": True, "decided_by": "user:U1"},
    },
    "run": {"id": "run-1", "playbook": "quarantine", "version": 3},
}


@pytest.fixture(scope="module")
def engine() -> TemplateEngine:
    return TemplateEngine()


def test_is_template_detects_expression_and_statement_syntax() -> None:
    assert is_template("{{ x }}")
    assert is_template("{% if x %}y{% endif %}")
    assert not is_template("plain { text } with {# a comment #}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ steps.evidence.output.total }}", 42),
        ("{{ steps.approve.approved }}", True),
        ("{{ steps.evidence.output.hits | map(attribute='user.api_key.id') | unique | list }}", ["k1", "k2"]),
        ("{{ {'model': inputs.model, 'n': inputs.limit} }}", {"model": "fraud-scorer", "n": 5}),
        ("{{ none }}", None),
        ("{{ inputs.limit * 2.5 }}", 12.5),
        ("  {{ inputs.limit }}  ", 5),
        ("{{ inputs.limit }}\n", 5),
        ("{{ range(3) }}", [0, 1, 2]),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ steps.evidence.output.hits | map(attribute='_source.msg') }}", ["a", "b", "c"]),
        ("{{ 'x' }}", "x"),
    ],
)
def test_whole_string_expression_yields_native_value(
    engine: TemplateEngine, text: str, expected: Any
) -> None:
    result = engine.render(text, CONTEXT)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ inputs.model }} quarantined", "fraud-scorer quarantined"),
        ("{{ inputs.limit }} and {{ inputs.limit }}", "5 and 5"),
        ("{{ inputs.limit }}{{ inputs.limit }}", "55"),
        ("{{ steps.evidence.output.total }} suspicious calls\n", "42 suspicious calls\n"),
        ("{% if steps.approve.approved %}yes{% else %}no{% endif %}", "yes"),
        (
            "{% for h in steps.evidence.output.hits %}{{ loop.index }}:{{ h._source.msg }} {% endfor %}",
            "1:a 2:b 3:c ",
        ),
        ("{% raw %}{{ not rendered }}{% endraw %}", "{{ not rendered }}"),
        ("<{{ '&' }}>", "<&>"),
    ],
)
def test_mixed_text_yields_string(engine: TemplateEngine, text: str, expected: str) -> None:
    assert engine.render(text, CONTEXT) == expected


def test_render_walks_dicts_and_lists_but_not_keys(engine: TemplateEngine) -> None:
    value = {
        "index": "logs-*",
        "{{ inputs.model }}": "{{ inputs.model }}",
        "query": {"bool": {"filter": [{"term": {"ml.model.name": "{{ inputs.model }}"}}, 7, None]}},
        "size": 50,
        "pair": ("{{ inputs.limit }}", "x"),
    }
    assert engine.render(value, CONTEXT) == {
        "index": "logs-*",
        "{{ inputs.model }}": "fraud-scorer",
        "query": {"bool": {"filter": [{"term": {"ml.model.name": "fraud-scorer"}}, 7, None]}},
        "size": 50,
        "pair": (5, "x"),
    }


def test_strings_without_template_syntax_and_non_strings_come_back_unchanged(engine: TemplateEngine) -> None:
    for value in ("plain", "", "{ not: template }", 3, 2.5, True, None):
        assert engine.render(value, CONTEXT) is value


@pytest.mark.parametrize(
    "data", ["[1, 2]", "True", "42", "None", "{'a': 1}", "{{ 7 * 7 }}", "{% if 1 %}x{% endif %}"]
)
def test_context_values_are_data_never_reparsed_or_retyped(engine: TemplateEngine, data: str) -> None:
    ctx = {"alert": {"title": data, "tags": [data]}}
    assert engine.render("{{ alert.title }}", ctx) == data
    assert engine.render("Title: {{ alert.title }}", ctx) == f"Title: {data}"
    assert engine.render("{{ alert.tags }}", ctx) == [data]


def test_dict_keys_win_over_dict_methods_for_dot_access(engine: TemplateEngine) -> None:
    assert engine.render("{{ alert.fields.items }}", CONTEXT) == ["from-data"]
    assert engine.render("{{ alert.fields['items'] }}", CONTEXT) == ["from-data"]
    assert engine.render("{{ alert.fields.ml.keys() | list }}", CONTEXT) == ["model"]
    assert engine.render("{{ steps['evidence'].output['hits'][1]._source.msg }}", CONTEXT) == "b"


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("{{ steps.nope }}", "steps.nope"),
        ("{{ steps.evidence.output.totl + 1 }}", "steps.evidence.output.totl"),
        ("count: {{ inputs.modle }}", "inputs.modle"),
        ("{{ stepz }}", "stepz"),
        ("{{ steps.evidence.output.hits[7] }}", "steps.evidence.output.hits[7]"),
        ("{% if alert.nope %}x{% endif %}", "alert.nope"),
        ("{% for x in steps.nope.output %}{% endfor %}", "steps.nope"),
    ],
)
def test_undefined_names_raise_and_name_the_missing_path(
    engine: TemplateEngine, text: str, missing: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        engine.render(text, CONTEXT)
    assert f"undefined: {missing}" in str(caught.value)
    assert caught.value.expression == text


def test_undefined_can_be_tested_and_defaulted(engine: TemplateEngine) -> None:
    assert engine.render("{{ alert.fields.nope is defined }}", CONTEXT) is False
    assert engine.render("{{ alert.fields.nope | default('n/a') }}", CONTEXT) == "n/a"
    assert engine.render("{{ alert.fields.count | default(9, true) }}", CONTEXT) == 9


def test_undefined_inside_a_native_value_raises(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError, match="undefined"):
        engine.render("{{ [1, inputs.nope] }}", CONTEXT)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ 'a' + 1 }}", "TypeError"),
        ("{{ '%d' % inputs.model }}", "TypeError"),
        ("{{ inputs.model | add_hours(1) }}", "not an ISO-8601 timestamp"),
        ("{{ x", "syntax error"),
        ("{% for %}", "syntax error"),
        ("{{ x | nosuchfilter }}", "unknown filter 'nosuchfilter'"),
        ("{{ x is nosuchtest }}", "unknown test 'nosuchtest'"),
        ("{% include 'other.j2' %}", "include is not available"),
        ("{% import 'm.j2' as m %}", "not available"),
        ("{{ cycler(1, 2) }}", "not data"),
        ("{{ joiner(',') }}", "not data"),
        ("{{ [1, 2] | random }}", "unknown filter 'random'"),
        ("{{ lipsum() }}", "undefined: lipsum"),
    ],
)
def test_every_failure_is_a_template_error_with_the_expression(
    engine: TemplateEngine, text: str, fragment: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        engine.render(text, CONTEXT)
    assert fragment in str(caught.value)
    assert caught.value.expression == text
    assert isinstance(caught.value, FirelineError)


def test_error_in_nested_value_says_where(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError) as caught:
        engine.render({"query": {"terms": ["ok", "{{ inputs.nope }}"]}}, CONTEXT)
    assert str(caught.value).startswith("at query.terms[1]: undefined: inputs.nope")
    assert caught.value.expression == "{{ inputs.nope }}"


def test_evaluate_takes_bare_expressions(engine: TemplateEngine) -> None:
    assert engine.evaluate("steps.approve.approved", CONTEXT) is True
    assert (
        engine.evaluate("steps.evidence.output.total > 40 and inputs.model == 'fraud-scorer'", CONTEXT)
        is True
    )
    assert engine.evaluate("steps.evidence.output.hits | length", CONTEXT) == 3
    with pytest.raises(TemplateError, match="takes no"):
        engine.evaluate("{{ steps.approve.approved }}", CONTEXT)
    with pytest.raises(TemplateError, match=r"undefined: steps\.review"):
        engine.evaluate("steps.review.approved", CONTEXT)


def test_check_reports_syntax_without_rendering(engine: TemplateEngine) -> None:
    engine.check("{{ anything.at.all }} is fine before run time")
    engine.check("plain text")
    engine.check("a and not b", bare=True)
    for bad, bare in [
        ("{{ a +", False),
        ("{% if a %}", False),
        ("a and", True),
        ("{% if a %}{{ a|nope }}{% endif %}", False),
    ]:
        with pytest.raises(TemplateError) as caught:
            engine.check(bad, bare=bare)
        assert caught.value.expression == bad


def test_same_input_same_output(engine: TemplateEngine) -> None:
    text = "{{ steps.evidence.output | to_json | sha256 }} {{ alert | dictsort }}"
    assert engine.render(text, CONTEXT) == engine.render(text, CONTEXT)


def test_template_cache_is_a_bounded_lru() -> None:
    engine = TemplateEngine()
    cache = TemplateCache(2)
    a, b, c = (engine._compiled(text, bare=False) for text in ("{{ 1 }}", "{{ 2 }}", "{{ 3 }}"))
    cache.put((False, "a"), a)
    cache.put((False, "b"), b)
    assert cache.get((False, "a")) is a  # a is now the most recent
    cache.put((False, "c"), c)
    assert len(cache) == 2
    assert cache.get((False, "b")) is None
    assert cache.get((False, "a")) is a
    assert cache.get((False, "c")) is c


def test_engine_reuses_compiled_templates() -> None:
    engine = TemplateEngine(cache_size=4)
    first = engine._compiled("{{ x }} y", bare=False)
    assert engine._compiled("{{ x }} y", bare=False) is first
    for n in range(10):
        engine.render(f"{{{{ {n} }}}} y", {})
    assert engine._compiled("{{ x }} y", bare=False) is not first


def test_concurrent_renders_from_threads_are_independent() -> None:
    engine = TemplateEngine(max_operations=5_000, cache_size=8)
    barrier = threading.Barrier(8)

    def work(n: int) -> list[Any]:
        barrier.wait()
        out = []
        for i in range(40):
            # Each render loops 3,000 times: fine alone, over budget if budgets leaked between threads.
            heavy = engine.render("{% for i in range(3000) %}{% endfor %}{{ n * i }}", {"n": n, "i": i})
            out.append((heavy, engine.render(f"{{{{ n }}}}-{i % 12}", {"n": n})))
        return out

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    for n, rows in enumerate(results):
        assert rows == [(str(n * i), f"{n}-{i % 12}") for i in range(40)]


class _SandboxRefusal(Exception):
    """Stands in for Temporal's RestrictedWorkflowAccessError (recognised by module name)."""


_SandboxRefusal.__module__ = "temporalio.worker.workflow_sandbox._restrictions"


class _RestrictedMapping(dict[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise _SandboxRefusal(f"cannot access {key} from inside a workflow")


def test_workflow_runtime_errors_are_not_disguised_as_template_errors(engine: TemplateEngine) -> None:
    # A sandbox refusal means the engine is wired wrongly; the workflow task must fail as such.
    with pytest.raises(_SandboxRefusal):
        engine.render("{{ data.x }}", {"data": _RestrictedMapping(x=1)})
