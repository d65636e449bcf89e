"""The ``run_action`` activity: one attempt of one registered action."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from engine.activities.audit import AuditStore
from engine.activities.audit_writer import AuditWriter
from engine.activities.secrets import resolve_secrets
from engine.errors import ActionError, ActionNotFound, SecretMissing
from engine.observability import register_secrets
from engine.registry import REGISTRY, ActionDefinition, ActionRegistry
from engine.sdk.context import ActionContext
from engine.workflows.types import ACTIVITY_NAME, ActionRequest, ActionResult

log = logging.getLogger("fireline.activity")
DEFAULT_OUTPUT_CAP = 256 * 1024


def encode_output(output: Any) -> tuple[Any, str]:
    """The output as JSON-ready data and its compact JSON text."""
    data = to_jsonable_python(output, fallback=str)
    return data, json.dumps(data, separators=(",", ":"), default=str)


def cap_output(
    output: Any, cap_bytes: int, keep: Callable[[Any], dict[str, str] | None] | None = None
) -> ActionResult:
    """Keep results small in history: beyond ``cap_bytes`` return a marked preview.

    ``keep`` stores the full result elsewhere (Elasticsearch) and returns its reference.
    """
    data, encoded = encode_output(output)
    return capped(data, encoded, cap_bytes, keep)


def capped(
    data: Any, encoded: str, cap_bytes: int, keep: Callable[[Any], dict[str, str] | None] | None = None
) -> ActionResult:
    """:func:`cap_output` for an output already encoded by :func:`encode_output`."""
    size = len(encoded)  # json.dumps escapes every non-ASCII character: its length is its size in bytes
    if size <= cap_bytes:
        return ActionResult(output=data, size_bytes=size)
    preview: Any = {"preview": encoded[: min(cap_bytes // 4, 4096)]}
    if isinstance(data, dict):
        preview = {k: v for k, v in data.items() if len(json.dumps(v, default=str)) <= 1024}
        preview.update({"preview_keys": sorted(data)})
    preview.update({"truncated": True, "total_bytes": size})
    if isinstance(data, dict) and isinstance(data.get("total"), int):
        preview["total"] = data["total"]
    if keep is not None:
        preview["full_result"] = keep(data)
    return ActionResult(output=preview, truncated=True, size_bytes=size)


def refusal(message: str, error_type: str, *, retryable: bool = False) -> ApplicationError:
    """An expected failure (an outside system or the configuration said no), logged quietly.

    Only unexpected exceptions are worker faults worth a stack trace in the logs.
    """
    return ApplicationError(
        message, type=error_type, non_retryable=not retryable, category=ApplicationErrorCategory.BENIGN
    )


class ActionRunner:
    """Holds what every attempt needs: the registry, configuration and the output cap."""

    def __init__(
        self,
        registry: ActionRegistry = REGISTRY,
        *,
        settings: dict[str, Any] | None = None,
        secrets_dir: Path | None = None,
        output_cap_bytes: int = DEFAULT_OUTPUT_CAP,
        audit: AuditStore | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings or {}
        self.secrets_dir = secrets_dir
        self.output_cap_bytes = output_cap_bytes
        self.audit = audit or AuditStore(None)
        self.audit_writer = AuditWriter(self.audit)

    @activity.defn(name=ACTIVITY_NAME)
    async def run_action(self, request: ActionRequest) -> ActionResult:
        """Validate arguments, resolve secrets, call the action, cap its output."""
        info = activity.info()
        try:
            definition = self.registry.get(request.action)
            params = definition.params_model.model_validate(request.args)
            secrets = resolve_secrets(
                definition.secrets, definition.optional_secrets, secrets_dir=self.secrets_dir
            )
            register_secrets(secrets.values())  # so no log line can carry them
        except ActionNotFound as exc:
            raise refusal(str(exc), "ActionNotFound") from None
        except ValidationError as exc:
            raise refusal(_argument_errors(request.action, exc), "InvalidArguments") from None
        except SecretMissing as exc:
            raise refusal(str(exc), "SecretMissing") from None
        ctx = ActionContext(
            run_id=request.run_id,
            workflow_id=info.workflow_id or request.run_id,
            playbook=request.playbook,
            step_path=request.path,
            attempt=request.attempt,
            idempotency_key=request.idempotency_key,
            secrets=secrets,
            settings=self.settings,
            heartbeat=activity.heartbeat,
        )
        # Runs recorded before the audit outbox send their trail along: the write goes out now and is
        # acknowledged to the run only once Elasticsearch answered (the rest ride along next time).
        audit_write = self._submit_audit(request)
        started = time.perf_counter()
        try:
            output = await _call(definition, ctx, params)
        except ActionError as exc:
            raise refusal(str(exc), exc.type, retryable=exc.retryable) from None
        except SecretMissing as exc:
            raise refusal(str(exc), "SecretMissing") from None
        except Exception as exc:
            log.warning("action %s at %s raised %s", request.action, request.path, type(exc).__name__)
            raise ApplicationError(f"{type(exc).__name__}: {exc}", type=type(exc).__name__) from None
        log.debug("action %s took %.1f ms", request.action, (time.perf_counter() - started) * 1000)
        # Encoding is CPU that holds the GIL in a thread too, so it runs here; only an output over the
        # cap goes to a thread, since keeping it in full is a blocking write to Elasticsearch.
        data, encoded = encode_output(output)
        if len(encoded) <= self.output_cap_bytes:
            result = capped(data, encoded, self.output_cap_bytes)
        else:
            keep = partial(self.audit.keep_result, request.idempotency_key)
            result = await asyncio.to_thread(capped, data, encoded, self.output_cap_bytes, keep)
        result.audit_enabled = self.audit.url is not None
        if audit_write is None:
            result.audit_stored = not request.audit
        elif audit_write.done() and audit_write.result():
            result.audit_stored = True
        else:
            result.audit_stored_seqs = self.audit_writer.stored_seqs(request.audit)
        return result

    def _submit_audit(self, request: ActionRequest) -> asyncio.Future[bool] | None:
        if not request.audit or self.audit.url is None:
            return None
        return self.audit_writer.submit(request.audit)


async def _call(definition: ActionDefinition, ctx: ActionContext, params: BaseModel) -> Any:
    args: tuple[Any, ...] = (ctx,) if definition.takes_context else ()
    kwargs: dict[str, Any] = {}
    if definition.params_as_model:
        args = (*args, params)
    else:
        kwargs = {name: getattr(params, name) for name in type(params).model_fields}
    if definition.is_async:
        return await definition.func(*args, **kwargs)
    return await asyncio.to_thread(definition.func, *args, **kwargs)


def _argument_errors(action: str, exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:5]]
    return f"{action}: invalid arguments: " + "; ".join(parts)
