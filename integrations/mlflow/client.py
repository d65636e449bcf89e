"""A small client of the MLflow model registry REST API (``/api/2.0/mlflow``).

``import mlflow`` costs seconds and pulls in most of the scientific stack; the handful of registry
calls the actions need are plain JSON over HTTP, so they are made with ``httpx`` directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from engine.sdk import ActionError
from integrations.mlflow.config import MlflowSettings

API_PREFIX = "/api/2.0/mlflow"
QUARANTINED = "fireline.quarantined"
VERIFIED = "fireline.verified"
_PAGE_SIZE = 1000
_MAX_REASON = 500

#: MLflow error code → (fireline error type, retryable).
_BY_CODE: dict[str, tuple[str, bool]] = {
    "RESOURCE_DOES_NOT_EXIST": ("NotFound", False),
    "INVALID_PARAMETER_VALUE": ("InvalidParameter", False),
    "RESOURCE_ALREADY_EXISTS": ("AlreadyExists", False),
    "PERMISSION_DENIED": ("Forbidden", False),
    "UNAUTHENTICATED": ("Unauthorized", False),
    "REQUEST_LIMIT_EXCEEDED": ("TooManyRequests", True),
    "TEMPORARILY_UNAVAILABLE": ("Unavailable", True),
}
_BY_STATUS: dict[int, tuple[str, bool]] = {
    400: ("InvalidParameter", False),
    401: ("Unauthorized", False),
    403: ("Forbidden", False),
    404: ("NotFound", False),
    408: ("Timeout", True),
    429: ("TooManyRequests", True),
}


@dataclass(frozen=True)
class VersionInfo:
    """One model version as the registry reports it."""

    version: int
    status: str = "READY"
    source: str = ""
    run_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def quarantined(self) -> bool:
        """Tagged ``fireline.quarantined=true``."""
        return self.tags.get(QUARANTINED, "").lower() == "true"

    @property
    def verified(self) -> bool:
        """Tagged ``fireline.verified=true``."""
        return self.tags.get(VERIFIED, "").lower() == "true"


@dataclass(frozen=True)
class ModelState:
    """A registered model with its aliases, tags and every version."""

    name: str
    aliases: dict[str, int]
    tags: dict[str, str]
    versions: dict[int, VersionInfo]


def _tags(raw: Any) -> dict[str, str]:
    if not isinstance(raw, list):
        return {}
    return {str(t["key"]): str(t.get("value", "")) for t in raw if isinstance(t, dict) and "key" in t}


def _version(raw: dict[str, Any]) -> VersionInfo:
    return VersionInfo(
        version=int(raw["version"]),
        status=str(raw.get("status", "READY")),
        source=str(raw.get("source", "")),
        run_id=str(raw.get("run_id", "")),
        tags=_tags(raw.get("tags")),
    )


def _quoted(name: str) -> str:
    """``name`` as a string literal of MLflow's search filter grammar."""
    for quote in ("'", '"'):
        if quote not in name:
            return f"{quote}{name}{quote}"
    raise ActionError(
        f"model name {name[:100]!r} contains both kinds of quote; MLflow cannot search for it",
        type="InvalidParameter",
        retryable=False,
    )


class RegistryClient:
    """Registry calls used by the actions; every failure is an :class:`ActionError`."""

    def __init__(self, settings: MlflowSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        auth: httpx.Auth | None = None
        headers = {"User-Agent": "fireline"}
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token}"
        elif settings.username is not None and settings.password is not None:
            auth = httpx.BasicAuth(settings.username, settings.password)
        self.url = settings.url
        self._http = httpx.Client(
            base_url=settings.url + API_PREFIX,
            headers=headers,
            auth=auth,
            timeout=settings.timeout,
            verify=settings.ca_file or True,
            transport=transport,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads ----------------------------------------------------------------------------------

    def load(self, name: str) -> ModelState:
        """The model ``name`` with aliases, tags and all versions (``ModelNotFound`` if absent)."""
        body = self._call("GET", "/registered-models/get", params={"name": name}, not_found="ModelNotFound")
        model = body.get("registered_model", {})
        aliases = {
            str(a["alias"]): int(a["version"])
            for a in model.get("aliases", [])
            if isinstance(a, dict) and "alias" in a
        }
        versions = {v.version: v for v in self._versions(name)}
        return ModelState(name=name, aliases=aliases, tags=_tags(model.get("tags")), versions=versions)

    def _versions(self, name: str) -> Iterator[VersionInfo]:
        token: str | None = None
        filter_ = f"name={_quoted(name)}"
        while True:
            params: dict[str, Any] = {"filter": filter_, "max_results": _PAGE_SIZE}
            if token:
                params["page_token"] = token
            body = self._call("GET", "/model-versions/search", params=params)
            for raw in body.get("model_versions", []):
                # The filter is built from data; keep only exact matches whatever it selected.
                if isinstance(raw, dict) and raw.get("name") == name:
                    yield _version(raw)
            token = body.get("next_page_token")
            if not token:
                return

    # --- writes ---------------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at ``version``."""
        self._call(
            "POST", "/registered-models/alias", json={"name": name, "alias": alias, "version": str(version)}
        )

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` (a missing alias is not an error)."""
        self._call("DELETE", "/registered-models/alias", json={"name": name, "alias": alias})

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        """Set one tag on a model version."""
        body = {"name": name, "version": str(version), "key": key, "value": value}
        self._call("POST", "/model-versions/set-tag", json=body)

    def delete_version_tag(self, name: str, version: int, key: str) -> None:
        """Remove one tag from a model version (a missing tag is not an error)."""
        body = {"name": name, "version": str(version), "key": key}
        self._call("DELETE", "/model-versions/delete-tag", json=body)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        """Set one tag on the registered model."""
        self._call("POST", "/registered-models/set-tag", json={"name": name, "key": key, "value": value})

    def create_model(self, name: str) -> None:
        """Register a model called ``name`` (used to set up rehearsals and tests)."""
        self._call("POST", "/registered-models/create", json={"name": name})

    def create_version(self, name: str, source: str, tags: dict[str, str] | None = None) -> int:
        """Add a version with artifacts at ``source`` (e.g. ``s3://bucket/path``); returns its number."""
        body: dict[str, Any] = {"name": name, "source": source}
        if tags:
            body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        answer = self._call("POST", "/model-versions/create", json=body)
        return int(answer["model_version"]["version"])

    # --- transport ------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        not_found: str = "NotFound",
    ) -> dict[str, Any]:
        operation = f"MLflow {method} {path}"
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TimeoutException as exc:
            raise ActionError(f"{operation}: timed out ({exc})", type="Timeout", retryable=True) from None
        except httpx.TransportError as exc:
            raise ActionError(
                f"{operation}: cannot reach {self.url}: {type(exc).__name__}: {str(exc)[:_MAX_REASON]}",
                type="Unavailable",
                retryable=True,
            ) from None
        if response.is_success:
            return _json_body(response, operation)
        raise status_error(response, operation, not_found=not_found)


def _json_body(response: httpx.Response, operation: str) -> dict[str, Any]:
    try:
        body = response.json() if response.content else {}
    except ValueError:
        raise ActionError(
            f"{operation}: answered {response.status_code} with a body that is not JSON",
            type="BadResponse",
            retryable=False,
        ) from None
    if not isinstance(body, dict):
        raise ActionError(f"{operation}: unexpected answer", type="BadResponse", retryable=False)
    return body


def status_error(response: httpx.Response, operation: str, *, not_found: str = "NotFound") -> ActionError:
    """An :class:`ActionError` for a failed registry answer, typed by MLflow's ``error_code``."""
    code, message = "", response.text[:_MAX_REASON]
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    if isinstance(body, dict):
        code = str(body.get("error_code", ""))
        message = str(body.get("message", message))[:_MAX_REASON]
    if code in _BY_CODE:
        kind, retryable = _BY_CODE[code]
    elif response.status_code >= 500:
        kind, retryable = "Unavailable", True
    else:
        kind, retryable = _BY_STATUS.get(response.status_code, ("ClientError", False))
    if kind == "NotFound":
        kind = not_found
    detail = f"{message} [{code}]" if code else message
    return ActionError(
        f"{operation}: MLflow answered {response.status_code}: {detail}", type=kind, retryable=retryable
    )
