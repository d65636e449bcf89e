"""Activities: the worker-side half of a run (actions, secrets, output caps)."""
