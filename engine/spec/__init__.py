"""YAML playbooks → pydantic models with source positions, and their validation (no temporalio)."""

from engine.spec.catalog import Catalog, LoadedPlaybook, load_catalog, load_playbook_file
from engine.spec.models import Playbook

__all__ = ["Catalog", "LoadedPlaybook", "Playbook", "load_catalog", "load_playbook_file"]
