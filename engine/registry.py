"""The action registry: every action fireline can run, with its parameter schema.

Actions register themselves with :func:`engine.sdk.action` when their module is
imported; modules are found through the ``fireline.actions`` entry point group, so
a third-party package ships integrations by declaring one entry point.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from engine.errors import ActionNotFound, FirelineError

ENTRY_POINT_GROUP = "fireline.actions"
log = logging.getLogger("fireline.registry")


@dataclass(frozen=True)
class ActionDefinition:
    """A registered action: its name, function and declared contract."""

    name: str
    func: Callable[..., Any]
    params_model: type[BaseModel]
    takes_context: bool
    params_as_model: bool
    secrets: tuple[str, ...] = ()
    optional_secrets: tuple[str, ...] = ()
    idempotent: bool = False
    description: str = ""
    is_async: bool = field(default=False)

    def schema(self) -> dict[str, Any]:
        """Return the JSON Schema of the action's parameters."""
        return self.params_model.model_json_schema()


class ActionRegistry:
    """Name → :class:`ActionDefinition`, filled by decorators and entry points."""

    def __init__(self) -> None:
        self._actions: dict[str, ActionDefinition] = {}
        self._loaded = False
        self._lock = threading.Lock()
        self.load_errors: dict[str, str] = {}

    def register(self, definition: ActionDefinition) -> None:
        """Add an action; a second action under the same name from another function is an error."""
        existing = self._actions.get(definition.name)
        if existing is not None and existing.func.__qualname__ != definition.func.__qualname__:
            raise FirelineError(f"action {definition.name!r} is registered twice")
        self._actions[definition.name] = definition

    def load_entry_points(self) -> None:
        """Import every module named in the ``fireline.actions`` entry point group (once)."""
        with self._lock:
            if self._loaded:
                return
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                try:
                    importlib.import_module(ep.value.split(":")[0])
                except Exception as exc:
                    self.load_errors[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"
                    log.warning("integration %s failed to load: %s", ep.name, exc)
            self._loaded = True

    def get(self, name: str) -> ActionDefinition:
        """Return the action called ``name`` or raise :class:`ActionNotFound`."""
        self.load_entry_points()
        try:
            return self._actions[name]
        except KeyError:
            raise ActionNotFound(f"unknown action {name!r}") from None

    def find(self, name: str) -> ActionDefinition | None:
        """Return the action called ``name`` or ``None``."""
        self.load_entry_points()
        return self._actions.get(name)

    def names(self) -> list[str]:
        """All registered action names, sorted."""
        self.load_entry_points()
        return sorted(self._actions)

    def __iter__(self) -> Iterator[ActionDefinition]:
        self.load_entry_points()
        return iter(list(self._actions.values()))


REGISTRY = ActionRegistry()


def build_definition(
    name: str,
    func: Callable[..., Any],
    *,
    context_type: type,
    secrets: Iterable[str] = (),
    optional_secrets: Iterable[str] = (),
    idempotent: bool = False,
) -> ActionDefinition:
    """Inspect ``func`` and derive its parameter model.

    A function either takes one pydantic model (``params: MyParams``) or plain
    annotated keyword parameters; an optional first parameter annotated with the
    context type receives the :class:`engine.sdk.ActionContext`.
    """
    sig = inspect.signature(func)
    hints = inspect.get_annotations(func, eval_str=True)
    params = list(sig.parameters.values())
    takes_context = bool(params) and hints.get(params[0].name) is context_type
    if takes_context:
        params = params[1:]
    if len(params) == 1 and _is_model(hints.get(params[0].name)):
        model: type[BaseModel] = hints[params[0].name]
        as_model = True
    else:
        fields: dict[str, Any] = {}
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise FirelineError(f"action {name!r}: *args/**kwargs are not allowed; declare parameters")
            if p.name not in hints:
                raise FirelineError(f"action {name!r}: parameter {p.name!r} needs a type annotation")
            default = ... if p.default is inspect.Parameter.empty else p.default
            fields[p.name] = (hints[p.name], default)
        model = create_model(
            f"{name.replace('.', '_')}_params",
            __config__=ConfigDict(extra="forbid"),
            **fields,
        )
        as_model = False
    return ActionDefinition(
        name=name,
        func=func,
        params_model=model,
        takes_context=takes_context,
        params_as_model=as_model,
        secrets=tuple(secrets),
        optional_secrets=tuple(optional_secrets),
        idempotent=idempotent,
        description=inspect.cleandoc(func.__doc__ or "").split("\n\n")[0],
        is_async=inspect.iscoroutinefunction(func),
    )


def _is_model(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)
