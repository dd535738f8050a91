"""The figures script rewrites only the README's table, and every row names its machine."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("refresh_figures", ROOT / "scripts" / "refresh_figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_the_table_replaces_only_what_lies_between_the_markers():
    rf = _script()
    rows = [rf.Row("one query", "median 1.00 ms", "pspread bench kernels G", "load 0.5-1.2"),
            rf.Row("driver", "9 q/s", "x")]
    table = rf.render(rows, "Some CPU, 2 cores", "2026-01-01")
    text = f"intro\n{rf.START}\nold | table\n{rf.END}\nafter\n"
    new = rf.replace_table(text, table)
    assert new.startswith("intro\n") and new.endswith(f"{rf.END}\nafter\n") and "old | table" not in new
    body = [line for line in new.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(body) == 2 and all("Some CPU, 2 cores, 2026-01-01" in line for line in body)
    assert "2026-01-01, load 0.5-1.2 |" in body[0]
    assert rf.replace_table(new, table) == new  # idempotent


def test_a_readme_without_markers_is_refused():
    rf = _script()
    with pytest.raises(SystemExit):
        rf.replace_table("no markers here", "| t |")
    with pytest.raises(SystemExit):
        rf.replace_table(f"{rf.END}\n{rf.START}", "| t |")


def test_spreads_and_the_machine_line():
    rf = _script()
    assert rf.spread([1.0, 3.0, 2.0]) == "1.00-3.00 (median 2.00)"
    assert rf.spread([5.0]) == "5.00" and rf.spread([]) == "-"
    line = rf.machine()
    assert " cores" in line and line.split(",")[0]


def test_the_readme_holds_the_markers_once():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rf = _script()
    assert text.count(rf.START) == 1 and text.count(rf.END) == 1
