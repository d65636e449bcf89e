"""Legal reporting clocks as pure functions of the incident facts (no clock, no I/O)."""
