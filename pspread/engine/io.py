"""Graph bundles: a folder of ``.npy`` arrays plus ``meta.json``, opened with mmap.

Why a folder of plain ``.npy`` files: every worker process opens the bundle with
``numpy.load(mmap_mode="r")``, so all of them share one copy of the arrays
through the page cache and "loading" a 1M-node / 10M-edge graph costs only a
few header reads.  The bundle also holds the arrays ``Graph`` would otherwise
derive in every process (out-weights, transition weights, the in-edge CSR).

Layout (``format_version`` 1)::

    bundle/
      meta.json          format, version, counts, directed, source, labels, arrays
      indptr.npy         int64   [n+1]   out-edge CSR
      indices.npy        int32   [m]     (int64 past 2**31-1 nodes)
      weights.npy        float32 [m]
      out_weight.npy     float64 [n]     weighted out-degree
      p_data.npy         float32 [m]     P_ij = w_ij / d_i
      in_indptr.npy, in_indices.npy, in_p_data.npy    in-edge CSR of P
      labels_blob.npy, labels_offsets.npy             only for explicit labels

Bundles are written into a temporary sibling folder and renamed into place, so a
reader never sees half a bundle and a failed save leaves nothing behind.  Each
array carries a CRC-32 of its bytes, checked on request (``verify=True``), since
reading every byte would defeat the point of mmap.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from pspread.engine.bundle_check import Verdict, check_csr_ends, check_headers, validate_bundle_arrays
from pspread.engine.graph import Graph
from pspread.engine.labels import ArrayLabels, Labels, PrefixLabels
from pspread.engine.tempdirs import owned_tempdir
from pspread.errors import GraphError

FORMAT = "pspread-graph"
FORMAT_VERSION = 1
META = "meta.json"
_FIX = "rebuild it with `pspread graph convert` or `pspread graph generate`"
_CRC_BLOCK = 1 << 24


# ------------------------------------------------------------------ helpers
def _crc32(arr: np.ndarray) -> str:
    """CRC-32 of an array's bytes, in blocks (cheap on memory, fast in zlib)."""
    flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    crc = 0
    for start in range(0, len(flat), _CRC_BLOCK):
        crc = zlib.crc32(flat[start:start + _CRC_BLOCK].data, crc)
    return f"crc32:{crc:08x}"


def _bundle_arrays(graph: Graph) -> dict[str, np.ndarray]:
    """Every array a bundle stores, derived ones included."""
    in_indptr, in_indices, in_p = graph.transpose_csr
    arrays: dict[str, np.ndarray] = {
        "indptr": graph.indptr,
        "indices": graph.indices,
        "weights": graph.weights,
        "out_weight": graph.out_weight,
        "p_data": graph.p_data,
        "in_indptr": in_indptr,
        "in_indices": in_indices,
        "in_p_data": in_p,
    }
    if isinstance(graph.labels, ArrayLabels):
        arrays["labels_blob"] = graph.labels.blob
        arrays["labels_offsets"] = graph.labels.offsets
    return arrays


def _labels_meta(labels: Labels) -> dict[str, Any]:
    if isinstance(labels, PrefixLabels):
        return {"kind": "prefix", "prefix": labels.prefix}
    if isinstance(labels, ArrayLabels):
        return {"kind": "array"}
    # any other Labels implementation is stored explicitly
    return {"kind": "array"}


def is_bundle(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a folder holding a ``meta.json``."""
    p = Path(path)
    return p.is_dir() and (p / META).is_file()


# --------------------------------------------------------------------- save
def check_replaceable(target: Path, overwrite: bool, keep: Path | None = None) -> None:
    """Refuse to write over ``target`` unless it is a pspread bundle folder and ``overwrite`` is set.

    A plain file, a device such as /dev/null, a symlink or a folder that is not
    a bundle is never replaced; nor a bundle holding ``keep`` (the input being
    converted).
    """
    if not (target.exists() or target.is_symlink()):
        return
    if not overwrite:
        raise GraphError(f"{target}: already exists; choose another output path or pass overwrite (--force)")
    if target.is_symlink() or not is_bundle(target):
        kind = ("a symlink" if target.is_symlink() else "a folder but not a graph bundle" if target.is_dir()
                else "a file, not a graph bundle")
        raise GraphError(f"{target}: is {kind}; --force only replaces a pspread bundle folder -- "
                         "choose another output path")
    if keep is not None:
        inside = keep.resolve()
        if inside == target.resolve() or target.resolve() in inside.parents:
            raise GraphError(f"{target}: holds the input {keep}; replacing it would delete the input -- "
                             "choose another output path")


def save_graph(graph: Graph, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write ``graph`` as a bundle folder at ``path`` and return the path.

    An existing path is refused unless ``overwrite=True``; even then only an
    existing pspread bundle folder is replaced (``check_replaceable``).
    """
    target = Path(path)
    check_replaceable(target, overwrite)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    labels = graph.labels
    if not isinstance(labels, (PrefixLabels, ArrayLabels)):
        labels = ArrayLabels.from_strings(labels.to_list())
        graph = Graph(graph.indptr, graph.indices, graph.weights, labels=labels, directed=graph.directed,
                      source=graph.source, validate=False)
    tmp = owned_tempdir(f".{target.name}.tmp-", parent)  # a killed run's leftovers go at the next save
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a bundle is meant to be shared
        meta: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "num_nodes": graph.num_nodes,
            "num_arcs": graph.num_arcs,
            "directed": graph.directed,
            "source": graph.source,
            "labels": _labels_meta(labels),
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "arrays": {},
        }
        for name, arr in _bundle_arrays(graph).items():
            arr = np.ascontiguousarray(arr)
            np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
            meta["arrays"][name] = {
                "file": f"{name}.npy",
                "dtype": arr.dtype.str,
                "shape": list(arr.shape),
                "checksum": _crc32(arr),
            }
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        _move_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _move_into_place(tmp: Path, target: Path) -> None:
    """Rename the finished temp folder onto ``target`` (replacing an old bundle)."""
    if not (target.exists() or target.is_symlink()):
        os.rename(tmp, target)
        return
    trash = owned_tempdir(f".{target.name}.old-", target.parent)
    old = trash / "old"
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)  # put the old bundle back
        shutil.rmtree(trash, ignore_errors=True)
        raise
    shutil.rmtree(trash, ignore_errors=True)


# --------------------------------------------------------------------- load
def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed and checked ``meta.json`` of a bundle."""
    return _read_meta(Path(path))[0]


def _read_meta(bundle: Path) -> tuple[dict[str, Any], bytes]:
    """``read_meta`` plus the raw bytes of meta.json (part of the verdict cache key)."""
    meta_path = bundle / META
    try:
        raw = meta_path.read_bytes()
        meta = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise GraphError(f"{bundle}: not a graph bundle (no {META}); {_FIX}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GraphError(f"{meta_path}: unreadable ({exc}); {_FIX}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise GraphError(f"{meta_path}: not a pspread graph bundle (format is not {FORMAT!r}); {_FIX}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise GraphError(
            f"{bundle}: bundle format version {version!r}, but this pspread reads version {FORMAT_VERSION}; {_FIX}"
        )
    arrays = meta.get("arrays")
    for key in ("num_nodes", "num_arcs"):
        if not isinstance(meta.get(key), int) or meta[key] < 0:
            raise GraphError(f"{meta_path}: {key} is missing or not a count; {_FIX}")
    if not isinstance(arrays, dict):
        raise GraphError(f"{meta_path}: the 'arrays' table is missing; {_FIX}")
    for name in ("indptr", "indices", "weights"):
        if name not in arrays:
            raise GraphError(f"{meta_path}: array {name!r} is not listed; {_FIX}")
    return meta, raw


def _open_array(bundle: Path, name: str, spec: Any, mmap: bool) -> np.ndarray:
    """mmap one array and check it against its meta entry (header only, no data read)."""
    if not isinstance(spec, dict) or not {"file", "dtype", "shape"} <= set(spec) \
            or not isinstance(spec["file"], str) or not isinstance(spec["dtype"], str) \
            or not isinstance(spec["shape"], list):
        raise GraphError(f"{bundle}: meta.json entry for array {name!r} is incomplete or malformed "
                         f"(it needs a file name, a dtype string and a shape list); {_FIX}")
    file = bundle / str(spec["file"])
    if Path(spec["file"]).name != spec["file"]:
        raise GraphError(f"{bundle}: array {name!r} points outside the bundle ({spec['file']!r}); {_FIX}")
    try:
        arr: np.ndarray = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise GraphError(f"{bundle}: array {name!r} is missing ({file.name}); {_FIX}") from None
    except (ValueError, OSError, EOFError) as exc:
        raise GraphError(f"{bundle}: array {name!r} ({file.name}) is truncated or corrupt ({exc}); {_FIX}") from None
    if arr.dtype.str != spec["dtype"] or list(arr.shape) != list(spec["shape"]):
        raise GraphError(
            f"{bundle}: array {name!r} has dtype {arr.dtype.str} shape {list(arr.shape)} but meta.json says "
            f"{spec['dtype']} {list(spec['shape'])}; {_FIX}"
        )
    return arr


def load_bundle(
    path: str | os.PathLike[str], validate: bool = True, verify: bool = False, mmap: bool = True
) -> Graph:
    """Open a bundle with mmap (no copy).

    ``validate=True`` (the default) checks every array once per bundle version
    (``bundle_check``: dtypes, ranges, derived arrays, the transpose; the verdict
    is cached), so a corrupt bundle is a GraphError here, never a crash or a wrong
    answer later.  ``validate=False`` keeps only the O(1) header checks (dtype,
    byte order, shape: always first, before any value is read) and lengths: for
    callers that checked the bundle themselves.  ``verify=True`` also checks
    every checksum (reads every byte).
    """
    return _open_bundle(Path(path), validate, verify, mmap)[0]


def check_bundle(path: str | os.PathLike[str]) -> Verdict:
    """The validation verdict of a bundle, exactly as ``load_bundle`` reaches it (GraphError if it fails)."""
    verdict = _open_bundle(Path(path), True, False, True)[1]
    assert verdict is not None  # validation always reaches a verdict
    return verdict


def _open_bundle(bundle: Path, validate: bool, verify: bool, mmap: bool) -> tuple[Graph, Verdict | None]:
    meta, meta_bytes = _read_meta(bundle)
    if verify:
        verify_bundle(bundle, meta)
    specs = meta["arrays"]
    arrays = {name: _open_array(bundle, name, spec, mmap) for name, spec in specs.items()}
    n, m = int(meta["num_nodes"]), int(meta["num_arcs"])
    check_headers(bundle, arrays, n, m)  # dtype and shape before any value is read (O(1))
    indptr, indices, weights = arrays["indptr"], arrays["indices"], arrays["weights"]
    if len(indices) != m:
        raise GraphError(f"{bundle}: array 'indices' has {len(indices)} entries, meta.json says {m} arcs; {_FIX}")
    check_csr_ends(bundle, "", indptr, indices, weights, n)
    verdict = None
    if validate:
        verdict = validate_bundle_arrays(bundle, meta_bytes, [str(s["file"]) for s in specs.values()],
                                         arrays, n, m)
    derived: dict[str, Any] = {}
    if "out_weight" in arrays and "p_data" in arrays:
        if len(arrays["out_weight"]) != n or len(arrays["p_data"]) != m:
            raise GraphError(f"{bundle}: arrays 'out_weight'/'p_data' do not match the graph's size; {_FIX}")
        derived["out_weight"] = arrays["out_weight"]
        derived["p_data"] = arrays["p_data"]
    if {"in_indptr", "in_indices", "in_p_data"} <= set(arrays):
        t = (arrays["in_indptr"], arrays["in_indices"], arrays["in_p_data"])
        check_csr_ends(bundle, "in_", *t, n)
        derived["transpose_csr"] = t
    labels = _load_labels(bundle, meta, arrays, n)
    # the arrays were checked above (more thoroughly than Graph's own checks)
    graph = Graph(indptr, indices, weights, labels=labels, directed=bool(meta.get("directed", True)),
                  source=str(meta.get("source", bundle)), derived=derived, validate=False)
    return graph, verdict


def _load_labels(bundle: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray], n: int) -> Labels:
    spec = meta.get("labels") or {"kind": "prefix", "prefix": "n"}
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind == "prefix":
        return PrefixLabels(n, str(spec.get("prefix", "n")))
    if kind == "array":
        if "labels_blob" not in arrays or "labels_offsets" not in arrays:
            raise GraphError(f"{bundle}: labels are explicit but array 'labels_blob' or 'labels_offsets' is missing; {_FIX}")
        offsets = arrays["labels_offsets"]
        if len(offsets) != n + 1:
            raise GraphError(f"{bundle}: array 'labels_offsets' has {len(offsets)} entries, expected {n + 1}; {_FIX}")
        try:
            return ArrayLabels(arrays["labels_blob"], offsets)
        except GraphError as exc:
            raise GraphError(f"{bundle}: {exc}") from None
    raise GraphError(f"{bundle}: unknown labels kind {kind!r} in meta.json; {_FIX}")


def verify_bundle(path: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> dict[str, str]:
    """Recompute every array's checksum; raise GraphError naming the first that differs."""
    bundle = Path(path)
    meta = meta or read_meta(bundle)
    results: dict[str, str] = {}
    for name, spec in meta["arrays"].items():
        arr = _open_array(bundle, name, spec, mmap=True)
        want = spec.get("checksum")
        got = _crc32(arr)
        if want is not None and got != want:
            raise GraphError(f"{bundle}: array {name!r} fails its checksum ({got}, meta.json says {want}); "
                             f"the file is corrupt -- {_FIX}")
        results[name] = got
    return results


def load_graph(
    path: str | os.PathLike[str], directed: bool = False, validate: bool = True, verify: bool = False,
    **edge_list_options: Any,
) -> Graph:
    """Load a graph: a bundle folder (mmap, no copy), an edge-list file (parsed), or a shipped example (``karate``).

    ``directed`` (default False: each line an edge both ways, as the CLI and
    scenarios read it) and ``edge_list_options`` (delimiter, header, progress)
    apply to edge lists only; a bundle records whether it is directed.
    """
    from pspread.engine.examples import shipped_example

    p = shipped_example(path) or Path(path)
    if p.is_dir():
        return load_bundle(p, validate=validate, verify=verify)
    if not p.exists():
        raise GraphError(f"{p}: no such graph file or bundle; create one with `pspread graph generate` or "
                         "`pspread graph convert`")
    from pspread.engine.edgelist import read_edge_list

    return read_edge_list(p, directed=directed, **edge_list_options)


# --------------------------------------------------------------------- info
def graph_info(graph: Graph, bundle: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Summary figures of a graph (and of its bundle on disk, when given)."""
    deg = np.asarray(graph.out_degree())
    n = graph.num_nodes
    info: dict[str, Any] = {
        "source": graph.source,
        "directed": graph.directed,
        "num_nodes": n,
        "num_arcs": graph.num_arcs,
        "num_edges": graph.num_arcs if graph.directed else _undirected_edges(graph),
        "labels": "prefix" if isinstance(graph.labels, PrefixLabels) else "array",
        "out_degree": {
            "min": int(deg.min()) if n else 0,
            "mean": float(deg.mean()) if n else 0.0,
            "median": float(np.median(deg)) if n else 0.0,
            "max": int(deg.max()) if n else 0,
        },
        "sinks": int(np.count_nonzero(np.asarray(graph.out_weight) <= 0)),
        "isolated": int(np.count_nonzero((deg == 0) & (np.bincount(np.asarray(graph.indices), minlength=n) == 0)))
        if n else 0,
        "memory_bytes": graph.nbytes(),
    }
    if bundle is not None:
        b = Path(bundle)
        meta = read_meta(b)
        info["format_version"] = meta["format_version"]
        info["created"] = meta.get("created")
        info["disk_bytes"] = sum((b / spec["file"]).stat().st_size for spec in meta["arrays"].values())
        info["arrays"] = {name: {"dtype": spec["dtype"], "shape": spec["shape"],
                                 "bytes": (b / spec["file"]).stat().st_size}
                          for name, spec in meta["arrays"].items()}
    return info


def _undirected_edges(graph: Graph) -> int:
    """Edges of an undirected graph: each non-loop edge is two arcs, a loop one."""
    rows = graph.arc_rows()
    loops = int(np.count_nonzero(rows == np.asarray(graph.indices)))
    return (graph.num_arcs - loops) // 2 + loops


__all__ = ["save_graph", "load_graph", "load_bundle", "check_bundle", "read_meta", "verify_bundle", "graph_info", "is_bundle",
           "FORMAT", "FORMAT_VERSION"]
