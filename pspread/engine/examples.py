"""Example graphs shipped as package data (pspread/examples/), found by name.

``karate`` is Zachary's karate club (pspread/examples/NOTICE.md has its source
and terms).  A name is looked up only when no file or folder of that name
exists, so a bundle called ``karate`` in the working directory always wins;
``examples/karate.tsv`` (a checkout's path) finds the shipped file too, so
commands written in a checkout work after a plain ``pip install``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

#: example name -> file in pspread/examples/
EXAMPLES = {"karate": "karate.tsv"}


def examples_dir() -> Path:
    """The folder of the shipped example files."""
    return Path(__file__).resolve().parent.parent / "examples"


def shipped_example(name: str | os.PathLike[str]) -> Optional[Path]:
    """The shipped file for ``karate``, ``karate.tsv`` or ``examples/karate.tsv``; None for anything else."""
    p = Path(name)
    if p.exists() or (len(p.parts) == 2 and p.parts[0] != "examples") or len(p.parts) > 2:
        return None
    key = p.name[:-len(".tsv")] if p.name.endswith(".tsv") else p.name
    if key not in EXAMPLES:
        return None
    path = examples_dir() / EXAMPLES[key]
    return path if path.is_file() else None
