"""The gateway.* actions against a fake LiteLLM proxy that follows the documented wire format."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from engine.sdk import ActionContext, ActionError
from engine.stack.processes import free_port
from integrations.elasticsearch.testing import action_context
from integrations.gateway import actions
from integrations.gateway.models import key_id
from integrations.gateway.testing import FakeLiteLLM, hash_token
from integrations.http.testing import invoke
from tests.fixtures.gateway import MASTER_KEY, gateway_context, litellm  # noqa: F401

pytestmark = pytest.mark.integration


def _fails(func: Any, ctx: ActionContext, **args: Any) -> ActionError:
    with pytest.raises(ActionError) as caught:
        invoke(func, ctx, **args)
    return caught.value


# --- block / unblock ----------------------------------------------------------------------------------


def test_block_key_blocks_once_and_reports_the_key_without_its_secret(litellm: FakeLiteLLM) -> None:
    key = litellm.add_key(key_alias="support-bot", rpm_limit=600)
    ctx = gateway_context(litellm)
    out = invoke(actions.block_key, ctx, key=key)
    assert out == {
        "key_id": hash_token(key),
        "key_name": f"sk-...{key[-4:]}",
        "key_alias": "support-bot",
        "blocked": True,
        "changed": True,
    }
    assert litellm.record(key)["blocked"] is True  # type: ignore[index]
    block = litellm.calls("POST", "/key/block")[0]
    assert block.json == {"key": key}
    assert block.header("authorization") == f"Bearer {MASTER_KEY}"
    assert block.header("litellm-changed-by") == "fireline:run-gw"
    assert key not in repr(out)

    again = invoke(actions.block_key, ctx, key=key)
    assert again["changed"] is False
    assert len(litellm.calls("POST", "/key/block")) == 1


def test_block_key_accepts_the_hashed_token(litellm: FakeLiteLLM) -> None:
    key = litellm.add_key()
    out = invoke(actions.block_key, gateway_context(litellm), key=hash_token(key))
    assert out["changed"] is True
    assert litellm.record(key)["blocked"] is True  # type: ignore[index]


def test_unblock_key_undoes_a_block_and_is_idempotent(litellm: FakeLiteLLM) -> None:
    key = litellm.add_key(blocked=True)
    ctx = gateway_context(litellm)
    assert invoke(actions.unblock_key, ctx, key=key)["changed"] is True
    assert litellm.record(key)["blocked"] is False  # type: ignore[index]
    assert invoke(actions.unblock_key, ctx, key=key)["changed"] is False
    assert len(litellm.calls("POST", "/key/unblock")) == 1


def test_an_unknown_key_fails_without_retry(litellm: FakeLiteLLM) -> None:
    error = _fails(actions.block_key, gateway_context(litellm), key="sk-never-issued")
    assert (error.type, error.retryable) == ("KeyNotFound", False)
    assert "sk-never-issued" not in str(error)
    assert litellm.changes() == []


# --- limit --------------------------------------------------------------------------------------------


def test_limit_key_sets_only_what_differs_and_remembers_the_previous_limits(litellm: FakeLiteLLM) -> None:
    key = litellm.add_key(rpm_limit=600, tpm_limit=100_000)
    ctx = gateway_context(litellm)
    out = invoke(actions.limit_key, ctx, key=key, rpm_limit=10, tpm_limit=100_000)
    assert out["changed"] is True
    assert out["previous"] == {"rpm_limit": 600, "tpm_limit": 100_000, "max_parallel_requests": None}
    assert out["limits"] == {"rpm_limit": 10, "tpm_limit": 100_000, "max_parallel_requests": None}
    assert litellm.calls("POST", "/key/update")[0].json == {"key": key, "rpm_limit": 10}
    assert litellm.record(key)["rpm_limit"] == 10  # type: ignore[index]

    again = invoke(actions.limit_key, ctx, key=key, rpm_limit=10)
    assert again["changed"] is False
    assert len(litellm.calls("POST", "/key/update")) == 1


def test_limit_key_needs_a_limit() -> None:
    with pytest.raises(ValidationError, match="rpm_limit"):
        invoke(actions.limit_key, action_context(), key="sk-abc123")


# --- rotate -------------------------------------------------------------------------------------------


def test_rotate_key_regenerates_and_a_retry_finds_the_rotation_done(litellm: FakeLiteLLM) -> None:
    key = litellm.add_key(key_alias="scraper", rpm_limit=50, models=["gpt-4o"])
    ctx = gateway_context(litellm, idempotency_key="run-7/rotate/0")
    out = invoke(actions.rotate_key, ctx, key=key)
    assert out["changed"] is True
    assert out["previous_key_id"] == hash_token(key)
    assert litellm.record(key) is None
    rotated = litellm.keys[out["key_id"]]
    assert rotated["key_alias"] == "scraper"
    assert rotated["rpm_limit"] == 50
    assert rotated["key_name"] == out["key_name"]
    assert "/regenerate" in litellm.calls("POST")[0].path
    assert key_id(key) in litellm.calls("POST")[0].path  # the token travels in the path, not the key

    # The same step retried (e.g. the answer was lost): nothing is rotated twice.
    retry = invoke(actions.rotate_key, ctx, key=key)
    assert retry == {**out, "changed": False}
    assert len(litellm.changes()) == 1


def test_rotate_key_never_returns_the_new_secret(litellm: FakeLiteLLM) -> None:
    key = litellm.add_key()
    out = invoke(actions.rotate_key, gateway_context(litellm), key=key)
    answer = litellm.calls("POST")[0]
    new_secret = answer.json["new_key"]
    assert new_secret.startswith("sk-")
    assert new_secret not in repr(out)
    assert out["key_id"] == hash_token(new_secret)


def test_rotate_key_without_an_enterprise_licence_says_to_replace(litellm: FakeLiteLLM) -> None:
    litellm.premium = False
    key = litellm.add_key()
    error = _fails(actions.rotate_key, gateway_context(litellm), key=key)
    assert (error.type, error.retryable) == ("NotSupported", False)
    assert "replace" in str(error)


def test_rotate_key_by_replacement_copies_settings_and_deletes_the_old_key(litellm: FakeLiteLLM) -> None:
    litellm.premium = False
    key = litellm.add_key(
        key_alias="partner-x",
        rpm_limit=30,
        tpm_limit=5000,
        models=["m1"],
        team_id="team-a",
        metadata={"o": 1},
    )
    ctx = gateway_context(litellm, idempotency_key="run-8/rotate/0", run_id="run-8")
    out = invoke(actions.rotate_key, ctx, key=key, strategy="replace")
    assert out["changed"] is True
    assert litellm.record(key) is None
    copy = litellm.keys[out["key_id"]]
    assert copy["key_alias"] == "partner-x"
    assert (copy["rpm_limit"], copy["tpm_limit"], copy["models"], copy["team_id"]) == (
        30,
        5000,
        ["m1"],
        "team-a",
    )
    assert copy["metadata"]["o"] == 1
    assert copy["metadata"]["rotated_from"] == hash_token(key)
    assert [c.path for c in litellm.changes()] == ["/key/generate", "/key/delete", "/key/update"]

    assert invoke(actions.rotate_key, ctx, key=key, strategy="replace")["changed"] is False
    assert len(litellm.changes()) == 3


def test_replacement_interrupted_after_the_copy_is_finished_by_the_retry(litellm: FakeLiteLLM) -> None:
    litellm.premium = False
    key = litellm.add_key(key_alias="batch-job")
    ctx = gateway_context(litellm, idempotency_key="run-9/rotate/0")
    litellm.fail(503, path="/key/delete")  # the copy exists, the old key is not deleted yet
    error = _fails(actions.rotate_key, ctx, key=key, strategy="replace")
    assert (error.type, error.retryable) == ("Unavailable", True)
    assert litellm.record(key) is not None  # the old key still exists, next to its copy

    out = invoke(actions.rotate_key, ctx, key=key, strategy="replace")
    assert out["changed"] is True
    assert litellm.record(key) is None
    assert litellm.keys[out["key_id"]]["key_alias"] == "batch-job"
    assert [c.path for c in litellm.changes()].count("/key/generate") == 1


# --- failures -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"), [(429, "RateLimited"), (500, "Unavailable"), (503, "Unavailable")]
)
def test_proxy_trouble_is_retryable(litellm: FakeLiteLLM, status: int, kind: str) -> None:
    key = litellm.add_key()
    litellm.fail(status, retry_after=1 if status == 429 else None)
    error = _fails(actions.block_key, gateway_context(litellm), key=key)
    assert (error.type, error.retryable) == (kind, True)
    assert invoke(actions.block_key, gateway_context(litellm), key=key)["changed"] is True


def test_a_wrong_master_key_is_not_retried_and_not_shown(litellm: FakeLiteLLM) -> None:
    key = litellm.add_key()
    error = _fails(actions.block_key, gateway_context(litellm, master_key="sk-wrong-master"), key=key)
    assert (error.type, error.retryable) == ("Unauthorized", False)
    assert "sk-wrong-master" not in str(error)
    assert "Authentication Error" in str(error)


def test_an_unreachable_proxy_is_retryable() -> None:
    ctx = action_context(
        settings={"LITELLM_URL": f"http://127.0.0.1:{free_port()}"}, secrets={"LITELLM_MASTER_KEY": "sk-m"}
    )
    error = _fails(actions.block_key, ctx, key="sk-abc123")
    assert (error.type, error.retryable) == ("Unavailable", True)


def test_missing_configuration_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LITELLM_URL", raising=False)
    error = _fails(actions.block_key, action_context(secrets={"LITELLM_MASTER_KEY": "sk-m"}), key="sk-abc123")
    assert (error.type, error.retryable) == ("NotConfigured", False)
    assert "LITELLM_URL" in str(error)
