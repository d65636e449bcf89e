"""Helpers for tests of playbooks and actions that use AWS IAM (against a moto server)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.sdk import ActionContext
from integrations.aws.config import (
    ACCESS_KEY_ID,
    ENDPOINT_URL,
    REGION,
    SECRET_ACCESS_KEY,
    AwsSettings,
    iam_client,
)

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

#: moto accepts any credentials; these keep boto3 away from the machine's own.
FAKE_SECRETS: dict[str, str] = {ACCESS_KEY_ID: "testing", SECRET_ACCESS_KEY: "testing"}


def action_context(
    endpoint_url: str | None = None,
    *,
    secrets: Mapping[str, str] | None = None,
    idempotency_key: str = "run-test/step/0",
    run_id: str = "run-test",
    settings: Mapping[str, Any] | None = None,
) -> ActionContext:
    """An :class:`ActionContext` for calling an AWS action directly against ``endpoint_url``."""
    merged: dict[str, Any] = {REGION: "us-east-1", **(settings or {})}
    if endpoint_url is not None:
        merged[ENDPOINT_URL] = endpoint_url
    return ActionContext(
        run_id=run_id,
        workflow_id=f"wf-{run_id}",
        playbook="test",
        step_path="step",
        attempt=1,
        idempotency_key=idempotency_key,
        secrets=dict(FAKE_SECRETS if secrets is None else secrets),
        settings=merged,
    )


def admin_client(endpoint_url: str) -> IAMClient:
    """A plain IAM client for setting up and inspecting test data (not the code under test)."""
    return iam_client(
        AwsSettings(
            endpoint_url=endpoint_url,
            access_key_id=FAKE_SECRETS[ACCESS_KEY_ID],
            secret_access_key=FAKE_SECRETS[SECRET_ACCESS_KEY],
        )
    )
