"""The embedded local stack: Temporal dev server, local SIEM, worker and receiver."""
