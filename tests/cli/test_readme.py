"""The README runs as written: every ```bash and ```python block, top to bottom, in a fresh folder.

A block is skipped only when the line before it says
``<!-- readme-test: skip (reason) -->`` (installing, cloning, minutes of load);
those stay few, and each must give its reason.  ``pspread`` runs as
``sys.executable -m pspread`` (this checkout's code), ``python`` as
``sys.executable``; runs are kept small with the documented environment
variables (``PSPREAD_DURATION``: measured phases of 1 s; ``PSPREAD_NODES``:
generated scenario graphs of 5,000 nodes; ``PSPREAD_CACHE_DIR``: generated
once, reused).  A block that exits non-zero fails the test, with its output.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

#: these run wall-clock scenarios through the real command: the slow loop
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"^<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->$")
RUNNABLE = {"bash": "bash", "sh": "bash", "python": "python"}
#: more skipped blocks than this and the README no longer "runs as written"
MAX_SKIPPED = 3


@dataclass
class Block:
    lang: str
    code: str
    line: int
    skip: str | None


def blocks(text: str) -> list[Block]:
    """Every fenced block of a runnable language, with the skip reason written above it (if any)."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match and match.group(1):
            lang, start = match.group(1), i
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            before = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            skip = SKIP.match(before)
            if lang in RUNNABLE:
                found.append(Block(lang, "\n".join(lines[start + 1:end]) + "\n", start + 1,
                                   skip.group("reason") if skip else None))
            i = end + 1
            continue
        i += 1
    return found


def _shell_prelude() -> str:
    py = shlex.quote(sys.executable)
    return (f"set -euo pipefail\npspread() {{ {py} -m pspread \"$@\"; }}\npython() {{ {py} \"$@\"; }}\n"
            f"python3() {{ {py} \"$@\"; }}\n")


def _run(block: Block, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if RUNNABLE[block.lang] == "bash":
        return subprocess.run(["bash", "-c", _shell_prelude() + block.code], cwd=cwd, env=env, text=True,
                              capture_output=True, timeout=600)
    script = cwd / f"readme_block_{block.line}.py"
    script.write_text(block.code)
    try:
        return subprocess.run([sys.executable, script.name], cwd=cwd, env=env, text=True, capture_output=True,
                              timeout=600)
    finally:
        script.unlink()


def test_the_parser_finds_blocks_and_skip_marks():
    text = "a\n<!-- readme-test: skip (installs) -->\n```bash\npip x\n```\n```python\nprint(1)\n```\n```\nplain\n```\n"
    found = blocks(text)
    assert [(b.lang, b.skip) for b in found] == [("bash", "installs"), ("python", None)]
    assert found[1].code == "print(1)\n"


def test_the_readme_runs_top_to_bottom(tmp_path: Path):
    found = blocks(README.read_text(encoding="utf-8"))
    runnable = [b for b in found if b.skip is None]
    skipped = [b for b in found if b.skip is not None]
    assert len(runnable) >= 5 and any(b.lang == "python" for b in runnable), "the README lost its examples"
    assert len(skipped) <= MAX_SKIPPED, [f"line {b.line}: {b.skip}" for b in skipped]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PSPREAD_DURATION="1s", PSPREAD_NODES="5000", COLUMNS="120",
               PSPREAD_VERDICT_CACHE=str(tmp_path / "verdicts"), PSPREAD_CACHE_DIR=str(tmp_path / "graphs"))
    work = tmp_path / "work"
    work.mkdir()
    for block in runnable:
        done = _run(block, work, env)
        if done.returncode != 0:
            pytest.fail(f"README.md line {block.line} ({block.lang}) exited {done.returncode}:\n{block.code}\n"
                        f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}")
    assert (work / "club" / "meta.json").is_file() and (work / "quick.json").is_file()


def test_a_failing_block_is_reported_as_failing(tmp_path: Path):
    bad = blocks("```bash\npspread graph info no-such-bundle\n```\n```python\nraise SystemExit(3)\n```\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    assert [_run(b, tmp_path, env).returncode for b in bad] == [2, 3]
    assert list(tmp_path.iterdir()) == []  # the python block's script file is removed
