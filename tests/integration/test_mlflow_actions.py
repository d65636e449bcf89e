"""The MLflow registry actions against a real ``mlflow server`` with a SQLite backend."""

from __future__ import annotations

from typing import Any

import pytest

from engine.sdk import ActionContext, ActionError
from engine.stack.processes import free_port
from integrations.mlflow import actions
from integrations.mlflow.client import RegistryClient
from integrations.mlflow.config import MlflowSettings
from integrations.mlflow.testing import action_context, load_model, seed_model
from tests.fixtures.mlflow import mlflow_uri, model_name  # noqa: F401

pytestmark = pytest.mark.integration


def run(func: Any, ctx: ActionContext, **args: Any) -> dict[str, Any]:
    """Validate ``args`` against the action's declared parameters and call it, as a step would."""
    definition = func.__fireline_action__
    result: dict[str, Any] = definition.func(ctx, definition.params_model.model_validate(args))
    return result


def fireline_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k.startswith("fireline.") and k != "fireline.verified"}


# --- quarantine -----------------------------------------------------------------------------


def test_quarantine_deletes_the_alias_and_tags_the_version(mlflow_uri: str, model_name: str) -> None:
    seed_model(mlflow_uri, model_name, versions=3)
    ctx = action_context(mlflow_uri, run_id="run-42", idempotency_key="run-42/quarantine/0")

    out = run(actions.quarantine_model, ctx, name=model_name, reason="exfiltration via prompt")

    assert out["version"] == 3
    assert out["changed"] is True
    assert out["outcome"] == "quarantined"
    assert out["alias_version"] is None
    model = load_model(mlflow_uri, model_name)
    assert "production" not in model.aliases
    tags = model.versions[3].tags
    assert tags["fireline.quarantined"] == "true"
    assert tags["fireline.quarantine.reason"] == "exfiltration via prompt"
    assert tags["fireline.quarantine.run"] == "run-42"
    assert tags["fireline.quarantine.previous_alias"] == "production"
    assert not model.versions[2].quarantined


def test_quarantining_a_quarantined_version_again_changes_nothing(mlflow_uri: str, model_name: str) -> None:
    seed_model(mlflow_uri, model_name, versions=2)
    run(actions.quarantine_model, action_context(mlflow_uri, idempotency_key="a"), name=model_name)
    before = load_model(mlflow_uri, model_name)

    again = run(
        actions.quarantine_model, action_context(mlflow_uri, idempotency_key="b"), name=model_name, version=2
    )
    by_alias = run(actions.quarantine_model, action_context(mlflow_uri, idempotency_key="c"), name=model_name)

    assert again["changed"] is False
    assert again["outcome"] == "already_quarantined"
    # The alias is gone, so the alias still leads to the version quarantined off it.
    assert by_alias["version"] == 2
    assert by_alias["changed"] is False
    assert load_model(mlflow_uri, model_name) == before


def test_fallback_points_the_alias_at_the_previous_version_and_a_retry_does_not_move_it_again(
    mlflow_uri: str, model_name: str
) -> None:
    seed_model(mlflow_uri, model_name, versions=3)
    ctx = action_context(mlflow_uri, idempotency_key="run-7/quarantine/0")

    first = run(actions.quarantine_model, ctx, name=model_name, fallback=True)
    # The engine retries the step (same idempotency key) after, say, a lost answer.
    second = run(actions.quarantine_model, ctx, name=model_name, fallback=True)

    assert first["version"] == 3
    assert first["alias_version"] == 2
    assert first["fallback_version"] == 2
    assert second["version"] == 3
    assert second["changed"] is False
    model = load_model(mlflow_uri, model_name)
    assert model.aliases["production"] == 2
    assert not model.versions[2].quarantined


def test_fallback_prefers_the_highest_verified_version(mlflow_uri: str, model_name: str) -> None:
    seed_model(mlflow_uri, model_name, versions=4, verified=[1])

    out = run(actions.quarantine_model, action_context(mlflow_uri), name=model_name, fallback=True)

    assert out["alias_version"] == 1
    assert load_model(mlflow_uri, model_name).aliases["production"] == 1


def test_a_retry_finishes_a_quarantine_that_died_half_way(mlflow_uri: str, model_name: str) -> None:
    seed_model(mlflow_uri, model_name, versions=3)
    key = "run-5/quarantine/0"
    # The first attempt wrote down its intent, then the worker died before moving the alias.
    with RegistryClient(MlflowSettings(url=mlflow_uri)) as client:
        for tag, value in {
            "fireline.quarantine.key": key,
            "fireline.quarantine.run": "run-5",
            "fireline.quarantine.reason": "first attempt",
            "fireline.quarantine.previous_alias": "production",
            "fireline.quarantine.fallback_version": "2",
        }.items():
            client.set_version_tag(model_name, 3, tag, value)

    out = run(
        actions.quarantine_model,
        action_context(mlflow_uri, idempotency_key=key, attempt=2),
        name=model_name,
        fallback=True,
        reason="second attempt",
    )

    assert out["outcome"] == "resumed"
    assert out["changed"] is True
    assert out["reason"] == "first attempt"
    model = load_model(mlflow_uri, model_name)
    assert model.aliases["production"] == 2
    assert model.versions[3].quarantined


def test_quarantine_of_a_version_without_the_alias_only_tags_it(mlflow_uri: str, model_name: str) -> None:
    seed_model(mlflow_uri, model_name, versions=3)

    out = run(
        actions.quarantine_model, action_context(mlflow_uri), name=model_name, version=1, alias="production"
    )

    assert out["changed"] is True
    assert out["previous_aliases"] == []
    model = load_model(mlflow_uri, model_name)
    assert model.aliases["production"] == 3
    assert model.versions[1].quarantined


# --- restore --------------------------------------------------------------------------------


def test_restore_undoes_a_quarantine_exactly(mlflow_uri: str, model_name: str) -> None:
    before = seed_model(mlflow_uri, model_name, versions=3, verified=[3])
    run(actions.quarantine_model, action_context(mlflow_uri), name=model_name, fallback=True)

    out = run(actions.restore_model, action_context(mlflow_uri), name=model_name, version=3)
    again = run(actions.restore_model, action_context(mlflow_uri), name=model_name, version=3)

    assert out["changed"] is True
    assert out["aliases"] == ["production"]
    assert again["changed"] is False
    assert again["outcome"] == "not_quarantined"
    after = load_model(mlflow_uri, model_name)
    assert after.aliases == before.aliases
    assert {v: i.tags for v, i in after.versions.items()} == {v: i.tags for v, i in before.versions.items()}


def test_restore_refuses_when_someone_moved_the_alias_unless_forced(mlflow_uri: str, model_name: str) -> None:
    seed_model(mlflow_uri, model_name, versions=3)
    run(actions.quarantine_model, action_context(mlflow_uri), name=model_name)
    # A human promotes version 2 by hand after the quarantine.
    with RegistryClient(MlflowSettings(url=mlflow_uri)) as client:
        client.set_alias(model_name, "production", 2)

    with pytest.raises(ActionError) as refused:
        run(actions.restore_model, action_context(mlflow_uri), name=model_name, version=3)
    untouched = load_model(mlflow_uri, model_name)
    forced = run(actions.restore_model, action_context(mlflow_uri), name=model_name, version=3, force=True)

    assert refused.value.type == "AliasMoved"
    assert refused.value.retryable is False
    assert untouched.aliases["production"] == 2
    assert untouched.versions[3].quarantined
    assert forced["changed"] is True
    model = load_model(mlflow_uri, model_name)
    assert model.aliases["production"] == 3
    assert not model.versions[3].quarantined


def test_quarantine_rollback_restore_round_trip(mlflow_uri: str, model_name: str) -> None:
    seed_model(mlflow_uri, model_name, versions=3, verified=[1])
    run(actions.quarantine_model, action_context(mlflow_uri, idempotency_key="q"), name=model_name)
    rolled = run(actions.rollback_model, action_context(mlflow_uri, idempotency_key="r"), name=model_name)
    assert (rolled["from_version"], rolled["to_version"], rolled["basis"]) == (None, 1, "verified")

    out = run(actions.restore_model, action_context(mlflow_uri), name=model_name, version=3)

    assert out["changed"] is True
    model = load_model(mlflow_uri, model_name)
    assert model.aliases["production"] == 3
    assert fireline_tags(model.versions[3].tags) == {}


# --- rollback -------------------------------------------------------------------------------


def test_rollback_goes_to_the_previous_version_once_per_step(mlflow_uri: str, model_name: str) -> None:
    seed_model(mlflow_uri, model_name, versions=3)
    ctx = action_context(mlflow_uri, run_id="run-9", idempotency_key="run-9/rollback/0")

    first = run(actions.rollback_model, ctx, name=model_name)
    retry = run(actions.rollback_model, ctx, name=model_name)

    assert (first["from_version"], first["to_version"], first["basis"]) == (3, 2, "previous")
    assert first["changed"] is True
    assert retry["to_version"] == 2
    assert retry["changed"] is False
    assert load_model(mlflow_uri, model_name).aliases["production"] == 2


def test_rollback_skips_quarantined_versions_and_stays_on_the_verified_one(
    mlflow_uri: str, model_name: str
) -> None:
    seed_model(mlflow_uri, model_name, versions=4, verified=[2], alias_version=4)
    run(actions.quarantine_model, action_context(mlflow_uri, idempotency_key="q"), name=model_name, version=2)

    out = run(actions.rollback_model, action_context(mlflow_uri, idempotency_key="r1"), name=model_name)
    again = run(actions.rollback_model, action_context(mlflow_uri, idempotency_key="r2"), name=model_name)

    # Version 2 is verified but quarantined, so each rollback goes one usable version back.
    assert (out["from_version"], out["to_version"], out["basis"]) == (4, 3, "previous")
    assert (again["from_version"], again["to_version"]) == (3, 1)


def test_rollback_to_the_verified_version_is_a_no_op_when_already_there(
    mlflow_uri: str, model_name: str
) -> None:
    seed_model(mlflow_uri, model_name, versions=3, verified=[2], alias_version=2)

    out = run(actions.rollback_model, action_context(mlflow_uri), name=model_name)

    assert out["changed"] is False
    assert out["to_version"] == 2


def test_rollback_without_a_good_version_fails_for_good(mlflow_uri: str, model_name: str) -> None:
    seed_model(mlflow_uri, model_name, versions=1)

    with pytest.raises(ActionError) as err:
        run(actions.rollback_model, action_context(mlflow_uri), name=model_name)

    assert err.value.type == "NoGoodVersion"
    assert err.value.retryable is False


# --- errors ---------------------------------------------------------------------------------


def test_unknown_model_and_version_fail_without_retry(mlflow_uri: str, model_name: str) -> None:
    with pytest.raises(ActionError) as missing_model:
        run(actions.quarantine_model, action_context(mlflow_uri), name=model_name)
    seed_model(mlflow_uri, model_name, versions=1)
    with pytest.raises(ActionError) as missing_version:
        run(actions.quarantine_model, action_context(mlflow_uri), name=model_name, version=7)
    with pytest.raises(ActionError) as missing_alias:
        run(actions.quarantine_model, action_context(mlflow_uri), name=model_name, alias="champion")

    assert (missing_model.value.type, missing_model.value.retryable) == ("ModelNotFound", False)
    assert "RESOURCE_DOES_NOT_EXIST" in str(missing_model.value)
    assert (missing_version.value.type, missing_version.value.retryable) == ("VersionNotFound", False)
    assert (missing_alias.value.type, missing_alias.value.retryable) == ("AliasNotFound", False)


def test_an_unreachable_server_is_worth_retrying() -> None:
    ctx = action_context(f"http://127.0.0.1:{free_port()}", settings={"MLFLOW_HTTP_REQUEST_TIMEOUT": "2"})

    with pytest.raises(ActionError) as err:
        run(actions.quarantine_model, ctx, name="anything")

    assert err.value.type == "Unavailable"
    assert err.value.retryable is True


def test_missing_or_wrong_configuration_is_reported_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ActionError) as unset:
        run(actions.rollback_model, action_context(), name="m")
    with pytest.raises(ActionError) as half_pair:
        ctx = action_context("http://127.0.0.1:1", secrets={"MLFLOW_TRACKING_USERNAME": "u"})
        run(actions.rollback_model, ctx, name="m")
    with pytest.raises(ActionError) as not_http:
        run(actions.rollback_model, action_context("databricks"), name="m")

    assert {unset.value.type, half_pair.value.type, not_http.value.type} == {"NotConfigured"}
    assert "MLFLOW_TRACKING_URI" in str(unset.value)


def test_model_names_from_alerts_cannot_widen_the_search(mlflow_uri: str, model_name: str) -> None:
    seed_model(mlflow_uri, model_name, versions=2)
    hostile = f"{model_name}' OR name LIKE '%"

    with pytest.raises(ActionError) as err:
        run(actions.quarantine_model, action_context(mlflow_uri), name=hostile)

    assert err.value.type == "ModelNotFound"
    assert load_model(mlflow_uri, model_name).aliases["production"] == 2
