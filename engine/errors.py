"""The one error root of fireline and its typed subclasses.

Every error a user can meet derives from :class:`FirelineError`. Errors about a
playbook carry :class:`Diagnostic` objects that say where (file, line, column,
path in the document) and how to fix it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a document, with its place and a hint."""

    message: str
    file: str = "<string>"
    line: int = 0
    col: int = 0
    path: str = ""
    hint: str = ""
    code: str = "invalid"

    def render(self) -> str:
        """Format as ``file:line:col: path: message (hint)``."""
        where = f"{self.file}:{self.line}:{self.col}"
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return asdict(self)


class FirelineError(Exception):
    """Root of every error fireline raises on purpose."""


class PlaybookInvalid(FirelineError):
    """A playbook (or several) failed validation; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        first = diagnostics[0].render() if diagnostics else "invalid playbook"
        more = f" (+{len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
        super().__init__(first + more)


class TemplateError(FirelineError):
    """An expression failed to parse or to evaluate."""

    def __init__(self, message: str, expression: str = "") -> None:
        self.expression = expression
        super().__init__(message)


class TemplateLimitExceeded(TemplateError):
    """An expression produced too much output or did too much work."""


class ActionError(FirelineError):
    """An action failed. ``retryable`` tells the engine whether another attempt may help."""

    def __init__(self, message: str, *, type: str = "ActionError", retryable: bool = True) -> None:
        self.type = type
        self.retryable = retryable
        super().__init__(message)


class ActionNotFound(FirelineError):
    """No action is registered under the requested name."""


class SecretMissing(FirelineError):
    """An action declared a secret that the configuration does not provide."""


class ConfigError(FirelineError):
    """Configuration is missing or wrong."""


class StackError(FirelineError):
    """A local server could not be started, reached or stopped."""


class PortTaken(StackError):
    """A local server exited because another process holds a port it needs."""


class RunNotFound(FirelineError):
    """No run with that id exists."""


class ApprovalRefused(FirelineError):
    """A decision on an approval was refused (not pending, not allowed, already decided)."""


class RehearsalError(FirelineError):
    """A rehearsal's mocks or expectations are wrong."""


class AlertInvalid(FirelineError):
    """An alert payload could not be normalized."""


class ResetRefused(FirelineError):
    """A run cannot be re-run from the step asked for (unknown step, never started, child-internal)."""
