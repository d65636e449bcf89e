"""Static analysis of the names and paths a template reads."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.templating import Reference, references


def test_paths_of_free_names() -> None:
    assert references("{{ steps.evidence.output.total + x }}") == [
        Reference(root="steps", path=("evidence", "output", "total")),
        Reference(root="x", path=()),
    ]


def test_item_access_with_constants_extends_the_path() -> None:
    assert references("{{ steps['evidence'].output.hits[0]['user'].id }}") == [
        Reference("steps", ("evidence", "output", "hits", 0, "user", "id"))
    ]


def test_dynamic_access_ends_the_path_and_reports_its_own_names() -> None:
    assert references("{{ steps[name].output }} {{ a.b[1:2].c }}") == [
        Reference("steps", ()),
        Reference("name", ()),
        Reference("a", ("b",)),
    ]


def test_loop_bound_and_set_names_are_not_free() -> None:
    text = (
        "{% for hit in steps.evidence.output.hits %}"
        "{{ loop.index }} {{ hit.user.id }} {{ alert.title }}"
        "{% for k, v in hit.items() %}{{ k }}={{ v }}{% endfor %}"
        "{% endfor %}"
        "{% set total = steps.evidence.output.total %}{{ total }}"
        "{{ hit }}{{ loop }}"
    )
    assert references(text) == [
        Reference("steps", ("evidence", "output", "hits")),
        Reference("alert", ("title",)),
        Reference("steps", ("evidence", "output", "total")),
        Reference("hit", ()),
        Reference("loop", ()),
    ]


def test_macro_with_and_namespace_bindings() -> None:
    text = (
        "{% macro line(h, sep='-') %}{{ h.u }}{{ sep }}{{ prefix }}{{ caller() }}{% endmacro %}"
        "{% call line(first) %}inner {{ run.id }}{% endcall %}"
        "{% with n = inputs.n %}{{ n + m }}{% endwith %}"
        "{% set ns = namespace(c=0) %}{% set ns.c = ns.c + 1 %}{% set other.x = 1 %}"
        "{% for i in range(3) %}{{ dict(a=i) }}{% endfor %}"
    )
    assert references(text) == [
        Reference("prefix", ()),
        Reference("first", ()),
        Reference("run", ("id",)),
        Reference("inputs", ("n",)),
        Reference("m", ()),
        Reference("other", ()),
    ]


def test_method_names_are_not_data_paths() -> None:
    assert references("{{ alert.fields.get('x') }} {{ name.upper() }}") == [
        Reference("alert", ("fields",)),
        Reference("name", ()),
    ]


def test_guarded_references_are_marked() -> None:
    assert references("{% if alert.fields.x is defined %}{{ inputs.y | default('n/a') }}{% endif %}") == [
        Reference("alert", ("fields", "x"), guarded=True),
        Reference("inputs", ("y",), guarded=True),
    ]


def test_repeats_are_reported_once_in_order_of_first_use() -> None:
    assert references("{{ b }}{{ a }}{{ b }}") == [Reference("b", ()), Reference("a", ())]


def test_bare_expressions() -> None:
    assert references("steps.approve.approved and not inputs.dry_run", bare=True) == [
        Reference("steps", ("approve", "approved")),
        Reference("inputs", ("dry_run",)),
    ]


def test_dotted_text_for_messages() -> None:
    assert Reference("steps", ("a", "hits", 0, "my-key")).dotted() == "steps.a.hits[0]['my-key']"


@pytest.mark.parametrize(("text", "bare"), [("{{ a +", False), ("{% for x in %}", False), ("a b", True)])
def test_syntax_errors_raise_template_error(text: str, bare: bool) -> None:
    with pytest.raises(TemplateError) as caught:
        references(text, bare=bare)
    assert caught.value.expression == text
