"""fireline: incident-response playbooks for AI systems, run as durable Temporal workflows."""

__version__ = "0.1.0"
