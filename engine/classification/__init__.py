"""AI incident classification: MITRE ATLAS techniques and OWASP Top 10 for LLM Applications 2025."""

from engine.classification.pinned import ATLAS, OWASP_LLM, Taxonomy
from engine.classification.tags import Classification, Framework, closest, split_known

__all__ = ["ATLAS", "OWASP_LLM", "Classification", "Framework", "Taxonomy", "closest", "split_known"]
