"""The AWS IAM actions against moto's server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from engine.sdk import ActionContext, ActionError
from engine.stack.processes import free_port
from integrations.aws import actions
from integrations.aws.testing import action_context, admin_client
from tests.fixtures.moto import iam_user, moto_endpoint  # noqa: F401

pytestmark = pytest.mark.integration


def run(func: Any, ctx: ActionContext, **args: Any) -> dict[str, Any]:
    """Validate ``args`` against the action's declared parameters and call it, as a step would."""
    definition = func.__fireline_action__
    result: dict[str, Any] = definition.func(ctx, definition.params_model.model_validate(args))
    return result


def new_key(endpoint: str, user: str) -> str:
    return admin_client(endpoint).create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]


def statuses(endpoint: str, user: str) -> dict[str, str]:
    keys = admin_client(endpoint).list_access_keys(UserName=user)["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in keys}


def policy_document(endpoint: str, user: str) -> Any:
    # botocore hands back the decoded document, though the type stubs say str.
    answer: Any = admin_client(endpoint).get_user_policy(UserName=user, PolicyName="fireline-deny-all")
    return answer["PolicyDocument"]


# --- access keys ----------------------------------------------------------------------------


def test_list_access_keys_reports_each_key_and_how_many_are_active(moto_endpoint: str, iam_user: str) -> None:
    first, second = new_key(moto_endpoint, iam_user), new_key(moto_endpoint, iam_user)
    admin_client(moto_endpoint).update_access_key(UserName=iam_user, AccessKeyId=second, Status="Inactive")

    out = run(actions.list_access_keys, action_context(moto_endpoint), user=iam_user)

    assert out["user"] == iam_user
    assert {k["access_key_id"]: k["status"] for k in out["keys"]} == {first: "Active", second: "Inactive"}
    assert out["active"] == 1
    assert all(k["created_at"] and k["last_used_at"] is None for k in out["keys"])


def test_deactivate_changes_the_key_once_even_when_the_step_runs_twice(
    moto_endpoint: str, iam_user: str
) -> None:
    leaked, other = new_key(moto_endpoint, iam_user), new_key(moto_endpoint, iam_user)
    ctx = action_context(moto_endpoint, idempotency_key="run-1/deactivate/0")

    first = run(actions.deactivate_access_key, ctx, user=iam_user, access_key_id=leaked)
    second = run(actions.deactivate_access_key, ctx, user=iam_user, access_key_id=leaked)

    assert (first["previous_status"], first["status"], first["changed"]) == ("Active", "Inactive", True)
    assert (second["previous_status"], second["changed"]) == ("Inactive", False)
    assert statuses(moto_endpoint, iam_user) == {leaked: "Inactive", other: "Active"}


def test_deactivate_finds_the_owner_from_the_key_id_alone(moto_endpoint: str, iam_user: str) -> None:
    leaked = new_key(moto_endpoint, iam_user)

    out = run(actions.deactivate_access_key, action_context(moto_endpoint), access_key_id=leaked)

    assert out["user"] == iam_user
    assert statuses(moto_endpoint, iam_user) == {leaked: "Inactive"}


def test_deactivating_an_unknown_key_fails_for_good(moto_endpoint: str, iam_user: str) -> None:
    with pytest.raises(ActionError) as err:
        run(
            actions.deactivate_access_key,
            action_context(moto_endpoint),
            user=iam_user,
            access_key_id="AKIAXXXXXXXXXXXXXXXX",
        )

    assert (err.value.type, err.value.retryable) == ("AccessKeyNotFound", False)


def test_delete_removes_the_key_once_and_then_reports_it_gone(moto_endpoint: str, iam_user: str) -> None:
    leaked, other = new_key(moto_endpoint, iam_user), new_key(moto_endpoint, iam_user)
    ctx = action_context(moto_endpoint, idempotency_key="run-2/delete/0")

    first = run(actions.delete_access_key, ctx, user=iam_user, access_key_id=leaked)
    second = run(actions.delete_access_key, ctx, user=iam_user, access_key_id=leaked)
    by_id_only = run(actions.delete_access_key, ctx, access_key_id=leaked)

    assert (first["previous_status"], first["status"], first["changed"]) == ("Active", "Deleted", True)
    assert (second["status"], second["changed"]) == ("Deleted", False)
    assert by_id_only["changed"] is False
    assert statuses(moto_endpoint, iam_user) == {other: "Active"}


def test_an_unknown_user_fails_with_user_not_found(moto_endpoint: str) -> None:
    with pytest.raises(ActionError) as err:
        run(actions.list_access_keys, action_context(moto_endpoint), user=f"ghost-{uuid.uuid4().hex[:6]}")

    assert (err.value.type, err.value.retryable) == ("UserNotFound", False)


def test_hostile_key_ids_are_refused_before_any_call() -> None:
    definition = actions.delete_access_key.__fireline_action__  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        definition.params_model.model_validate({"access_key_id": "AKIA'; DROP TABLE users;--"})


# --- deny-all -------------------------------------------------------------------------------


def test_deny_all_attaches_one_inline_policy_once(moto_endpoint: str, iam_user: str) -> None:
    ctx = action_context(moto_endpoint, idempotency_key="run-3/fence/0")

    first = run(actions.deny_all, ctx, principal=iam_user, kind="user")
    second = run(actions.deny_all, ctx, principal=iam_user, kind="user")

    assert (first["changed"], second["changed"]) == (True, False)
    admin = admin_client(moto_endpoint)
    assert admin.list_user_policies(UserName=iam_user)["PolicyNames"] == ["fireline-deny-all"]
    document = policy_document(moto_endpoint, iam_user)
    assert document["Statement"] == [
        {"Sid": "FirelineDenyAll", "Effect": "Deny", "Action": "*", "Resource": "*"}
    ]


def test_deny_all_on_a_role_and_the_way_back(moto_endpoint: str) -> None:
    role = f"inference-{uuid.uuid4().hex[:8]}"
    admin = admin_client(moto_endpoint)
    admin.create_role(
        RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )
    ctx = action_context(moto_endpoint)

    fenced = run(actions.deny_all, ctx, principal=role, kind="role")
    removed = run(actions.remove_deny_all, ctx, principal=role, kind="role")
    removed_again = run(actions.remove_deny_all, ctx, principal=role, kind="role")

    assert (fenced["attached"], fenced["changed"]) == (True, True)
    assert (removed["attached"], removed["changed"]) == (False, True)
    assert removed_again["changed"] is False
    assert admin.list_role_policies(RoleName=role)["PolicyNames"] == []


def test_deny_all_replaces_a_weakened_policy_of_the_same_name(moto_endpoint: str, iam_user: str) -> None:
    weakened = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    admin_client(moto_endpoint).put_user_policy(
        UserName=iam_user, PolicyName="fireline-deny-all", PolicyDocument=json.dumps(weakened)
    )

    out = run(actions.deny_all, action_context(moto_endpoint), principal=iam_user)

    assert out["changed"] is True
    assert policy_document(moto_endpoint, iam_user)["Statement"][0]["Action"] == "*"


def test_deny_all_on_a_missing_principal_names_what_is_missing(moto_endpoint: str) -> None:
    ghost = f"ghost-{uuid.uuid4().hex[:6]}"
    with pytest.raises(ActionError) as user_err:
        run(actions.deny_all, action_context(moto_endpoint), principal=ghost, kind="user")
    with pytest.raises(ActionError) as role_err:
        run(actions.remove_deny_all, action_context(moto_endpoint), principal=ghost, kind="role")

    assert (user_err.value.type, user_err.value.retryable) == ("UserNotFound", False)
    assert (role_err.value.type, role_err.value.retryable) == ("RoleNotFound", False)


# --- configuration and transport ------------------------------------------------------------


def test_an_unreachable_endpoint_is_worth_retrying() -> None:
    ctx = action_context(f"http://127.0.0.1:{free_port()}")

    with pytest.raises(ActionError) as err:
        run(actions.list_access_keys, ctx, user="alice", include_last_used=False)

    assert (err.value.type, err.value.retryable) == ("Unavailable", True)


def test_half_a_key_pair_is_a_configuration_error(moto_endpoint: str) -> None:
    ctx = action_context(moto_endpoint, secrets={"AWS_ACCESS_KEY_ID": "AKIAONLYHALFOFIT"})

    with pytest.raises(ActionError) as err:
        run(actions.list_access_keys, ctx, user="alice")

    assert (err.value.type, err.value.retryable) == ("NotConfigured", False)
    assert "AKIAONLYHALFOFIT" not in str(err.value)
