"""MLflow model registry: quarantine, roll back and restore model versions."""
