"""Attacker-controlled alert data stays data; hostile templates are refused or stopped."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import TemplateError, TemplateLimitExceeded
from engine.templating import TemplateEngine

PAYLOADS = [
    "{{ ''.__class__.__mro__ }}",
    "{% for x in range(10**9) %}x{% endfor %}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ dict.__base__.__subclasses__() }}",
    "{{ [].__class__.__base__ }}",
    "{{ ''.format.__globals__ }}",
    "{{ '{0.__class__}'.format('') }}",
    "{{ range.__self__ }}",
    "{% set x = [].append(1) %}",
    "{{ {}.update(a=1) }}",
]


@pytest.fixture(scope="module")
def engine() -> TemplateEngine:
    return TemplateEngine()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_in_alert_data_comes_out_as_plain_text(engine: TemplateEngine, payload: str) -> None:
    ctx = {"alert": {"title": payload, "fields": {"nested": [{"x": payload}]}}}
    assert engine.render("{{ alert.title }}", ctx) == payload
    assert engine.render("Alert: {{ alert.title }}!", ctx) == f"Alert: {payload}!"
    assert engine.render({"text": "{{ alert.fields.nested[0].x }}"}, ctx) == {"text": payload}
    assert engine.render("{{ alert.fields }}", ctx) == {"nested": [{"x": payload}]}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_used_as_a_template_is_refused(engine: TemplateEngine, payload: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateError) as caught:
        engine.render(payload, {})
    assert caught.value.expression == payload
    assert time.perf_counter() - started < 1.0


def test_sandbox_escape_never_executes(engine: TemplateEngine, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    attempts = [
        f"{{{{ cycler.__init__.__globals__.os.system('touch {marker}') }}}}",
        f"{{{{ ''.__class__.__mro__[1].__subclasses__()[0]('touch {marker}') }}}}",
        f'{{{{ self.__init__.__globals__.__builtins__.exec(\'open("{marker}", "w")\') }}}}',
        f"{{{{ joiner.__call__.__globals__['os'].system('touch {marker}') }}}}",
    ]
    for attempt in attempts:
        with pytest.raises(TemplateError):
            engine.render(attempt, {})
        with pytest.raises(TemplateError):
            engine.evaluate(attempt.strip("{} "), {})
    assert not marker.exists()


def test_immutable_sandbox_refuses_mutating_context_data(engine: TemplateEngine) -> None:
    ctx: dict[str, Any] = {"items": [1, 2], "d": {"a": 1}}
    for text in ("{{ items.append(3) }}", "{{ d.update(b=2) }}", "{{ d.pop('a') }}", "{{ items.clear() }}"):
        with pytest.raises(TemplateError):
            engine.render(text, ctx)
    assert ctx == {"items": [1, 2], "d": {"a": 1}}


def test_methods_outside_the_allow_list_are_refused(engine: TemplateEngine) -> None:
    assert engine.render("{{ 'Ab'.lower() }}", {}) == "ab"
    assert engine.render("{{ d.get('a') }}", {"d": {"a": 1}}) == 1
    for text in ("{{ 'ab'.translate({97: 'x'}) }}", "{{ 'a\tb'.expandtabs(8) }}", "{{ 'a'.encode() }}"):
        with pytest.raises(TemplateError, match="not allowed"):
            engine.render(text, {})


def test_nested_huge_loops_stop_quickly(engine: TemplateEngine) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateLimitExceeded, match="operations"):
        engine.render("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", {})
    assert time.perf_counter() - started < 2.0


def test_loops_over_context_data_are_counted_too() -> None:
    engine = TemplateEngine(max_operations=1_000)
    ctx = {"xs": list(range(100))}
    assert engine.render("{% for a in xs %}{% endfor %}ok", ctx) == "ok"
    with pytest.raises(TemplateLimitExceeded):
        engine.render("{% for a in xs %}{% for b in xs %}{% endfor %}{% endfor %}", ctx)


def test_operation_budget_is_per_call() -> None:
    engine = TemplateEngine(max_operations=1_000)
    for _ in range(5):
        assert engine.render("{% for i in range(900) %}{% endfor %}done", {}) == "done"
    with pytest.raises(TemplateLimitExceeded):
        engine.render("{% for i in range(1001) %}{% endfor %}", {})


def test_output_limit_stops_generation() -> None:
    engine = TemplateEngine(max_output_chars=10_000)
    assert len(engine.render("{% for i in range(9) %}{{ 'x' * 1000 }}{% endfor %}", {})) == 9_000
    with pytest.raises(TemplateLimitExceeded, match="output"):
        engine.render("{% for i in range(50) %}{{ 'x' * 1000 }}{% endfor %}", {})
    with pytest.raises(TemplateLimitExceeded):
        engine.render("{% for i in range(50) %}" + "y" * 1000 + "{% endfor %}", {})


def test_native_value_size_is_bounded() -> None:
    engine = TemplateEngine(max_output_chars=1_000)
    assert len(engine.render("{{ range(500) | list }}", {})) == 500
    with pytest.raises(TemplateLimitExceeded):
        engine.render("{{ [range(500) | list] * 3 }}", {})
    with pytest.raises(TemplateLimitExceeded):
        engine.render("{{ data }}", {"data": ["x" * 600, "y" * 600]})


@pytest.mark.parametrize(
    "text",
    [
        "{{ 'a' * 10**9 }}",
        "{{ [0] * 10**9 }}",
        "{{ 2 ** (10 ** 9) }}",
        "{{ 'x' | center(10**9) }}",
        "{{ 'x'.ljust(10**9) }}",
        "{{ '%999999999d' % 1 }}",
        "{{ '%*d' % (10, 1) }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ '{:{w}}'.format(1, w=10**8) }}",
        "{{ ('{0}' * 1000).format(big) }}",
        "{{ ('%s' * 1000) | format(*([big] * 1000)) }}",
        "{{ range(1000) | join(big) }}",
        "{{ big.join(range(1000) | map('string')) }}",
        "{{ (big * 1) | replace('x', big) }}",
        "{{ big.replace('x', big) }}",
        "{{ ((big ~ '\n') * 90) | indent(big) }}",
        "{{ ((big ~ '\n') * 50) | indent(500000) }}",
        "{{ [1, 2] | slice(10**6) | list }}",
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(n=3) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
        "{% set s %}{% for i in range(100000) %}{{ big }}{% endfor %}{% endset %}{{ s | length }}",
        "{% macro m() %}{{ big }}{{ big }}{% endmacro %}"
        "{% set s %}{% for i in range(1000) %}{{ m() }}{% endfor %}{% endset %}",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "{{ range(10**9) | list }}",
    ],
)
def test_amplification_is_refused_before_it_costs_much(text: str) -> None:
    engine = TemplateEngine()
    started = time.perf_counter()
    with pytest.raises(TemplateLimitExceeded):
        engine.render(text, {"big": "x" * 10_000})
    assert time.perf_counter() - started < 2.0


def test_large_numbers_that_are_not_sizes_are_fine(engine: TemplateEngine) -> None:
    ctx = {"d": {}}
    assert engine.render("{{ d.nope | default(86400000) }}", ctx) == 86_400_000
    assert engine.render("{{ d.get('x', 10**12) }}", ctx) == 10**12


def test_sum_adds_numbers_only(engine: TemplateEngine) -> None:
    assert engine.render("{{ [1, 2, 3] | sum }}", {}) == 6
    with pytest.raises(TemplateError, match="only adds numbers"):
        engine.render("{{ [[1]] * 1000 | sum(start=[]) }}", {})


def test_ordinary_text_work_fits_the_default_limits(engine: TemplateEngine) -> None:
    hits = [{"user": f"u{i}", "msg": "m" * 100} for i in range(2_000)]
    text = "{% for h in hits %}{{ h.user }}: {{ h.msg | truncate(20) }}\n{% endfor %}"
    assert engine.render(text, {"hits": hits}).count("\n") == 2_000
    assert len(engine.render("{{ hits | map(attribute='user') | join(', ') }}", {"hits": hits})) > 10_000
    assert engine.render("{{ hits | to_json | sha256 | length }}", {"hits": hits}) == 64


FRAGMENTS = st.sampled_from(
    [
        "{{", "}}", "{%", "%}", "{#", "#}", " ", "x", "alert", ".", "title", "[", "]", "(", ")", "'", '"',
        "|", "upper", "join", "format", "map", "list", "default", "for", "in", "endfor", "if", "else",
        "endif", "set", "endset", "macro", "endmacro", "=", "~", "+", "-", "*", "**", "/", "//", "%", ",",
        ":", "0", "9", "10", "range", "loop", "namespace", "__class__", "_x", "not", "and", "is", "defined",
        "none", "true", "{{ x }}", "{{ alert.title }}", "{% for i in range(9) %}", "{% endfor %}", "\n",
    ]
)  # fmt: skip
TEXTS = st.one_of(st.lists(FRAGMENTS, max_size=30).map("".join), st.text(max_size=60))


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
def test_random_text_renders_or_raises_template_error_only(text: str) -> None:
    engine = TemplateEngine(max_operations=20_000)
    ctx = {"x": 3, "alert": {"title": "{{ x }}", "items": [1, 2]}}
    try:
        result = engine.render(text, ctx)
    except TemplateError:
        return
    if "{{" not in text and "{%" not in text:
        assert result == text


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=st.text())
def test_any_alert_text_round_trips_unchanged(data: str) -> None:
    engine = TemplateEngine()
    assert engine.render("{{ alert.title }}", {"alert": {"title": data}}) == data
    assert engine.render("[{{ alert.title }}]", {"alert": {"title": data}}) == f"[{data}]"
