"""One incident: its page, its JSON, and the approve/reject form's POST."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from engine.access import CSRF_FIELD, AccessDenied, Principal, groups_of
from engine.console import display
from engine.console.context import RUN_ID, Console, Kind, read_form
from engine.console.decisions import STEP_PATH, parse_decision, parse_edits, verdict
from engine.console.graph import STATE_STYLES, run_graph, state_class
from engine.console.nested import pending_approvals
from engine.console.plans import PlanCache, plan_of_run
from engine.console.resets import parse_reset, reset_offer
from engine.console.reviews import review_file
from engine.errors import ApprovalRefused, ResetRefused, RunNotFound
from engine.plan.state import Decision, RunState

log = logging.getLogger("fireline.console")
_DONE = {"approve": "You approved {}.", "reject": "You rejected {}.", "reset": "The run was re-run from {}."}


class RunViews:
    """Handlers bound to one console."""

    def __init__(self, console: Console, plans: PlanCache) -> None:
        self.console = console
        self.plans = plans

    async def _state(self, run_id: str, principal: Principal) -> RunState | Response:
        console = self.console
        if not RUN_ID.match(run_id):
            return console.not_found(principal, "no such run")
        try:
            return await console.source.state(run_id)
        except RunNotFound:
            return console.not_found(principal, f"no run {run_id}")
        except Exception as exc:
            log.warning("status of %s failed: %s", run_id, type(exc).__name__)
            return console.templates.page(
                "error.html",
                principal,
                status_code=503,
                title="Run unavailable",
                message=f"Temporal did not answer for this run ({type(exc).__name__}); try again shortly",
            )

    async def page(self, request: Request, principal: Principal) -> Response:
        """``GET /console/runs/<id>``."""
        state = await self._state(request.path_params["run_id"], principal)
        if isinstance(state, Response):
            return state
        notice = ""
        done, step = request.query_params.get("done", ""), request.query_params.get("step", "")
        if done in _DONE and STEP_PATH.match(step):
            notice = _DONE[done].format(step)
        return await self._render(principal, state, notice=notice)

    async def _render(
        self, principal: Principal, state: RunState, *, notice: str = "", error: str = "", status: int = 200
    ) -> Response:
        console = self.console
        alert = await console.source.alert(state.run_id)
        plan = plan_of_run(self.plans, console.catalog_loader(), state.playbook, state.sha256)
        groups = console.settings.approver_groups
        waiting = await pending_approvals(console.source, state)
        pending = [(record, verdict(principal, record, groups)) for record in waiting]
        context: dict[str, Any] = {
            "state": state,
            "alert_fields": display.flatten(alert) if alert is not None else None,
            "graph": run_graph(plan.plan, state.steps) if plan.plan else "",
            "graph_note": plan.note,
            "legend": [state_class(s) for s in STATE_STYLES],
            "pending": pending,
            "approvals": [r for r in state.steps if r.approval is not None],
            "temporal_url": console.temporal_url(state.run_id),
            "child_url": self._child_url,
            "reset": reset_offer(principal, state),
            "has_review": review_file(console.reviews_dir, state.run_id) is not None,
            "notice": notice,
            "error": error,
            "csrf_field": CSRF_FIELD,
        }
        return console.templates.page("run.html", principal, status_code=status, **context)

    def _child_url(self, run_id: str) -> str | None:
        """Where a child run opens: its console page, or (ids with ``/``) the Temporal Web UI.

        Its pending approvals are on this page already (qualified paths).
        """
        if RUN_ID.match(run_id):
            return self.console.templates.run_url(run_id)
        return self.console.temporal_url(run_id)

    async def state_json(self, request: Request, principal: Principal) -> Response:
        """``GET /console/api/runs/<id>``: the run's timeline as JSON."""
        state = await self._state(request.path_params["run_id"], principal)
        if isinstance(state, Response):
            code = state.status_code
            return JSONResponse({"error": "not found" if code == 404 else "unavailable"}, status_code=code)
        return JSONResponse(state.model_dump(mode="json"))

    async def decide(self, request: Request, principal: Principal) -> Response:
        """``POST /console/runs/<id>/decide``: approve or reject through the run's Update."""
        console = self.console
        form = await read_form(request)
        try:
            console.access.check_csrf(principal, form.get(CSRF_FIELD) if form else None)
        except AccessDenied as exc:
            return await console.refuse(request, exc, Kind.PAGE)
        state = await self._state(request.path_params["run_id"], principal)
        if isinstance(state, Response):
            return state
        event: dict[str, Any] = {"run_id": state.run_id, "user": principal.user, "role": principal.role.value}

        async def audit(kind: str, outcome: str, reason: str) -> None:
            await console.access.audit(request, {"kind": kind, "outcome": outcome, **event, "reason": reason})

        parsed = parse_decision(form or {})
        if isinstance(parsed, str):
            await audit("console.decision_refused", "refused", parsed)
            return await self._render(principal, state, error=parsed, status=400)
        step, decision, reason = parsed
        shown = state.step(step)
        edits = parse_edits(form or {}, shown.approval.editable if shown and shown.approval else {})
        if isinstance(edits, str):
            await audit("console.decision_refused", "refused", edits)
            return await self._render(principal, state, error=edits, status=400)
        groups = groups_of(console.settings.approver_groups, principal.user)
        event.update(step=step, decision=decision.value, by=principal.approver, groups=groups)
        if edits:
            event["edited"] = sorted(edits)
        try:
            await console.source.decide(
                state.run_id, step, decision, principal.approver, groups=groups, reason=reason, edits=edits
            )
        except ApprovalRefused as exc:
            await audit("console.decision_refused", "refused", str(exc))
            fresh = await self._state(state.run_id, principal)
            return await self._render(
                principal, fresh if isinstance(fresh, RunState) else state, error=str(exc), status=409
            )
        except RunNotFound:
            return console.not_found(principal, f"no open run {state.run_id}")
        except Exception as exc:  # Temporal slow or down: nothing was decided, the responder may retry
            await audit("console.decision_failed", "failed", type(exc).__name__)
            error = f"the decision did not reach the run ({type(exc).__name__})"
            return await self._render(principal, state, error=error, status=503)
        await audit("console.decision", "ok", reason)
        console.waiting.forget(state.run_id)
        done = "approve" if decision is Decision.APPROVE else "reject"
        target = console.templates.run_url(state.run_id) + "?" + urlencode({"done": done, "step": step})
        return RedirectResponse(target, status_code=303)

    async def reset(self, request: Request, principal: Principal) -> Response:
        """``POST /console/runs/<id>/reset``: re-run the run from a step (admins only)."""
        console = self.console
        form = await read_form(request)
        try:
            console.access.check_csrf(principal, form.get(CSRF_FIELD) if form else None)
        except AccessDenied as exc:
            return await console.refuse(request, exc, Kind.PAGE)
        state = await self._state(request.path_params["run_id"], principal)
        if isinstance(state, Response):
            return state
        event: dict[str, Any] = {"run_id": state.run_id, "user": principal.user, "role": principal.role.value}

        async def audit(kind: str, outcome: str, reason: str) -> None:
            await console.access.audit(request, {"kind": kind, "outcome": outcome, **event, "reason": reason})

        parsed = parse_reset(form or {})
        if isinstance(parsed, str):
            await audit("console.reset_refused", "refused", parsed)
            return await self._render(principal, state, error=parsed, status=400)
        step, reason = parsed
        event.update(step=step, by=principal.approver)
        try:
            outcome = await console.source.reset(state.run_id, step, by=principal.approver, reason=reason)
        except ResetRefused as exc:
            await audit("console.reset_refused", "refused", str(exc))
            return await self._render(principal, state, error=str(exc), status=409)
        except RunNotFound:
            return console.not_found(principal, f"no run {state.run_id}")
        except Exception as exc:  # Temporal slow or down: the admin may look at the run and retry
            await audit("console.reset_failed", "failed", type(exc).__name__)
            error = f"the reset did not reach Temporal ({type(exc).__name__}); check the run before retrying"
            return await self._render(principal, state, error=error, status=503)
        event.update(from_run=outcome.from_run, to_run=outcome.to_run)
        await audit("console.reset", "ok", reason)
        console.waiting.forget(state.run_id)
        target = console.templates.run_url(state.run_id) + "?" + urlencode({"done": "reset", "step": step})
        return RedirectResponse(target, status_code=303)
