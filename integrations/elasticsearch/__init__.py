"""Elasticsearch integration: SIEM searches, Elastic Security alert triage, incident records."""
