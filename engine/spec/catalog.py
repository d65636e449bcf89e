"""Load playbooks from files and folders, validate them, and check links between them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path as FsPath

from pydantic import ValidationError

from engine.errors import Diagnostic, PlaybookInvalid
from engine.registry import REGISTRY, ActionRegistry
from engine.spec.diagnose import did_you_mean, from_validation_error
from engine.spec.models import Playbook, step_kind
from engine.spec.semantics import Checker, _walk_steps
from engine.spec.source import SourceDocument, parse_yaml

PLAYBOOK_SUFFIXES = (".yaml", ".yml")
MAX_PLAYBOOK_BYTES = 1_000_000


@dataclass
class LoadedPlaybook:
    """One playbook file: its text, hash, model (when valid) and every problem found."""

    file: str
    text: str
    doc: SourceDocument
    playbook: Playbook | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        """Hash of the exact source text the plan pins."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def ok(self) -> bool:
        """True when the playbook has no diagnostics."""
        return self.playbook is not None and not self.diagnostics

    @property
    def name(self) -> str | None:
        """``metadata.name`` when it can be read."""
        if self.playbook is not None:
            return self.playbook.metadata.name
        meta = self.doc.data.get("metadata") if isinstance(self.doc.data, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else None

    def require(self) -> Playbook:
        """The valid playbook, or raise :class:`PlaybookInvalid` with every diagnostic."""
        if self.playbook is None or self.diagnostics:
            raise PlaybookInvalid(self.diagnostics)
        return self.playbook


def validate_text(text: str, file: str = "<string>", registry: ActionRegistry = REGISTRY) -> LoadedPlaybook:
    """Parse and validate one playbook's text (everything but links to other playbooks)."""
    doc = parse_yaml(text, file)
    diagnostics = list(doc.diagnostics)
    playbook: Playbook | None = None
    if not isinstance(doc.data, dict) and not diagnostics:
        diagnostics.append(
            doc.diagnostic((), "a playbook must be a mapping", "start with `apiVersion: fireline/v1`")
        )
    elif isinstance(doc.data, dict):
        try:
            playbook = Playbook.model_validate(doc.data)
        except ValidationError as exc:
            diagnostics.extend(from_validation_error(doc, exc))
        diagnostics.extend(Checker(doc, registry).run())
    diagnostics.sort(key=lambda d: (d.line, d.col))
    return LoadedPlaybook(file=file, text=text, doc=doc, playbook=playbook, diagnostics=_unique(diagnostics))


def load_playbook_file(path: FsPath | str, registry: ActionRegistry = REGISTRY) -> LoadedPlaybook:
    """Read and validate one file."""
    path = FsPath(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        diag = Diagnostic(message=f"cannot read: {exc.strerror}", file=str(path), line=1, col=1, code="io")
        return LoadedPlaybook(
            file=str(path), text="", doc=SourceDocument(str(path), ""), playbook=None, diagnostics=[diag]
        )
    if len(raw) > MAX_PLAYBOOK_BYTES:
        diag = Diagnostic(
            message=f"file is {len(raw)} bytes",
            file=str(path),
            line=1,
            col=1,
            hint="playbooks are limited to 1 MB",
        )
        return LoadedPlaybook(
            file=str(path), text="", doc=SourceDocument(str(path), ""), playbook=None, diagnostics=[diag]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        diag = Diagnostic(
            message=f"not UTF-8 text: {exc.reason}", file=str(path), line=1, col=1, code="encoding"
        )
        return LoadedPlaybook(
            file=str(path), text="", doc=SourceDocument(str(path), ""), playbook=None, diagnostics=[diag]
        )
    return validate_text(text, str(path), registry)


def playbook_files(paths: Iterable[FsPath | str]) -> list[FsPath]:
    """Expand files and folders into playbook files (``templates/`` folders are skipped)."""
    found: dict[FsPath, FsPath] = {}
    for raw in paths:
        path = FsPath(raw)
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if p.suffix in PLAYBOOK_SUFFIXES and "templates" not in p.relative_to(path).parts:
                    found.setdefault(p.resolve(), p)
        else:
            found.setdefault(path.resolve(), path)
    return list(found.values())


@dataclass
class Catalog:
    """A set of playbooks that may call each other."""

    entries: list[LoadedPlaybook]
    by_name: dict[str, LoadedPlaybook] = field(default_factory=dict)

    def get(self, name: str) -> LoadedPlaybook:
        """The playbook called ``name``."""
        if name not in self.by_name:
            hint = did_you_mean(name, sorted(self.by_name))
            raise PlaybookInvalid(
                [Diagnostic(message=f"no playbook named {name!r} in the catalog", hint=hint)]
            )
        return self.by_name[name]

    def resolve(self, ref: str) -> LoadedPlaybook:
        """A playbook by catalog name or by file path."""
        if ref in self.by_name:
            return self.by_name[ref]
        for entry in self.entries:
            if FsPath(entry.file).resolve() == FsPath(ref).resolve():
                return entry
        return self.get(ref)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """Every problem in every file."""
        return [d for entry in self.entries for d in entry.diagnostics]


def load_catalog(paths: Iterable[FsPath | str], registry: ActionRegistry = REGISTRY) -> Catalog:
    """Load and validate every playbook under ``paths``, then check child-playbook links."""
    catalog = Catalog(entries=[load_playbook_file(p, registry) for p in playbook_files(paths)])
    for entry in catalog.entries:
        name = entry.name
        if name is None:
            continue
        if name in catalog.by_name:
            first = catalog.by_name[name].file
            entry.diagnostics.append(
                entry.doc.diagnostic(
                    ("metadata", "name"), f"playbook name {name!r} is taken", f"also used by {first}"
                )
            )
        else:
            catalog.by_name[name] = entry
    _check_links(catalog)
    return catalog


def _children(entry: LoadedPlaybook) -> list[tuple[tuple[str | int, ...], str]]:
    out = []
    for root in (("steps",), ("on_failure",)):
        for path, step in _walk_steps(entry.doc.data, root):
            if step_kind(step) == "playbook" and isinstance(step.get("playbook"), str):
                out.append((path, step["playbook"]))
    return out


def _check_links(catalog: Catalog) -> None:
    graph = {name: [child for _, child in _children(e)] for name, e in catalog.by_name.items()}
    for entry in catalog.entries:
        for path, child in _children(entry):
            if child not in catalog.by_name:
                hint = did_you_mean(child, sorted(catalog.by_name)) or "add it to the playbooks folder"
                entry.diagnostics.append(
                    entry.doc.diagnostic(
                        (*path, "playbook"), f"playbook {child!r} is not in the catalog", hint
                    )
                )
            elif entry.name is not None and _reaches(graph, child, entry.name):
                entry.diagnostics.append(
                    entry.doc.diagnostic(
                        (*path, "playbook"),
                        f"calling {child!r} would recurse back into {entry.name!r}",
                        "child playbooks must not call their parents",
                        code="recursion",
                    )
                )
        entry.diagnostics.sort(key=lambda d: (d.line, d.col))


def _reaches(graph: dict[str, list[str]], start: str, target: str) -> bool:
    seen: set[str] = set()
    stack = [start]
    while stack:
        node = stack.pop()
        if node == target:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, []))
    return False


def _unique(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[int, int, str, str]] = set()
    out = []
    for d in diagnostics:
        key = (d.line, d.col, d.path, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
