"""Validation of a bundle's arrays at load, and the cache of its verdicts.

Why every array, every time a bundle is first opened: the kernels index with
the stored arrays in compiled loops without bounds checks, so one id out of
range in ``in_indices`` is a segmentation fault in a worker, and a NaN in
``p_data`` or a wrong ``out_weight`` is a silently wrong answer.  The checksums
in ``meta.json`` do not help there: a converter that wrote bad arrays wrote
matching checksums.  So load checks what the kernels rely on:

* dtype (exactly the bundle format's), native little-endian byte order, 1-D
  shape of the right length;
* ``indptr`` / ``in_indptr``: start at 0, never decrease, end at the arc count;
* ids in ``[0, n)``, weights finite and >= 0;
* the derived arrays against what they derive from: ``out_weight`` = the row
  sums of ``weights``, ``p_data`` = ``weights / out_weight``;
* the in-arc CSR is the transpose of the out-arc CSR (same arcs, same
  ``P_ij``): both sides' arcs are hashed and summed (a multiset hash, so the
  order within a row does not matter) and the sums must be equal;
* label offsets start at 0, never decrease, end at the blob's length, and fall
  on UTF-8 character boundaries.

This costs one pass over the arrays (compiled, ``_bundle_check_jit``), about
0.2 s for a 1M-node / 20M-arc bundle, so the verdict is cached: in the process,
and on disk (a small file per bundle under ``$PSPREAD_VERDICT_CACHE``, default
``$XDG_CACHE_HOME/pspread/verdicts`` or ``~/.cache/pspread/verdicts``; set it to
``off`` to disable).  The key is the ``meta.json`` bytes (which hold the
checksums) plus each array file's size, mtime, inode and device, so a file
changed after its check is checked again.  Only passing verdicts are cached;
where the cache folder cannot be written the check simply runs again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pspread.engine import _bundle_check_jit as jit
from pspread.errors import GraphError

#: change when the checks change, so verdicts of weaker checks are not reused
CHECK_VERSION = 1
CACHE_ENV = "PSPREAD_VERDICT_CACHE"
FIX = "the bundle is corrupt or was written by a broken tool -- regenerate it with `pspread graph generate` or " \
      "convert the edge list again with `pspread graph convert`"

#: the dtypes a bundle may hold, per array (little-endian; ids may be int32 or int64)
DTYPES: dict[str, tuple[str, ...]] = {
    "indptr": ("<i8",), "indices": ("<i4", "<i8"), "weights": ("<f4",), "out_weight": ("<f8",),
    "p_data": ("<f4",), "in_indptr": ("<i8",), "in_indices": ("<i4", "<i8"), "in_p_data": ("<f4",),
    "labels_blob": ("|u1",), "labels_offsets": ("<i8",),
}

_MEMO: dict[str, "Verdict"] = {}


@dataclass(frozen=True)
class Verdict:
    """A passing verdict: how long the check took when it ran, and where it came from."""

    ok: bool
    seconds: float
    cached: str  # "no" (checked now), "process" or "disk"

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "seconds": round(self.seconds, 4), "cached": self.cached}


# -------------------------------------------------------------------- checks
def check_arrays(bundle: Path, arrays: Mapping[str, np.ndarray], n: int, m: int) -> None:
    """Raise GraphError naming the first array that breaks the format; see the module docstring."""
    check_headers(bundle, arrays, n, m)
    indptr, indices, weights = arrays["indptr"], arrays["indices"], arrays["weights"]
    _check_offsets(bundle, "indptr", indptr, m)
    has_derived = "out_weight" in arrays and "p_data" in arrays
    out_weight = arrays.get("out_weight", np.zeros(n))
    p_data = arrays.get("p_data", np.zeros(m, np.float32))
    code, pos, fingerprint = jit.check_out(indptr, indices, weights, out_weight, p_data, p_data.view(np.uint32), n,
                                           has_derived)
    if code != jit.OK:
        raise GraphError(_out_message(bundle, code, pos, indptr, indices, weights, out_weight, p_data, n))
    if {"in_indptr", "in_indices", "in_p_data"} <= set(arrays):
        _check_transpose(bundle, arrays, indices, fingerprint, n, m, has_derived)
    if "labels_offsets" in arrays and "labels_blob" in arrays:
        _check_labels(bundle, arrays["labels_blob"], arrays["labels_offsets"])


def check_headers(bundle: Path, arrays: Mapping[str, np.ndarray], n: int, m: int) -> None:
    """dtype, byte order and shape of every array, before any value is read.

    Why first and always (it is O(1)): every later step reads values as the
    format's types -- ``int(indptr[0])`` of a float16 infinity is an
    OverflowError, of a NaN a ValueError, and ``len()`` of a 0-d array a
    TypeError -- so a wrong dtype or shape must be refused before any of them.
    """
    for name, arr in arrays.items():
        _check_header(bundle, name, arr, n, m)


def _check_header(bundle: Path, name: str, arr: np.ndarray, n: int, m: int) -> None:
    """dtype, byte order and shape: read from the header, no data touched."""
    want = DTYPES.get(name)
    if want is None:
        return
    got = arr.dtype.str
    if got not in want:
        swapped = arr.dtype.newbyteorder("<").str if arr.dtype.byteorder == ">" else None
        why = (f"is stored big-endian ({got}); pspread reads little-endian arrays only" if swapped in want
               else f"has dtype {got} ({arr.dtype.name}); the format needs {' or '.join(want)}")
        raise GraphError(f"{bundle}: array {name!r} {why}; {FIX}")
    length = {"indptr": n + 1, "in_indptr": n + 1, "out_weight": n, "labels_offsets": n + 1}.get(name, m)
    if arr.ndim != 1 or (name != "labels_blob" and arr.shape[0] != length):
        raise GraphError(f"{bundle}: array {name!r} has shape {list(arr.shape)}, expected [{length}] "
                         f"for {n} nodes and {m} arcs; {FIX}")


def check_csr_ends(bundle: Path, prefix: str, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                   n: int) -> None:
    """The cheap consistency checks (O(1)) every load makes: lengths and the ends of indptr.

    The dtypes were checked before (``check_headers``); the integer check here
    keeps ``int()`` safe for any caller all the same.
    """
    label = prefix or "out-edge"
    if indptr.dtype.kind not in "iu":
        raise GraphError(f"{bundle}: array '{prefix}indptr' has dtype {indptr.dtype.str}, not an integer type; {FIX}")
    if indptr.ndim != 1 or indices.ndim != 1 or data.ndim != 1 or len(indptr) != n + 1:
        raise GraphError(f"{bundle}: array '{prefix}indptr' has shape {list(indptr.shape)}, expected [{n + 1}] "
                         f"(or its CSR arrays are not 1-D); {FIX}")
    if int(indptr[0]) != 0 or int(indptr[-1]) != len(indices) or len(data) != len(indices):
        raise GraphError(
            f"{bundle}: {label} CSR arrays disagree (indptr runs {int(indptr[0])}..{int(indptr[-1])}, "
            f"{len(indices)} indices, {len(data)} values); {FIX}"
        )


def _check_offsets(bundle: Path, name: str, ptr: np.ndarray, end: int, what: str = "the arc count") -> None:
    code, k = jit.check_indptr(ptr, end)
    if code == jit.PTR_START:
        why = f"starts at {int(ptr[0])}, not 0"
    elif code == jit.PTR_DECREASES:
        why = f"decreases at entry {k} ({int(ptr[k - 1])} then {int(ptr[k])}); offsets must never decrease"
    elif code == jit.PTR_END:
        why = f"ends at {int(ptr[-1])}, not at {what} {end}"
    else:
        return
    raise GraphError(f"{bundle}: array {name!r} {why}; {FIX}")


def _out_message(bundle: Path, code: int, pos: int, indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray,
                 out_weight: np.ndarray, p_data: np.ndarray, n: int) -> str:
    if code == jit.ID_RANGE:
        why = f"array 'indices' holds node id {int(indices[pos])} at arc {pos}, outside [0, {n})"
    elif code == jit.WEIGHT_BAD:
        why = f"array 'weights' holds {float(weights[pos])!r} at arc {pos}; weights must be finite and >= 0"
    elif code == jit.OUT_WEIGHT_BAD:
        why = f"array 'out_weight' holds {float(out_weight[pos])!r} at node {pos}; it must be finite and >= 0"
    elif code == jit.OUT_WEIGHT_SUM:
        lo, hi = int(indptr[pos]), int(indptr[pos + 1])
        total = float(np.asarray(weights[lo:hi], dtype=np.float64).sum())
        why = (f"array 'out_weight' says node {pos} has weighted out-degree {float(out_weight[pos])!r}, "
               f"but its arcs' weights sum to {total!r}")
    elif code == jit.P_BAD:
        why = f"array 'p_data' holds {float(p_data[pos])!r} at arc {pos}; transition weights lie in [0, 1]"
    else:
        row = int(np.searchsorted(indptr, pos, side="right")) - 1
        want = float(weights[pos]) / float(out_weight[row])
        why = (f"array 'p_data' holds {float(p_data[pos])!r} at arc {pos}, but weights/out_weight "
               f"gives {want!r} there")
    return f"{bundle}: {why}; {FIX}"


def _check_transpose(bundle: Path, arrays: Mapping[str, np.ndarray], indices: np.ndarray, fingerprint: int | np.uint64,
                     n: int, m: int, has_derived: bool) -> None:
    in_indptr, in_indices, in_p = arrays["in_indptr"], arrays["in_indices"], arrays["in_p_data"]
    _check_offsets(bundle, "in_indptr", in_indptr, m)
    if not has_derived:
        raise GraphError(f"{bundle}: the in-arc arrays are stored without 'p_data'/'out_weight'; {FIX}")
    code, pos, got = jit.check_in(in_indptr, in_indices, in_p, in_p.view(np.uint32))
    if code == jit.IN_ID_RANGE:
        why = f"array 'in_indices' holds node id {int(in_indices[pos])} at position {pos}, outside [0, {n})"
    elif code == jit.IN_P_BAD:
        why = f"array 'in_p_data' holds {float(in_p[pos])!r} at position {pos}; transition weights lie in [0, 1]"
    elif got != fingerprint:
        counts = np.bincount(np.asarray(indices), minlength=n)
        rows = np.flatnonzero(counts != np.diff(np.asarray(in_indptr)))
        where = (f"node {int(rows[0])} has {int(counts[rows[0]])} arcs into it but "
                 f"{int(in_indptr[rows[0] + 1] - in_indptr[rows[0]])} in-arcs" if len(rows)
                 else "the same counts per node, but different sources or P values")
        why = (f"arrays 'in_indptr'/'in_indices'/'in_p_data' are not the transpose of 'indices'/'p_data' "
               f"({where})")
    else:
        return
    raise GraphError(f"{bundle}: {why}; {FIX}")


def _check_labels(bundle: Path, blob: np.ndarray, offsets: np.ndarray) -> None:
    _check_offsets(bundle, "labels_offsets", offsets, len(blob), "the length of 'labels_blob'")
    starts = np.asarray(offsets[:-1])
    starts = starts[starts < len(blob)]
    if len(starts) and np.any((np.asarray(blob)[starts] & 0xC0) == 0x80):
        raise GraphError(f"{bundle}: array 'labels_offsets' splits a UTF-8 character; {FIX}")
    try:
        np.asarray(blob).tobytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GraphError(f"{bundle}: array 'labels_blob' is not UTF-8 text (byte {exc.start}); {FIX}") from None


# --------------------------------------------------------------------- cache
def cache_dir() -> Path | None:
    """Where passing verdicts are kept on disk (None: disabled or no home)."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    try:
        base = Path(xdg) if xdg else Path.home() / ".cache"
    except (RuntimeError, KeyError):  # no home directory to be found
        return None
    return base / "pspread" / "verdicts"


def verdict_key(bundle: Path, meta_bytes: bytes, files: list[str]) -> str:
    """Content of meta.json (its checksums) plus the identity of every array file."""
    h = hashlib.sha256(f"pspread-check-{CHECK_VERSION}\0".encode())
    h.update(meta_bytes)
    for name in sorted(files):
        st = os.stat(bundle / name)
        h.update(f"\0{name}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_dev}".encode())
    return h.hexdigest()


def cached_verdict(key: str) -> Verdict | None:
    """A passing verdict for ``key`` from this process or from disk."""
    if key in _MEMO:
        v = _MEMO[key]
        return Verdict(True, v.seconds, "process")
    folder = cache_dir()
    if folder is None:
        return None
    try:
        data = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        seconds = float(data["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    _MEMO[key] = Verdict(True, seconds, "no")
    return Verdict(True, seconds, "disk")


def store_verdict(key: str, bundle: Path, seconds: float) -> None:
    """Remember a passing verdict; a cache folder that cannot be written is skipped silently."""
    _MEMO[key] = Verdict(True, seconds, "no")
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".verdict-", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"bundle": str(bundle), "seconds": seconds, "check_version": CHECK_VERSION,
                       "checked": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, fh)
        os.replace(tmp, folder / f"{key}.json")
    except OSError:
        try:
            os.unlink(tmp)
        except (OSError, NameError):
            pass


def validate_bundle_arrays(bundle: Path, meta_bytes: bytes, files: list[str], arrays: Mapping[str, np.ndarray],
                           n: int, m: int) -> Verdict:
    """Check the arrays once per bundle version: a cached pass, or a full check (and cache it)."""
    key = verdict_key(bundle, meta_bytes, files)
    hit = cached_verdict(key)
    if hit is not None:
        return hit
    t0 = time.perf_counter()
    check_arrays(bundle, arrays, n, m)
    seconds = time.perf_counter() - t0
    store_verdict(key, bundle, seconds)
    return Verdict(True, seconds, "no")


def forget_verdicts() -> None:
    """Drop this process's memo (tests; a bundle rewritten in place gets new file identities anyway)."""
    _MEMO.clear()


__all__ = ["Verdict", "check_arrays", "check_headers", "check_csr_ends", "validate_bundle_arrays", "cache_dir",
           "forget_verdicts", "CACHE_ENV", "DTYPES"]
