"""The only surface integrations import from the engine.

Example::

    from engine.sdk import ActionContext, ActionError, action

    @action("keys.revoke", secrets=["GATEWAY_TOKEN"], idempotent=True)
    def revoke(ctx: ActionContext, key_id: str) -> dict[str, bool]:
        token = ctx.secret("GATEWAY_TOKEN")
        ...
"""

from engine.errors import ActionError
from engine.sdk.context import ActionContext
from engine.sdk.decorators import action

__all__ = ["ActionContext", "ActionError", "action"]
