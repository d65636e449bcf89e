"""Rehearsals: run a playbook against mocked action results and compare with expectations."""
