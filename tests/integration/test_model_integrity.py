"""``model.hash`` and ``model.verify_signature`` on models signed here with ``model-signing`` (offline)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from engine.sdk import ActionContext, ActionError
from integrations.model import actions
from integrations.model.testing import (
    KeyPair,
    sign_with_certificate,
    sign_with_key,
    write_certificates,
    write_key_pair,
)


def context(**settings: Any) -> ActionContext:
    return ActionContext(
        run_id="run-test",
        workflow_id="wf-run-test",
        playbook="test",
        step_path="verify",
        attempt=1,
        idempotency_key="run-test/verify/0",
        settings=settings,
    )


def run(func: Any, ctx: ActionContext | None = None, **args: Any) -> dict[str, Any]:
    """Validate ``args`` against the action's declared parameters and call it, as a step would."""
    definition = func.__fireline_action__
    result: dict[str, Any] = definition.func(ctx or context(), definition.params_model.model_validate(args))
    return result


@pytest.fixture
def model(tmp_path: Path) -> Path:
    folder = tmp_path / "models" / "fraud-scorer"
    (folder / "tokenizer").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (folder / "config.json").write_text('{"layers": 4}')
    (folder / "tokenizer" / "vocab.txt").write_text("a\nb\nc\n")
    return folder


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    return write_key_pair(tmp_path / "keys")


@pytest.fixture
def signed(model: Path, keys: KeyPair) -> Path:
    sign_with_key(model, model / "model.sig", keys.private_key)
    return model


# --- hash -----------------------------------------------------------------------------------


def test_hash_lists_every_file_and_gives_the_digest_the_signature_signs(signed: Path, keys: KeyPair) -> None:
    hashed = run(actions.hash_model, path=str(signed))
    verified = run(actions.verify_signature, path=str(signed), public_key=str(keys.public_key))

    assert hashed["files"] == 3
    assert sorted(r["name"] for r in hashed["resources"]) == [
        "config.json",
        "tokenizer/vocab.txt",
        "weights.bin",
    ]
    assert hashed["model_name"] == "fraud-scorer"
    assert hashed["digest"] == verified["digest"]


def test_hash_changes_with_the_content_and_compares_with_a_known_digest(model: Path) -> None:
    before = run(actions.hash_model, path=str(model))["digest"]
    same = run(actions.hash_model, path=str(model), expected_digest=before)
    (model / "config.json").write_text('{"layers": 5}')
    after = run(actions.hash_model, path=str(model), expected_digest=before)

    assert same["matches"] is True
    assert after["matches"] is False
    assert after["digest"] != before


def test_hash_of_a_missing_model_fails_for_good(tmp_path: Path) -> None:
    with pytest.raises(ActionError) as err:
        run(actions.hash_model, path=str(tmp_path / "nope"))

    assert (err.value.type, err.value.retryable) == ("ModelNotFound", False)


# --- verify ---------------------------------------------------------------------------------


def test_a_signed_model_verifies_with_its_public_key(signed: Path, keys: KeyPair) -> None:
    out = run(actions.verify_signature, path=str(signed), public_key=str(keys.public_key))

    assert out["verified"] is True
    assert out["failure"] is None
    assert out["mode"] == "key"
    assert out["files"] == 3
    assert out["signature"] == str(signed / "model.sig")


def test_a_tampered_file_fails_verification_and_is_named(signed: Path, keys: KeyPair) -> None:
    (signed / "weights.bin").write_bytes(b"backdoored weights")
    (signed / "extra.py").write_text("import os")
    (signed / "tokenizer" / "vocab.txt").unlink()

    out = run(actions.verify_signature, path=str(signed), public_key=str(keys.public_key))

    assert out["verified"] is False
    assert out["failure"] == "model_modified"
    assert out["modified"] == ["weights.bin"]
    assert out["added"] == ["extra.py"]
    assert out["missing"] == ["tokenizer/vocab.txt"]


def test_require_valid_turns_a_failed_check_into_a_non_retryable_error(signed: Path, keys: KeyPair) -> None:
    (signed / "weights.bin").write_bytes(b"backdoored weights")

    with pytest.raises(ActionError) as err:
        run(actions.verify_signature, path=str(signed), public_key=str(keys.public_key), require_valid=True)

    assert (err.value.type, err.value.retryable) == ("SignatureInvalid", False)
    assert "model_modified" in str(err.value)


def test_the_wrong_key_does_not_verify(signed: Path, tmp_path: Path) -> None:
    other = write_key_pair(tmp_path / "other-keys")

    out = run(actions.verify_signature, path=str(signed), public_key=str(other.public_key))

    assert out["verified"] is False
    assert out["failure"] == "signature_invalid"


def test_a_signature_rewritten_to_match_a_tampered_model_does_not_verify(signed: Path, keys: KeyPair) -> None:
    (signed / "config.json").write_text('{"layers": 4, "exfiltrate": true}')
    forged_digests = {r["name"]: r["digest"] for r in run(actions.hash_model, path=str(signed))["resources"]}
    bundle = json.loads((signed / "model.sig").read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    for resource in statement["predicate"]["resources"]:
        resource["digest"] = forged_digests[resource["name"]]
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (signed / "model.sig").write_text(json.dumps(bundle))

    out = run(actions.verify_signature, path=str(signed), public_key=str(keys.public_key))

    assert out["verified"] is False
    assert out["failure"] == "signature_invalid"
    assert out["modified"] == []


def test_a_missing_or_garbled_signature_is_a_failed_check(model: Path, keys: KeyPair) -> None:
    missing = run(actions.verify_signature, path=str(model), public_key=str(keys.public_key))
    (model / "model.sig").write_text("{not json")
    garbled = run(actions.verify_signature, path=str(model), public_key=str(keys.public_key))

    assert (missing["verified"], missing["failure"]) == (False, "signature_missing")
    assert (garbled["verified"], garbled["failure"]) == (False, "signature_unreadable")


def test_a_signature_kept_beside_a_single_file_model(tmp_path: Path, keys: KeyPair) -> None:
    weights = tmp_path / "scorer.onnx"
    weights.write_bytes(b"\x08\x07onnx-model")
    sign_with_key(weights, tmp_path / "scorer.onnx.sig", keys.private_key)

    ok = run(actions.verify_signature, path=str(weights), public_key=str(keys.public_key))
    weights.write_bytes(b"\x08\x07onnx-model-evil")
    bad = run(actions.verify_signature, path=str(weights), public_key=str(keys.public_key))

    assert ok["verified"] is True
    assert (bad["verified"], bad["failure"]) == (False, "model_modified")


def test_certificate_mode_trusts_only_the_given_ca(model: Path, tmp_path: Path) -> None:
    certificates = write_certificates(tmp_path / "pki")
    stranger = write_certificates(tmp_path / "other-pki", name="stranger")
    signature = tmp_path / "fraud-scorer.sig"
    sign_with_certificate(model, signature, certificates)

    ok = run(
        actions.verify_signature,
        path=str(model),
        signature=str(signature),
        certificate_chain=[str(certificates.ca_certificate)],
    )
    untrusted = run(
        actions.verify_signature,
        path=str(model),
        signature=str(signature),
        certificate_chain=[str(stranger.ca_certificate)],
    )

    assert (ok["verified"], ok["mode"]) == (True, "certificate")
    assert (untrusted["verified"], untrusted["failure"]) == (False, "signature_invalid")


# --- configuration --------------------------------------------------------------------------


def test_the_key_can_come_from_settings_and_is_required_somewhere(signed: Path, keys: KeyPair) -> None:
    ok = run(
        actions.verify_signature, context(MODEL_SIGNING_PUBLIC_KEY=str(keys.public_key)), path=str(signed)
    )
    with pytest.raises(ActionError) as err:
        run(actions.verify_signature, path=str(signed))

    assert ok["verified"] is True
    assert (err.value.type, err.value.retryable) == ("NotConfigured", False)


def test_an_unreadable_key_is_a_configuration_error(signed: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pub"
    bogus.write_text("not a key")

    with pytest.raises(ActionError) as err:
        run(actions.verify_signature, path=str(signed), public_key=str(bogus))

    assert (err.value.type, err.value.retryable) == ("InvalidKey", False)


def test_model_path_roots_keep_alert_supplied_paths_inside(signed: Path, tmp_path: Path) -> None:
    ctx = context(MODEL_PATH_ROOTS=str(tmp_path / "models"))

    inside = run(actions.hash_model, ctx, path=str(signed))
    with pytest.raises(ActionError) as err:
        run(actions.hash_model, ctx, path=str(signed / ".." / ".." / "keys"))

    assert inside["files"] == 3
    assert (err.value.type, err.value.retryable) == ("PathNotAllowed", False)


def test_one_mode_at_a_time() -> None:
    definition = actions.verify_signature.__fireline_action__  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not both"):
        definition.params_model.model_validate(
            {"path": "m", "public_key": "k.pub", "certificate_chain": ["ca.pem"]}
        )
