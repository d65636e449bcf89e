"""The playbook catalog: each playbook's graph, triggers and inputs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.access import Principal
from engine.console.context import Console
from engine.console.plans import PlanCache, PlaybookCard


class PlaybookViews:
    """Handlers bound to one console; charts are cached by playbook text."""

    def __init__(self, console: Console, plans: PlanCache) -> None:
        self.console = console
        self.plans = plans

    def cards(self) -> list[PlaybookCard]:
        """Every playbook of the catalog, valid ones first, by name."""
        catalog = self.console.catalog_loader()
        cards = [self.plans.card(catalog, entry) for entry in catalog.entries]
        return sorted(cards, key=lambda c: (bool(c.problems), c.name))

    async def page(self, request: Request, principal: Principal) -> Response:
        """``GET /console/playbooks``."""
        return self.console.templates.page("playbooks.html", principal, cards=self.cards())

    async def as_json(self, request: Request, principal: Principal) -> Response:
        """``GET /console/api/playbooks``."""
        return JSONResponse({"playbooks": [c.model_dump(mode="json") for c in self.cards()]})
