"""Edge-list import against pandas + scipy by hand: ``python -m pspread.bench.edgelist``.

The figure that matters for ``pspread graph convert`` is how it compares with
what a user would write themselves -- ``pandas.read_csv``, ``pd.factorize``
over both label columns, ``scipy.sparse.csr_matrix`` -- on the same file, on
the same machine, at the same time.  So the rounds are interleaved, every
run is a fresh process (no warm caches inside the interpreter), and each
process reports its own time and peak memory above its baseline after the
imports.  Three pairs are timed:

* ``read``: ``read_edge_list`` vs pandas + factorize + csr (the import alone);
* ``convert``: the ``pspread graph convert`` command vs a script doing the
  hand-made import and ``np.save`` of its CSR and labels (end to end, with
  interpreter start-up and writing; the bundle also holds the derived arrays).

The test file is a Barabási–Albert graph (178,000 nodes, 10 edges per node,
1.78M edges) written as ``w123456<TAB>w654321<TAB>0.1234`` lines.  pandas is
not a pspread dependency: install it to get the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_MEASURE = r"""
import json, os, resource, sys, time
import psutil
{imports}
base = psutil.Process().memory_info().rss
t0 = time.perf_counter()
{work}
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
sys.stderr.write(json.dumps({{"seconds": seconds, "peak_mib": peak / 2**20, "above_base_mib": (peak - base) / 2**20}}) + "\n")
"""

_JOBS = {
    "pspread-read": ("from pspread.engine.edgelist import read_edge_list",
                     "g = read_edge_list(sys.argv[1])"),
    "pandas-read": ("import numpy as np, pandas as pd, scipy.sparse as sp",
                    "df = pd.read_csv(sys.argv[1], sep='\\t', header=None, names=['s', 't', 'w'])\n"
                    "codes, uniq = pd.factorize(pd.concat([df.s, df.t], ignore_index=True))\n"
                    "n = len(df)\n"
                    "m = sp.csr_matrix((df.w.to_numpy(np.float32), (codes[:n], codes[n:])), shape=(len(uniq),) * 2)\n"
                    "m.sum_duplicates(); m.eliminate_zeros()"),
    "pspread-convert": ("", "from pspread.cli.app import main\n"
                            "sys.argv = ['pspread', 'graph', 'convert', sys.argv[1], '-o', sys.argv[2], '--force']\n"
                            "try:\n    main()\nexcept SystemExit:\n    pass"),
    "pandas-convert": ("", "import numpy as np, pandas as pd, scipy.sparse as sp\n"
                           "df = pd.read_csv(sys.argv[1], sep='\\t', header=None, names=['s', 't', 'w'])\n"
                           "codes, uniq = pd.factorize(pd.concat([df.s, df.t], ignore_index=True))\n"
                           "n = len(df)\n"
                           "m = sp.csr_matrix((df.w.to_numpy(np.float32), (codes[:n], codes[n:])), shape=(len(uniq),) * 2)\n"
                           "m.sum_duplicates(); m.eliminate_zeros()\n"
                           "os.makedirs(sys.argv[2], exist_ok=True)\n"
                           "for k in ('indptr', 'indices', 'data'):\n"
                           "    np.save(os.path.join(sys.argv[2], k + '.npy'), getattr(m, k))\n"
                           "np.save(os.path.join(sys.argv[2], 'labels.npy'), np.asarray(uniq, dtype=object), allow_pickle=True)"),
}


def make_file(path: Path, nodes: int = 178_000, per_node: int = 10, seed: int = 1) -> int:
    """Write the labelled BA test file; returns its number of edges."""
    from pspread.engine.generators import barabasi_albert

    g = barabasi_albert(nodes, per_node, seed=seed)
    rows, cols = g.arc_rows(), np.asarray(g.indices)
    keep = rows < cols
    src, dst = rows[keep], cols[keep]
    rng = np.random.default_rng(seed + 1)
    order = rng.permutation(len(src))
    src, dst = src[order], dst[order]
    names = np.char.add("w", rng.choice(np.arange(100_000, 1_000_000), size=g.num_nodes, replace=False).astype(str))
    weights = np.char.mod("%.4f", rng.random(len(src)))
    with open(path, "w", encoding="utf-8") as out:
        for lo in range(0, len(src), 200_000):
            hi = lo + 200_000
            lines = np.char.add(np.char.add(np.char.add(np.char.add(names[src[lo:hi]], "\t"), names[dst[lo:hi]]), "\t"),
                                weights[lo:hi])
            out.write("\n".join(lines.tolist()) + "\n")
    return int(len(src))


def _run(job: str, file: Path, out: Path) -> dict[str, float]:
    imports, work = _JOBS[job]
    code = _MEASURE.format(imports=imports, work=work)
    res = subprocess.run([sys.executable, "-c", code, str(file), str(out)], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{job} failed: {res.stderr.strip()[-400:]}")
    wall = json.loads(res.stderr.strip().splitlines()[-1])
    return wall


def _whole_process(job: str, file: Path, out: Path) -> float:
    """Wall time of the whole process (start-up and imports included), for the convert pair."""
    imports, work = _JOBS[job]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", _MEASURE.format(imports=imports, work=work), str(file), str(out)],
                   capture_output=True, check=True)
    return time.perf_counter() - t0


def bench(file: Path, rounds: int, edges: int) -> dict[str, object]:
    try:
        import pandas  # noqa: F401
        pairs = [("pspread-read", "pandas-read"), ("pspread-convert", "pandas-convert")]
    except ImportError:
        pairs = [("pspread-read",), ("pspread-convert",)]  # type: ignore[list-item]
    figures: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="pspread-bench-") as tmp:
        for r in range(rounds):
            for pair in pairs:
                for job in (pair if r % 2 == 0 else pair[::-1]):  # alternate who goes first
                    out = Path(tmp) / f"{job}-{r}"
                    fig = _run(job, file, out)
                    if job.endswith("convert"):
                        fig["process_s"] = _whole_process(job, file, Path(tmp) / f"{job}-{r}-p")
                    figures.setdefault(job, []).append(fig)
    edge_mib = edges * 12 / 2**20  # int32 source, int32 target, float32 weight
    summary: dict[str, object] = {"file": str(file), "edges": edges, "edge_arrays_mib": round(edge_mib, 1),
                                  "load": os.getloadavg(), "rounds": rounds}
    for job, figs in figures.items():
        summary[job] = {k: round(float(np.median([f[k] for f in figs])), 3) for k in figs[0]}
        summary[job]["above_base_x_edge_arrays"] = round(summary[job]["above_base_mib"] / edge_mib, 2)  # type: ignore[index]
    for ours, theirs, key in (("pspread-read", "pandas-read", "seconds"),
                              ("pspread-convert", "pandas-convert", "process_s")):
        if ours in figures and theirs in figures:
            ratios = [a[key] / b[key] for a, b in zip(figures[ours], figures[theirs])]
            summary[f"{ours}/{theirs}"] = {"median": round(float(np.median(ratios)), 2),
                                           "each_round": [round(x, 2) for x in ratios]}
    return summary


def main(argv: list[str] | None = None) -> None:
    """Build (or reuse) the test file, run the interleaved rounds, print JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="edge list to use (default: generate the BA test file)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pspread-edges-") as tmp:
        file = args.file
        if file is None:
            file = Path(tmp) / "ba178k.tsv"
            edges = make_file(file)
        else:
            with open(file, "rb") as fh:
                edges = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        sys.stdout.write(json.dumps(bench(file, args.rounds, edges), indent=2) + "\n")


if __name__ == "__main__":
    main()
