"""The validator reports every error of the format document with file:line:col, path and hint."""

from __future__ import annotations

import textwrap

import pytest

from engine.errors import Diagnostic
from engine.spec.catalog import load_catalog, validate_text

HEADER = """\
apiVersion: fireline/v1
kind: Playbook
metadata: { name: sample-playbook, version: 1 }
"""


def check(body: str) -> list[Diagnostic]:
    return validate_text(HEADER + textwrap.dedent(body), "pb.yaml").diagnostics


def only(diags: list[Diagnostic], code: str) -> Diagnostic:
    matching = [d for d in diags if d.code == code]
    assert len(matching) == 1, [d.render() for d in diags]
    return matching[0]


def test_valid_playbook_has_no_diagnostics() -> None:
    entry = validate_text(
        HEADER
        + textwrap.dedent(
            """\
            inputs:
              who: { type: string, default: "{{ alert.title }}" }
            steps:
              - id: first
                uses: core.echo
                with: { message: "{{ inputs.who }}" }
              - id: second
                if: steps.first.status == 'succeeded'
                uses: core.echo
                with: { message: "{{ steps.first.output.message }}" }
            outputs:
              said: "{{ steps.second.output.message }}"
            """
        ),
        "ok.yaml",
    )
    assert entry.ok, [d.render() for d in entry.diagnostics]
    assert len(entry.sha256) == 64


def test_yaml_syntax_error_is_located() -> None:
    d = only(check("steps:\n  - id: a\n    uses: core.echo\n   with: {message: x}\n"), "yaml-syntax")
    assert d.file == "pb.yaml" and d.line == 7
    assert "YAML syntax" in d.message


def test_unknown_key_with_did_you_mean_points_at_the_key() -> None:
    d = only(check("steps:\n  - id: a\n    uses: core.echo\n    wiht: {message: x}\n"), "unknown-key")
    assert (d.line, d.col) == (7, 5)
    assert d.path == "steps[0].wiht"
    assert d.hint == "did you mean 'with'?"


def test_duplicate_step_ids_name_the_first_use() -> None:
    diags = check(
        """\
        steps:
          - id: a
            uses: core.echo
            with: {message: x}
          - id: a
            wait: 1s
        """
    )
    d = only(diags, "duplicate-id")
    assert d.path == "steps[1].id" and d.line == 8 and "line 5" in d.hint


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("- id: a\n    name: nothing\n", "step 'a' has no body"),
        ("- id: a\n    uses: core.echo\n    wait: 1s\n", "step 'a' has 2 bodies: uses, wait"),
        ("- name: nothing\n", "step has no body"),  # no id to name: the location alone says which
    ],
)
def test_step_needs_exactly_one_body(step: str, message: str) -> None:
    d = only(check("steps:\n  " + step), "step-body")
    assert d.message == message and d.path == "steps[0]" and d.line == 5


def test_body_typo_gets_a_hint() -> None:
    d = only(check("steps:\n  - id: a\n    usse: core.echo\n"), "step-body")
    assert d.hint == "did you mean 'uses'?"


def test_unknown_action_suggests_the_close_one() -> None:
    d = only(check("steps:\n  - id: a\n    uses: core.ecko\n    with: {message: x}\n"), "unknown-action")
    assert d.path == "steps[0].uses" and (d.line, d.col) == (6, 11) and d.hint == "did you mean 'core.echo'?"


def test_arguments_are_checked_against_the_action() -> None:
    diags = check(
        """\
        steps:
          - id: a
            uses: core.echo
            with: { mesage: hi }
          - id: b
            uses: core.fail
            with: { message: 42 }
        """
    )
    assert only(diags, "unknown-parameter").hint == "did you mean 'message'?"
    assert only(diags, "missing-parameter").path == "steps[0].with"
    bad = only(diags, "bad-argument")
    assert bad.path == "steps[1].with.message" and "string" in bad.message


def test_templated_arguments_are_not_type_checked_statically() -> None:
    diags = check(
        "steps:\n  - id: a\n    uses: core.fail\n"
        "    with: { message: '{{ alert.title }}', retryable: '{{ true }}' }\n"
    )
    assert diags == []


def test_expression_syntax_error() -> None:
    d = only(
        check("steps:\n  - id: a\n    uses: core.echo\n    with: { message: '{{ alert.title + }}' }\n"),
        "expression-syntax",
    )
    assert d.path == "steps[0].with.message" and d.line == 7


def test_reference_to_unknown_step_has_did_you_mean() -> None:
    diags = check(
        """\
        steps:
          - id: evidence
            uses: core.echo
            with: { message: x }
          - id: use
            uses: core.echo
            with:
              message: "{{ steps.evidnce.output }}"
        """
    )
    d = only(diags, "unknown-step")
    assert d.render() == (
        "pb.yaml:11:16: steps[1].with.message: unknown step 'evidnce' (did you mean 'evidence'?)"
    )


def test_reference_to_a_later_step() -> None:
    diags = check(
        """\
        steps:
          - id: first
            if: steps.second.status == 'succeeded'
            uses: core.echo
            with: { message: x }
          - id: second
            uses: core.echo
            with: { message: y }
        """
    )
    assert only(diags, "step-runs-later").path == "steps[0].if"


def test_parallel_siblings_cannot_see_each_other_but_later_steps_can() -> None:
    diags = check(
        """\
        steps:
          - id: both
            parallel:
              - id: left
                uses: core.echo
                with: { message: x }
              - id: right
                uses: core.echo
                with: { message: "{{ steps.left.output }}" }
          - id: after
            uses: core.echo
            with: { message: "{{ steps.left.output.message }} {{ steps.both.output }}" }
        """
    )
    assert only(diags, "step-runs-later").path == "steps[0].parallel[1].with.message"


def test_undefined_names_and_inputs() -> None:
    diags = check(
        """\
        inputs: { model: { type: string } }
        steps:
          - id: a
            uses: core.echo
            with: { message: "{{ alrt.title }} {{ inputs.modle }}" }
        """
    )
    assert only(diags, "undefined-name").hint == "did you mean 'alert'?"
    assert only(diags, "unknown-input").hint == "did you mean 'model'?"


def test_loop_variable_shadowing() -> None:
    diags = check(
        """\
        steps:
          - id: loop
            for_each: [1, 2]
            as: alert
            steps:
              - id: inner
                uses: core.echo
                with: { message: "{{ alert }}" }
        """
    )
    assert only(diags, "shadowing").path == "steps[0].as"


def test_loop_variable_and_nested_steps_are_in_scope_inside_the_loop() -> None:
    diags = check(
        """\
        steps:
          - id: loop
            for_each: [1, 2]
            as: key_id
            steps:
              - id: one
                uses: core.echo
                with: { message: "{{ key_id }}" }
              - id: two
                uses: core.echo
                with: { message: "{{ steps.one.output.message }}" }
          - id: after
            uses: core.echo
            with: { message: "{{ steps.loop.output | length }}" }
        """
    )
    assert diags == []


def test_durations_and_approvers() -> None:
    diags = check(
        """\
        steps:
          - id: pause
            wait: 3 days
          - id: ok
            approval:
              title: Go?
              approvers: [bob, group:oncall]
              timeout: 10x
        """
    )
    messages = {d.path: d for d in diags}
    assert messages["steps[0].wait"].message == "'3 days' is not a duration"
    assert messages["steps[1].approval.approvers[0]"].hint == "write user:<id> or group:<name>"
    assert messages["steps[1].approval.timeout"].line == 11


def test_several_errors_in_one_file_are_all_reported() -> None:
    diags = check(
        """\
        steps:
          - id: a
            uses: core.ecko
            with: { message: x }
          - id: a
            wait: soon
          - id: c
            uses: core.echo
            with: { message: "{{ steps.zzz }}" }
        """
    )
    codes = {d.code for d in diags}
    assert {"unknown-action", "duplicate-id", "pattern", "unknown-step"} <= codes
    assert [d.line for d in diags] == sorted(d.line for d in diags)


def test_child_playbook_missing_or_recursive(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    for name, child in (("parent-pb", "child-pb"), ("child-pb", "parent-pb"), ("lonely-pb", "nowhere-pb")):
        (folder / f"{name}.yaml").write_text(
            f"apiVersion: fireline/v1\nkind: Playbook\nmetadata: {{ name: {name}, version: 1 }}\n"
            f"steps:\n  - id: call\n    playbook: {child}\n"
        )
    catalog = load_catalog([folder])
    by_name = {e.name: e for e in catalog.entries}
    assert "would recurse" in by_name["parent-pb"].diagnostics[0].message
    lonely = by_name["lonely-pb"].diagnostics[0]
    assert "not in the catalog" in lonely.message and lonely.path == "steps[0].playbook" and lonely.line == 6


def test_non_mapping_and_empty_documents() -> None:
    assert validate_text("", "e.yaml").diagnostics[0].code == "empty"
    assert "mapping" in validate_text("- 1\n- 2\n", "l.yaml").diagnostics[0].message


EDIT_STEPS = """\
steps:
  - id: approve
    approval:
      title: Deactivate the key?
      approvers: [user:U1]
      guards: {guards}
      editable: [{editable}]
  - id: deactivate
    if: steps.approve.approved
    uses: aws.deactivate_access_key
    with: {{ access_key_id: AKIAIOSFODNN7EXAMPLE }}
"""


def test_editable_arguments_name_parameters_of_the_guarded_action() -> None:
    assert check(EDIT_STEPS.format(guards="deactivate", editable="access_key_id, user")) == []
    d = only(check(EDIT_STEPS.format(guards="deactivate", editable="access_key, user")), "unknown-parameter")
    assert d.path == "steps[0].approval.editable[0]" and (d.line, d.col) == (10, 18)
    assert "aws.deactivate_access_key has no parameter 'access_key'" in d.message
    assert d.hint == "did you mean 'access_key_id'?"


def test_guards_names_a_later_action_step_of_the_same_list() -> None:
    d = only(check(EDIT_STEPS.format(guards="deactivat", editable="user")), "unknown-guarded-step")
    assert d.path == "steps[0].approval.guards" and d.line == 9 and d.hint == "did you mean 'deactivate'?"
    d = only(check(EDIT_STEPS.format(guards="approve", editable="user")), "unknown-guarded-step")
    assert "names no later action step" in d.message
    missing = check(EDIT_STEPS.replace("      guards: {guards}\n", "").format(editable="user"))
    assert only(missing, "editable").message == "editable arguments need guards: <step id>"
