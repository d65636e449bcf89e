"""The pinned lists fireline validates classification ids against (never fetched at run time).

MITRE ATLAS: a curated subset (the techniques and sub-techniques AI incident playbooks name) of
ATLAS 5.1.0 as published at atlas.mitre.org (data: github.com/mitre-atlas/atlas-data,
dist/ATLAS.yaml), with the "AI" names ATLAS 5 gave them (e.g. AML.T0024 "Exfiltration via AI
Inference API", formerly "... ML Inference API"). OWASP Top 10 for LLM Applications 2025
(genai.owasp.org/llm-top-10/): all ten. To update, change the entries and the version together; a
playbook naming an id that is no longer listed then fails ``fireline validate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Taxonomy:
    """One pinned list: its name, version, source and entries (id → name)."""

    key: str
    title: str
    version: str
    source: str
    entries: Mapping[str, str] = field(default_factory=dict)

    def name(self, ident: str) -> str:
        """The entry's name, or "" for an id not on the list."""
        return self.entries.get(ident, "")

    def label(self, ident: str) -> str:
        """The name to show: a sub-technique carries its parent's (``LLM Prompt Injection: Direct``)."""
        name = self.name(ident)
        parent, _, sub = ident.rpartition(".")
        if name and sub.isdigit() and len(sub) == 3 and parent in self.entries:
            return f"{self.entries[parent]}: {name}"
        return name


ATLAS = Taxonomy(
    key="atlas",
    title="MITRE ATLAS",
    version="5.1.0",
    source="https://atlas.mitre.org/ (github.com/mitre-atlas/atlas-data, dist/ATLAS.yaml)",
    entries=MappingProxyType(
        {
            "AML.T0002": "Acquire Public AI Artifacts",
            "AML.T0005": "Create Proxy AI Model",
            "AML.T0010": "AI Supply Chain Compromise",
            "AML.T0010.000": "Hardware",
            "AML.T0010.001": "AI Software",
            "AML.T0010.002": "Data",
            "AML.T0010.003": "Model",
            "AML.T0012": "Valid Accounts",
            "AML.T0015": "Evade AI Model",
            "AML.T0018": "Manipulate AI Model",
            "AML.T0018.000": "Poison AI Model",
            "AML.T0018.001": "Modify AI Model Architecture",
            "AML.T0019": "Publish Poisoned Datasets",
            "AML.T0020": "Poison Training Data",
            "AML.T0024": "Exfiltration via AI Inference API",
            "AML.T0024.000": "Infer Training Data Membership",
            "AML.T0024.001": "Invert AI Model",
            "AML.T0024.002": "Extract AI Model",
            "AML.T0025": "Exfiltration via Cyber Means",
            "AML.T0029": "Denial of AI Service",
            "AML.T0031": "Erode AI Model Integrity",
            "AML.T0034": "Cost Harvesting",
            "AML.T0035": "AI Artifact Collection",
            "AML.T0036": "Data from Information Repositories",
            "AML.T0040": "AI Model Inference API Access",
            "AML.T0043": "Craft Adversarial Data",
            "AML.T0044": "Full AI Model Access",
            "AML.T0046": "Spamming AI System with Chaff Data",
            "AML.T0047": "AI-Enabled Product or Service",
            "AML.T0048": "External Harms",
            "AML.T0048.000": "Financial Harm",
            "AML.T0048.001": "Reputational Harm",
            "AML.T0048.002": "Societal Harm",
            "AML.T0048.003": "User Harm",
            "AML.T0048.004": "AI Intellectual Property Theft",
            "AML.T0049": "Exploit Public-Facing Application",
            "AML.T0051": "LLM Prompt Injection",
            "AML.T0051.000": "Direct",
            "AML.T0051.001": "Indirect",
            "AML.T0053": "AI Agent Tool Invocation",
            "AML.T0054": "LLM Jailbreak",
            "AML.T0055": "Unsecured Credentials",
            "AML.T0056": "Extract LLM System Prompt",
            "AML.T0057": "LLM Data Leakage",
            "AML.T0058": "Publish Poisoned Models",
            "AML.T0059": "Erode Dataset Integrity",
            "AML.T0070": "RAG Poisoning",
        }
    ),
)

OWASP_LLM = Taxonomy(
    key="owasp_llm",
    title="OWASP Top 10 for LLM Applications",
    version="2025",
    source="https://genai.owasp.org/llm-top-10/ (OWASP Top 10 for LLM Applications 2025, v2025)",
    entries=MappingProxyType(
        {
            "LLM01:2025": "Prompt Injection",
            "LLM02:2025": "Sensitive Information Disclosure",
            "LLM03:2025": "Supply Chain",
            "LLM04:2025": "Data and Model Poisoning",
            "LLM05:2025": "Improper Output Handling",
            "LLM06:2025": "Excessive Agency",
            "LLM07:2025": "System Prompt Leakage",
            "LLM08:2025": "Vector and Embedding Weaknesses",
            "LLM09:2025": "Misinformation",
            "LLM10:2025": "Unbounded Consumption",
        }
    ),
)
