"""Call Elasticsearch actions the way the engine does: arguments validated by the declared model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.sdk import ActionContext
from integrations.elasticsearch import actions
from integrations.elasticsearch.testing import action_context

ACTIONS: dict[str, Callable[..., Any]] = {
    "elasticsearch.search": actions.search,
    "elasticsearch.count": actions.count,
    "elasticsearch.aggregate": actions.aggregate,
    "elasticsearch.get_alert": actions.get_alert,
    "elasticsearch.set_alert_status": actions.set_alert_status,
    "elasticsearch.index": actions.index,
}


def run(name: str, ctx: ActionContext, **args: Any) -> Any:
    """Validate ``args`` against the action's parameter model and call it, as a step would."""
    definition = ACTIONS[name].__fireline_action__  # type: ignore[attr-defined]
    params = definition.params_model.model_validate(args)
    return definition.func(ctx, params)


class Contexts:
    """Builds action contexts for one test cluster."""

    def __init__(self, url: str, secrets: dict[str, str]) -> None:
        self.url = url
        self.secrets = secrets

    def __call__(self, **kwargs: Any) -> ActionContext:
        """A context for this cluster; keyword arguments as for ``action_context``."""
        kwargs.setdefault("secrets", self.secrets)
        return action_context(self.url, **kwargs)
