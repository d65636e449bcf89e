"""Go-template values and Sprig functions for helm_template.py (printing, truthiness, FUNCS).

Each function follows Helm's (Sprig's) behaviour where the chart relies on it; anything not
listed in ``FUNCS`` is refused by the renderer rather than guessed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml


class TemplateError(Exception):
    """A template could not be parsed or rendered (names the template)."""


def go_str(value: Any) -> str:
    """How Go's text/template prints a value (``%v``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, dict | list):
        raise TemplateError(f"refusing to print a {type(value).__name__}: pipe it through toYaml or toJson")
    return str(value)


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent form from 1e+06 (and below 1e-04)."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    exp = len(text) + int(exponent) - 1
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{minus}0.{'0' * (-exp - 1)}{text}"
    whole = text[: exp + 1].ljust(exp + 1, "0")
    rest = text[exp + 1 :]
    return f"{minus}{whole}.{rest}" if rest else f"{minus}{whole}"


def truthy(value: Any) -> bool:
    """Go template truth: false, 0, nil and empty strings, lists and maps are false."""
    return bool(value) if value is not None else False


def _plain(value: Any) -> Any:
    """Integral floats back to ints, so toYaml prints ``3`` and not ``3.0`` (as sigs.k8s.io/yaml)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def to_yaml(value: Any) -> str:
    """Helm's toYaml: block style, sorted keys, no trailing newline."""
    if value is None:
        return "null"
    return yaml.safe_dump(_plain(value), default_flow_style=False, sort_keys=True, width=10_000).rstrip("\n")


def _printf(fmt: str, *args: Any) -> str:
    values = iter(args)

    def one(m: re.Match[str]) -> str:
        verb = m.group(1)
        if verb == "%":
            return "%"
        value = next(values)
        if verb == "d":
            return str(int(value))
        if verb == "q":
            return json.dumps(go_str(value))
        return go_str(value)

    return re.sub(r"%([sdvq%])", one, fmt)


def _required(message: str, value: Any) -> Any:
    if value is None or value == "":
        raise TemplateError(message)
    return value


def _fail(message: str) -> Any:
    raise TemplateError(message)


def _empty(value: Any) -> bool:
    return not truthy(value)


def _and(*args: Any) -> Any:
    for arg in args:
        if not truthy(arg):
            return arg
    return args[-1]


def _or(*args: Any) -> Any:
    for arg in args:
        if truthy(arg):
            return arg
    return args[-1]


def _indent(spaces: Any, text: str) -> str:
    pad = " " * int(spaces)
    return "\n".join(pad + line for line in go_str(text).split("\n"))


def _to_int(value: Any) -> int:
    """Sprig's int: whatever cannot be read as a number is 0."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def _kind_is(kind: str, value: Any) -> bool:
    kinds = {"bool": bool, "string": str, "map": dict, "slice": list, "float64": float}
    if kind == "invalid":
        return value is None
    wanted = kinds.get(kind)
    if wanted is None:
        raise TemplateError(f"kindIs {kind!r} is not supported")
    return isinstance(value, wanted) and not (wanted is float and isinstance(value, bool))


def _index(container: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(container, dict):
            container = container.get(key)
        elif isinstance(container, list):
            container = container[int(key)]
        else:
            raise TemplateError(f"cannot index {type(container).__name__}")
    return container


FUNCS: dict[str, Callable[..., Any]] = {
    "toYaml": to_yaml,
    "toJson": lambda v: json.dumps(_plain(v), separators=(",", ":"), sort_keys=True),
    "indent": _indent,
    "nindent": lambda n, text: "\n" + _indent(n, text),
    "quote": lambda *v: " ".join(json.dumps(go_str(x)) for x in v),
    "squote": lambda *v: " ".join(f"'{go_str(x)}'" for x in v),
    "default": lambda d, *v: v[0] if v and truthy(v[0]) else d,
    "required": _required,
    "fail": _fail,
    "trunc": lambda n, s: s[: int(n)] if int(n) >= 0 else s[int(n) :],
    "trimSuffix": lambda suffix, s: s[: -len(suffix)] if suffix and s.endswith(suffix) else s,
    "trimPrefix": lambda prefix, s: s[len(prefix) :] if prefix and s.startswith(prefix) else s,
    "trim": lambda s: go_str(s).strip(),
    "replace": lambda old, new, s: go_str(s).replace(old, new),
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "printf": _printf,
    "print": lambda *v: "".join(go_str(x) for x in v),
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "and": _and,
    "or": _or,
    "not": lambda v: not truthy(v),
    "empty": _empty,
    "hasKey": lambda d, k: isinstance(d, dict) and k in d,
    "list": lambda *v: list(v),
    "dict": lambda *kv: {kv[i]: kv[i + 1] for i in range(0, len(kv), 2)},
    "b64enc": lambda s: base64.b64encode(go_str(s).encode()).decode(),
    "sha256sum": lambda s: hashlib.sha256(go_str(s).encode()).hexdigest(),
    "toString": go_str,
    "int": _to_int,
    "kindIs": _kind_is,
    "index": _index,
    "len": lambda v: len(v) if v is not None else 0,
    "contains": lambda sub, s: sub in go_str(s),
    "hasPrefix": lambda p, s: go_str(s).startswith(p),
    "hasSuffix": lambda p, s: go_str(s).endswith(p),
    "ternary": lambda a, b, cond: a if truthy(cond) else b,
    "join": lambda sep, items: sep.join(go_str(i) for i in (items or [])),
    "coalesce": lambda *v: next((x for x in v if truthy(x)), None),
    "get": lambda d, k: (d or {}).get(k, ""),
    "keys": lambda d: list((d or {}).keys()),
    "sortAlpha": lambda items: sorted(go_str(i) for i in items),
    "base": lambda p: Path(p).name,
    "regexReplaceAll": lambda pattern, s, repl: re.sub(pattern, repl.replace("$", "\\"), go_str(s)),
}
