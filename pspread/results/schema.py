"""The published JSON Schema of a results file, generated from the pydantic model.

``python -m pspread.results.schema`` rewrites ``docs/results.schema.json``; a
test fails when the file and the model disagree, so the published schema is
never stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pspread.results.run import SCHEMA_VERSION, Results


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``Results`` (the file's keys, k6-style percentile names included)."""
    schema = Results.model_json_schema(by_alias=True)
    schema["title"] = f"pspread results, schema version {SCHEMA_VERSION}"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "docs" / "results.schema.json"
    target.write_text(schema_text(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
