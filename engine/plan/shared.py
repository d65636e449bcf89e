"""One copy of each compiled plan per worker process, shared by every run of it.

Each run's input carries its plan, and decoding it gives every run its own copy of the same
immutable data (steps, templates, subplans): a thousand parked runs of one playbook held a thousand
copies. Runs look their plan up here by its pinned identity and use the first equal copy.
"""

from __future__ import annotations

import threading

from engine.plan.models import Plan

#: Distinct plans kept; past this the cache starts afresh (runs keep the copies they hold).
MAX_PLANS = 512

_plans: dict[tuple[str, str, int], list[Plan]] = {}
_lock = threading.Lock()


def shared_plan(plan: Plan) -> Plan:
    """The process-wide copy equal to ``plan`` (``plan`` itself the first time)."""
    key = (plan.sha256, plan.name, plan.version)
    with _lock:
        copies = _plans.get(key)
        if copies is None:
            if len(_plans) >= MAX_PLANS:
                _plans.clear()
            copies = _plans[key] = []
        for known in copies:
            if known == plan:  # same pinned text, but a child plan also carries its parent's subplans
                return known
        if len(copies) < 8:
            copies.append(plan)
        return plan
