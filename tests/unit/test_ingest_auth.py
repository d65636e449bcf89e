"""Receiver authentication: signatures with a replay window, bearer tokens per source."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from engine.alerts.model import AlertSource
from engine.errors import ConfigError
from engine.ingest.auth import SIGNATURE_HEADER, Authenticator, AuthMethod, sign, signature
from engine.ingest.config import ReceiverConfig, ensure_webhook_secret
from engine.ingest.errors import AuthFailed

NOW = 1_800_000_000
BODY = b'{"title": "x"}'


def auth(**config: object) -> Authenticator:
    base = ReceiverConfig(webhook_secret=SecretStr("s3cret"), tokens={AlertSource.ELASTIC: SecretStr("tok")})
    return Authenticator(base.model_copy(update=config), clock=lambda: float(NOW))


def headers(value: str) -> dict[str, str]:
    return {SIGNATURE_HEADER.lower(): value}


def reason(excinfo: pytest.ExceptionInfo[AuthFailed]) -> str:
    return excinfo.value.reason


def test_a_fresh_signature_is_accepted_once() -> None:
    a = auth()
    value = sign("s3cret", BODY, NOW)
    method, claim = a.check(AlertSource.GENERIC, headers(value), BODY)
    assert method is AuthMethod.SIGNATURE and claim
    with pytest.raises(AuthFailed) as exc:
        a.check(AlertSource.GENERIC, headers(value), BODY)
    assert "replay" in reason(exc)


def test_a_released_signature_may_be_retried() -> None:
    a = auth()
    value = sign("s3cret", BODY, NOW)
    _, claim = a.check(AlertSource.GENERIC, headers(value), BODY)
    a.release(claim)  # e.g. the first attempt got 503
    assert a.check(AlertSource.GENERIC, headers(value), BODY)[0] is AuthMethod.SIGNATURE


@pytest.mark.parametrize("skew", [-301, 301])
def test_signatures_outside_five_minutes_are_refused(skew: int) -> None:
    with pytest.raises(AuthFailed) as exc:
        auth().check(AlertSource.GENERIC, headers(sign("s3cret", BODY, NOW + skew)), BODY)
    assert "window" in reason(exc)


def test_a_changed_body_or_wrong_secret_fails() -> None:
    with pytest.raises(AuthFailed, match="does not match"):
        auth().check(AlertSource.GENERIC, headers(sign("s3cret", BODY, NOW)), BODY + b" ")
    with pytest.raises(AuthFailed, match="does not match"):
        auth().check(AlertSource.GENERIC, headers(sign("other", BODY, NOW)), BODY)


def test_rotation_several_v1_values_any_may_match() -> None:
    good = signature("s3cret", BODY, NOW)
    value = f"t={NOW},v1={'0' * 64},v1={good}"
    assert auth().check(AlertSource.GENERIC, headers(value), BODY)[0] is AuthMethod.SIGNATURE


@pytest.mark.parametrize(
    "value",
    ["", "garbage", f"t={NOW}", "v1=abc", "t=soon,v1=abc", "t=١٢٣,v1=ab", "t=1,v1=a," + "x" * 5000],
)
def test_malformed_signature_headers_are_401_not_crashes(value: str) -> None:
    with pytest.raises(AuthFailed):
        auth().check(AlertSource.GENERIC, headers(value), BODY)


def test_bearer_tokens_are_per_source() -> None:
    a = auth()
    assert a.check(AlertSource.ELASTIC, {"authorization": "Bearer tok"}, BODY) == (AuthMethod.BEARER, None)
    with pytest.raises(AuthFailed, match="not accepted for source generic"):
        a.check(AlertSource.GENERIC, {"authorization": "Bearer tok"}, BODY)
    with pytest.raises(AuthFailed, match="not valid"):
        a.check(AlertSource.ELASTIC, {"authorization": "Bearer nope"}, BODY)
    with pytest.raises(AuthFailed, match="Bearer <token>"):
        a.check(AlertSource.ELASTIC, {"authorization": "Basic dG9rOg=="}, BODY)
    with pytest.raises(AuthFailed, match="missing"):
        a.check(AlertSource.ELASTIC, {}, BODY)


def test_no_credentials_configured_refuses_everything() -> None:
    a = Authenticator(ReceiverConfig())
    with pytest.raises(AuthFailed, match="no credentials"):
        a.check(AlertSource.GENERIC, headers(sign("", BODY)), BODY)


def test_config_from_environment_and_local_secret_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        "FIRELINE_WEBHOOK_TOKEN": "all",
        "FIRELINE_WEBHOOK_TOKEN_GENERIC": "",
        "FIRELINE_WEBHOOK_TOKEN_ALERTMANAGER": "am",
        "FIRELINE_RECEIVER_RATE": "5",
    }
    config = ReceiverConfig.from_env(tmp_path, env)
    assert config.webhook_secret is None
    assert {s: t.get_secret_value() for s, t in config.tokens.items()} == {
        AlertSource.ELASTIC: "all",
        AlertSource.ALERTMANAGER: "am",
    }
    assert config.rate_per_s == 5
    secret = ensure_webhook_secret(tmp_path)
    assert (tmp_path / "webhook-secret").stat().st_mode & 0o777 == 0o600
    assert ensure_webhook_secret(tmp_path) == secret
    loaded = ReceiverConfig.from_env(tmp_path, {})
    assert loaded.webhook_secret is not None and loaded.webhook_secret.get_secret_value() == secret
    assert secret not in repr(loaded)


def test_the_spool_is_on_under_fireline_up_unless_turned_off(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert ReceiverConfig.from_env(tmp_path, {}).spool is True
    assert ReceiverConfig.from_env(tmp_path, {"FIRELINE_RECEIVER_SPOOL": "0"}).spool is False
    with pytest.raises(ConfigError, match="FIRELINE_RECEIVER_SPOOL"):
        ReceiverConfig.from_env(tmp_path, {"FIRELINE_RECEIVER_SPOOL": "maybe"})


def test_the_hand_over_runs_ten_nice_steps_below_the_receiver_unless_configured(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert ReceiverConfig.from_env(tmp_path, {}).handover_nice == 10
    assert ReceiverConfig.from_env(tmp_path, {"FIRELINE_RECEIVER_HANDOVER_NICE": " 0 "}).handover_nice == 0
    for bad in ("20", "-1", "high", ""):
        with pytest.raises(ConfigError, match="FIRELINE_RECEIVER_HANDOVER_NICE must be a whole number 0-19"):
            ReceiverConfig.from_env(tmp_path, {"FIRELINE_RECEIVER_HANDOVER_NICE": bad})
