"""Compile playbooks into plans, and conduct plans step by step (no temporalio)."""
