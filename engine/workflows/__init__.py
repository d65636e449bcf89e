"""The PlaybookRun workflow and its input/output types."""
