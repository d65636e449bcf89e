"""Render a Helm chart without the helm binary: the Go-template subset deploy/helm/fireline uses.

The tests render the chart with this because no helm binary is installable here (not on PyPI,
Debian or npm). It follows Helm's rules where the chart depends on them: values.yaml merged with
overrides (null deletes a key), values checked against values.schema.json, numbers from values
are float64 (so ``1000000`` prints as ``1e+06`` unless piped through ``int``), a missing value
prints as an empty string, ``{{-``/``-}}`` trim whitespace, ``define``/``include``/``template``,
``.Files.Glob``/``.Files.Get`` and the Sprig functions listed in ``FUNCS``. Anything else is an
error, never silently wrong. ``python deploy/tools/helm_template.py CHART [-f values.yaml]``
prints the manifests like ``helm template``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml
from helm_funcs import FUNCS, TemplateError, go_str, to_yaml, truthy
from helm_parse import Node, parse

# --- values and printing ---------------------------------------------------------------------


def _floats(value: Any) -> Any:
    """Numbers as Helm sees values: JSON-decoded, so every number is a float64."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return value


def merge_values(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing: maps merge key by key, an override of null deletes the key."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# --- files -----------------------------------------------------------------------------------


class Files(dict[str, bytes]):
    """``.Files``: the chart's non-template files, by path."""

    def Glob(self, pattern: str) -> Files:
        # Helm's globs (gobwas/glob with '/' as separator): '*' stays inside a folder, '**' crosses.
        regex = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace("\0", ".*")
        return Files({k: v for k, v in self.items() if re.fullmatch(regex, k)})

    def Get(self, path: str) -> str:
        return self[path].decode() if path in self else ""

    def AsConfig(self) -> str:
        return to_yaml({Path(k).name: v.decode() for k, v in self.items()})


# --- evaluation ------------------------------------------------------------------------------


class Renderer:
    """Renders the templates of one chart with one set of values."""

    def __init__(self, chart: Path, values: dict[str, Any], release: str, namespace: str) -> None:
        meta = yaml.safe_load((chart / "Chart.yaml").read_text())
        self.chart = chart
        self.defines: dict[str, list[Node]] = {}
        self.templates: dict[str, list[Node]] = {}
        files = Files()
        for path in _walk_files(chart):  # symlinked folders are followed, as Helm does
            rel = path.relative_to(chart).as_posix()
            if not rel.startswith("templates/"):
                files[rel] = path.read_bytes()
        self.top: dict[str, Any] = {
            "Values": _floats(values),
            "Release": {
                "Name": release,
                "Namespace": namespace,
                "Service": "Helm",
                "IsInstall": True,
                "Revision": 1,
            },
            "Chart": {
                "Name": meta["name"],
                "Version": meta["version"],
                "AppVersion": meta.get("appVersion", ""),
            },
            "Capabilities": {"KubeVersion": {"Version": "v1.31.0", "Major": "1", "Minor": "31"}},
            "Files": files,
            "Template": {"BasePath": f"{meta['name']}/templates", "Name": ""},
        }
        for path in _walk_files(chart / "templates"):
            if path.suffix in (".yaml", ".yml", ".tpl", ".txt"):
                name = f"{meta['name']}/{path.relative_to(chart).as_posix()}"
                self.templates[name] = parse(path.read_text(), name, self.defines)

    def render_all(self) -> dict[str, str]:
        """Every manifest template (not partials, not NOTES.txt), rendered, by template name."""
        out = {}
        for name, nodes in self.templates.items():
            base = name.rsplit("/", 1)[-1]
            if base.startswith("_") or base == "NOTES.txt":
                continue
            dot = dict(self.top, Template={**self.top["Template"], "Name": name})
            out[name] = self._run(nodes, dot, {"$": dot}, name)
        return out

    def _run(self, nodes: list[Node], dot: Any, scope: dict[str, Any], where: str) -> str:
        parts: list[str] = []
        for node in nodes:
            if node.kind == "text":
                parts.append(node.text)
            elif node.kind == "action":
                value = self._pipeline(node.pipe, dot, scope, where)
                if value is not _ASSIGNED:
                    parts.append(go_str(value))
            elif node.kind in ("if", "with"):
                value = self._pipeline(node.pipe, dot, scope, where)
                if truthy(value):
                    parts.append(
                        self._run(node.body, value if node.kind == "with" else dot, dict(scope), where)
                    )
                else:
                    parts.append(self._run(node.orelse, dot, dict(scope), where))
            elif node.kind == "range":
                parts.append(self._range(node, dot, scope, where))
            elif node.kind == "template":
                arg = self._pipeline(node.pipe, dot, scope, where) if node.pipe else None
                parts.append(self._include(node.text, arg))
        return "".join(parts)

    def _range(self, node: Node, dot: Any, scope: dict[str, Any], where: str) -> str:
        value = self._pipeline(node.pipe, dot, scope, where)
        items: list[tuple[Any, Any]]
        if isinstance(value, dict):
            items = sorted(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif isinstance(value, float | int):
            items = [(i, i) for i in range(int(value))]
        else:
            items = []
        if not items:
            return self._run(node.orelse, dot, dict(scope), where)
        out = []
        for key, item in items:
            inner = dict(scope)
            if len(node.variables) == 1:
                inner[node.variables[0]] = item
            elif len(node.variables) == 2:
                inner[node.variables[0]], inner[node.variables[1]] = key, item
            out.append(self._run(node.body, item, inner, where))
        return "".join(out)

    def _include(self, name: str, arg: Any) -> str:
        # Helm names every template file too, so a whole file can be included (checksums).
        nodes = self.defines.get(name) or self.templates.get(name)
        if nodes is None:
            raise TemplateError(f"no template {name!r} is defined")
        scope = {"$": arg if isinstance(arg, dict) and "Values" in arg else self.top}
        return self._run(nodes, arg, scope, name)

    def _pipeline(self, words: list[str], dot: Any, scope: dict[str, Any], where: str) -> Any:
        if len(words) > 2 and words[0].startswith("$") and words[1] in (":=", "="):
            scope[words[0]] = self._pipeline(words[2:], dot, scope, where)
            return _ASSIGNED
        commands: list[list[str]] = [[]]
        depth = 0
        for word in words:
            depth += (word == "(") - (word == ")")
            if word == "|" and depth == 0:
                commands.append([])
            else:
                commands[-1].append(word)
        value: Any = _NOTHING
        for command in commands:
            value = self._command(command, dot, scope, where, value)
        return value

    def _command(self, words: list[str], dot: Any, scope: dict[str, Any], where: str, piped: Any) -> Any:
        operands = self._operands(words, dot, scope, where)
        head = words[0]
        if _is_ident(head) and head not in ("true", "false", "nil"):
            if head not in FUNCS and head not in ("include", "tpl"):
                raise TemplateError(f"{where}: function {head!r} is not supported by this renderer")
            args = operands[1:] + ([] if piped is _NOTHING else [piped])
            if head == "include":
                return self._include(args[0], args[1] if len(args) > 1 else None)
            if head == "tpl":
                raise TemplateError(f"{where}: tpl is not supported")
            try:
                return FUNCS[head](*args)
            except TemplateError as exc:
                raise TemplateError(f"{where}: {exc}") from None
        value = operands[0]
        if callable(value):
            args = operands[1:] + ([] if piped is _NOTHING else [piped])
            return value(*args)
        if len(operands) > 1 or piped is not _NOTHING:
            raise TemplateError(f"{where}: {head!r} is not a function")
        return value

    def _operands(self, words: list[str], dot: Any, scope: dict[str, Any], where: str) -> list[Any]:
        out, i = [], 0
        while i < len(words):
            word = words[i]
            if word == "(":
                depth, j = 1, i + 1
                while depth:
                    depth += (words[j] == "(") - (words[j] == ")")
                    j += 1
                out.append(self._pipeline(words[i + 1 : j - 1], dot, scope, where))
                i = j
                continue
            out.append(self._term(word, dot, scope, where))
            i += 1
        return out

    def _term(self, word: str, dot: Any, scope: dict[str, Any], where: str) -> Any:
        if word.startswith('"'):
            return json.loads(word)
        if word.startswith("`"):
            return word[1:-1]
        if re.fullmatch(r"-?\d+(\.\d+)?", word):
            return float(word) if "." in word else int(word)
        if word in ("true", "false"):
            return word == "true"
        if word == "nil":
            return None
        if word.startswith("$"):
            name, *path = word.split(".")
            if name not in scope:
                raise TemplateError(f"{where}: undefined variable {name}")
            return _walk(scope[name], path)
        if word.startswith("."):
            return _walk(dot, [p for p in word.split(".") if p])
        return word  # a function name; the caller looks it up


def _walk_files(root: Path) -> list[Path]:
    out: list[Path] = []
    for folder, _, names in os.walk(root, followlinks=True):
        out.extend(Path(folder) / name for name in names)
    return sorted(out)


def _walk(value: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(value, Files) and hasattr(value, part):
            value = getattr(value, part)
        elif isinstance(value, dict):
            value = value.get(part)
        elif value is not None and hasattr(value, part):
            value = getattr(value, part)
        else:
            return None
    return value


def _is_ident(word: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", word))


_NOTHING = object()
_ASSIGNED = object()


def render_chart(
    chart: Path,
    overrides: dict[str, Any] | None = None,
    release: str = "fireline",
    namespace: str = "default",
) -> dict[str, str]:
    """Render every manifest of ``chart`` (like ``helm template``), after validating the values.

    Raises:
        jsonschema.ValidationError: the merged values do not fit values.schema.json.
        TemplateError: a template is malformed, uses something unsupported, or calls ``fail``.
    """
    values = merge_values(yaml.safe_load((chart / "values.yaml").read_text()) or {}, overrides or {})
    schema_file = chart / "values.schema.json"
    if schema_file.exists():
        jsonschema.validate(values, json.loads(schema_file.read_text()))
    return Renderer(chart, values, release, namespace).render_all()


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """The Kubernetes objects in rendered templates (empty documents dropped, as Helm does)."""
    out = []
    for text in rendered.values():
        for doc in yaml.safe_load_all(text):
            if doc:
                out.append(doc)
    return out


def main(argv: list[str]) -> int:
    """``helm_template.py CHART [-f VALUES]...``: print the manifests."""
    chart, args = Path(argv[0]), argv[1:]
    overrides: dict[str, Any] = {}
    while args:
        flag, path, *args = args
        if flag != "-f":
            raise SystemExit(f"unknown option {flag}")
        overrides = merge_values(overrides, yaml.safe_load(Path(path).read_text()) or {})
    for name, text in render_chart(chart, overrides).items():
        if text.strip():
            print(f"---\n# Source: {name}\n{text.strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
