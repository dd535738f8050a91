"""Edge-list files (TSV/CSV/whitespace, ``source target [weight]``) -> ``Graph``.

Real graphs arrive as text: word-association norms, knowledge-graph dumps,
SNAP files, with tens of millions of lines.  pyarrow's CSV reader is made for
exactly this: a multi-threaded C++ parser that handles quoted fields (a label
holding the delimiter), a UTF-8 BOM and CRLF line ends correctly and hands the
columns over as Arrow arrays without making a Python object per field.  This
module decides the layout from the first lines (``sniff``), streams the file
through pyarrow in batches (``edgelist_text.CleanStream`` removes comments and
tracks line numbers), checks every value in vectorised form, interns labels
(``interning.LabelInterner``) and builds the CSR.

Nothing is ever silently dropped or bent: a value that cannot go into the
bundle as written -- a weight that is NaN, negative, or overflows or underflows
float32, an id too large or negative, a missing column, a damaged gzip
archive, an id space so sparse that the node arrays would take gigabytes -- is a
``GraphError`` naming the file, the line and the fix.  The exact rules are in
``docs/edge-lists.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.csv as pacsv

from pspread.engine.edgelist_text import (
    BOM,
    FORMAT_HINT,
    MAX_INT_ID,
    READ_ERRORS,
    CleanStream,
    Layout,
    LineMap,
    NeedLabels,
    Progress,
    RawStream,
    diagnose,
    id_problem,
    open_binary,
    read_failed,
    split_fields,
    stray_bom,
    weight_problem,
)
from pspread.engine.graph import Graph, csr_from_arcs
from pspread.engine.interning import POOL, LabelInterner, blob_and_offsets, numpy_view
from pspread.engine.labels import ArrayLabels
from pspread.errors import GraphError

CHUNK_BYTES = 8 << 20
BLOCK_BYTES = 1 << 20  # pyarrow parse block: 1 MiB parses as fast as 4 and keeps the peak ~40 MiB lower
SPARSE_FACTOR = 16  # integer ids: at most 16 nodes per edge (or 2**20 nodes), see docs/edge-lists.md
SPARSE_FLOOR = 1 << 20
NODE_BYTES = 40  # bytes per node of a bundle being built: indptr x2 (int64), out-weight, scratch
ARC_BYTES = 40  # bytes per arc while the CSR and its transpose are built
HEADER_NAMES = {
    b"source", b"target", b"src", b"dst", b"from", b"to", b"node1", b"node2", b"head", b"tail",
    b"source_id", b"target_id", b"cue", b"response", b"weight", b"id1", b"id2", b"node", b"neighbor",
}
_DELIMS = {"tab": b"\t", "\\t": b"\t", "\t": b"\t", "comma": b",", ",": b",", "whitespace": None,
           "space": None, " ": None, ";": b";", "semicolon": b";", "|": b"|"}


# ------------------------------------------------------------------ layout
def _is_int(token: bytes) -> bool:
    t = token[1:] if token[:1] in (b"-", b"+") else token
    return t.isdigit()


def _is_float(token: bytes) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def sniff(path: Path, head: bytes, delimiter: str | None, header: bool | None, labels: bool | None) -> Layout:
    """Delimiter, column count, header and id mode from the first lines (BOM removed)."""
    head = head[3:] if head.startswith(BOM) else head
    data: list[tuple[int, bytes]] = []
    for i, raw in enumerate(head.replace(b"\r", b"").split(b"\n")):
        line = raw.strip()
        if line and not line.startswith(b"#"):
            data.append((i, raw))
        if len(data) >= 2:
            break
    if not data:
        raise GraphError(f"{path}: the file has no edges (it is empty or holds only comments); {FORMAT_HINT}")
    first_idx, first = data[0]
    if delimiter is None:
        delim = b"\t" if b"\t" in first else b"," if b"," in first else None
    else:
        key = delimiter if delimiter in _DELIMS else delimiter.lower()
        if key not in _DELIMS:
            raise GraphError(f"delimiter {delimiter!r} is not supported; use tab, comma, semicolon, | or whitespace")
        delim = _DELIMS[key]
    fields = split_fields(first, delim)
    ncols = len(fields)
    where = f"{path}, line {first_idx + 1}"
    if ncols < 2:
        raise GraphError(f"{where}: one column only ({first.strip()[:60]!r}); {FORMAT_HINT}")
    if ncols > 3:
        raise GraphError(f"{where}: {ncols} columns, expected 2 or 3 (source, target, optional weight); "
                         "drop the extra columns")
    if header is None:
        named = fields[0].lower() in HEADER_NAMES or fields[1].lower() in HEADER_NAMES
        bad_weight = ncols == 3 and not _is_float(fields[2])
        lone_text = False
        if len(data) > 1 and not (_is_int(fields[0]) and _is_int(fields[1])):
            nxt = split_fields(data[1][1], delim)
            lone_text = len(nxt) >= 2 and _is_int(nxt[0]) and _is_int(nxt[1])
        header = named or bad_weight or lone_text
    skip = first_idx + 1 if header else first_idx
    if labels is None:
        probe = split_fields(data[1][1], delim) if header and len(data) > 1 else (None if header else fields)
        labels = probe is not None and not (len(probe) >= 2 and _is_int(probe[0]) and _is_int(probe[1]))
    return Layout(delim, ncols, bool(header), bool(labels), skip)


# ----------------------------------------------------------------- parsing
class _Columns:
    """What the batches add up to: ids (or the interner), weights, the line map."""

    def __init__(self, labels: bool) -> None:
        self.interner = LabelInterner() if labels else None
        self.src: list[np.ndarray] = []
        self.dst: list[np.ndarray] = []
        self.weights: list[np.ndarray] = []
        self.lines = LineMap()
        self.rows = 0


def _arrow_options(layout: Layout, clean: bool
                   ) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    names = ["source", "target", "weight"][:layout.ncols]
    id_type = pa.binary() if layout.labels else pa.int64()
    types = {"source": id_type, "target": id_type, "weight": pa.float64()}
    read = pacsv.ReadOptions(column_names=names, block_size=BLOCK_BYTES, skip_rows=0 if clean else layout.skip_lines)
    # unaided, an empty line must be an error (a row that is missing), or rows and lines would drift apart
    parse = pacsv.ParseOptions(delimiter=(layout.delim or b"\t").decode(), quote_char='"', double_quote=True,
                               newlines_in_values=False, ignore_empty_lines=clean)
    convert = pacsv.ConvertOptions(column_types={k: types[k] for k in names}, null_values=[],
                                   strings_can_be_null=False, quoted_strings_can_be_null=False)
    return read, parse, convert


class _Retry(Exception):
    """The file needs the cleaning stream (comments, blank lines, an error to locate)."""


def _read(path: Path, layout: Layout, labels_option: bool | None, chunk_bytes: int,
          progress: Progress | None, clean: bool) -> _Columns:
    """Parse every batch; unaided (``clean=False``) any surprise raises ``_Retry``."""
    cols = _Columns(layout.labels)
    stream: RawStream | CleanStream
    if clean:
        stream = CleanStream(path, layout, chunk_bytes, progress)
        cols.lines = stream.lines
    else:
        stream = RawStream(path, progress, chunk_bytes)
        cols.lines = LineMap.straight(layout.skip_lines + 1)
    read, parse, convert = _arrow_options(layout, clean)
    try:
        with pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert,
                            memory_pool=POOL) as reader:
            for batch in reader:
                _take_batch(path, batch, layout, cols)
    except pa.ArrowInvalid as exc:
        if not clean:
            raise _Retry() from None
        if cols.lines.rows == 0:
            return cols  # nothing but a header, comments and blank lines: the caller says so
        where = cols.lines.line(cols.rows) if cols.rows < cols.lines.rows else 1
        diagnose(path, layout, from_line=where, labels=labels_option)
        diagnose(path, layout, from_line=1, labels=labels_option)  # the block boundary was a guess
        raise GraphError(f"{path}: cannot be parsed ({str(exc).splitlines()[0]}); {FORMAT_HINT}") from None
    except GraphError:
        if not clean:
            raise _Retry() from None  # a comment line read as an edge would shift the line named
        raise
    except READ_ERRORS as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise read_failed(path, exc) from None
    finally:
        stream.close()
    return cols


def _take_batch(path: Path, batch: pa.RecordBatch, layout: Layout, cols: _Columns) -> None:
    """Check one batch of rows and keep its ids and weights."""
    first_row = cols.rows
    if cols.interner is not None:
        cols.interner.add(batch.column(0), batch.column(1))
    else:
        for name, col, out in (("source", batch.column(0), cols.src), ("target", batch.column(1), cols.dst)):
            ids = numpy_view(col)
            bad = np.flatnonzero((ids < 0) | (ids > MAX_INT_ID))
            if len(bad):
                row = int(bad[0])
                raise GraphError(f"{path}, line {cols.lines.line(first_row + row)}: "
                                 f"{id_problem(name, int(ids[row]))}")
            out.append(ids.astype(np.int32))
    if layout.ncols == 3:
        w = numpy_view(batch.column(2))
        with np.errstate(over="ignore"):
            w32 = w.astype(np.float32)
        bad = np.flatnonzero(~(w >= 0) | np.isinf(w32) | ((w32 == 0) & (w != 0)))
        if len(bad):
            row = int(bad[0])
            raise GraphError(f"{path}, line {cols.lines.line(first_row + row)}: "
                             f"{weight_problem(float(w[row]), repr(float(w[row])))}")
        cols.weights.append(w32)
    cols.rows += batch.num_rows


# ------------------------------------------------------------------ labels
def _line_of_node(cols: _Columns, src: np.ndarray, dst: np.ndarray, node: int) -> int:
    return cols.lines.line(int(np.flatnonzero((src == node) | (dst == node))[0]))


def _finish_labels(path: Path, layout: Layout, cols: _Columns
                   ) -> tuple[np.ndarray, np.ndarray, ArrayLabels]:
    """Interned ids plus checked labels: stripped, non-empty, one line each, UTF-8."""
    assert cols.interner is not None
    src, dst, names = cols.interner.finish()
    cols.interner = None
    blob, offsets = blob_and_offsets(names)
    if layout.delim is None and len(blob):
        blob[blob == 9] = 32  # a quoted label with spaces in a whitespace-separated file
    starts, ends = offsets[:-1], offsets[1:]
    nonempty = ends > starts
    edge_blank = np.zeros(len(starts), dtype=bool)
    if len(blob):
        edge_blank[nonempty] = (np.isin(blob[starts[nonempty]], (9, 32)) | np.isin(blob[ends[nonempty] - 1], (9, 32)))
    if edge_blank.any():  # padding around fields: strip it, and merge labels that become equal
        src, dst, blob, offsets = _strip_labels(src, dst, blob, offsets)
        starts, ends = offsets[:-1], offsets[1:]
    empty = np.flatnonzero(ends == starts)
    if len(empty):
        line = _line_of_node(cols, src, dst, int(empty[0]))
        raise GraphError(f"{path}, line {line}: a source or target is empty; give every edge a source and a target")
    if len(blob) and (blob == 10).any():
        node = int(np.searchsorted(offsets, int(np.flatnonzero(blob == 10)[0]), side="right")) - 1
        raise GraphError(f"{path}, line {_line_of_node(cols, src, dst, node)}: a quoted field is not closed "
                         "(its label runs into the next line); close the quote or remove it")
    text = blob.tobytes()
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as exc:
        node = int(np.searchsorted(offsets, exc.start, side="right")) - 1
        label = blob[offsets[node]:offsets[node + 1]].tobytes()
        raise GraphError(f"{path}, line {_line_of_node(cols, src, dst, node)}: label {label[:40]!r} is not valid "
                         "UTF-8; save the file as UTF-8") from None
    if (at := text.find(BOM)) >= 0:  # only the file's first bytes may be a BOM (removed before parsing)
        stray_bom(path, _line_of_node(cols, src, dst, int(np.searchsorted(offsets, at, side="right")) - 1))
    return src, dst, ArrayLabels(blob, offsets)


def _strip_labels(src: np.ndarray, dst: np.ndarray, blob: np.ndarray, offsets: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    raw = blob.tobytes()
    off = offsets.tolist()
    index: dict[bytes, int] = {}
    remap = np.fromiter((index.setdefault(raw[off[i]:off[i + 1]].strip(b" \t"), len(index))
                         for i in range(len(off) - 1)), dtype=np.int32, count=len(off) - 1)
    keys = list(index)
    lengths = np.fromiter((len(k) for k in keys), dtype=np.int64, count=len(keys))
    new_off = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_off[1:])
    return remap[src], remap[dst], np.frombuffer(b"".join(keys), dtype=np.uint8).copy(), new_off


# ----------------------------------------------------------------- limits
def _check_node_count(path: Path, cols: _Columns, src: np.ndarray, dst: np.ndarray, num_nodes: int) -> None:
    """Refuse id spaces whose node arrays would dwarf the edges (before allocating them)."""
    edges = len(src)
    limit = max(SPARSE_FLOOR, SPARSE_FACTOR * edges)
    need = NODE_BYTES * num_nodes + ARC_BYTES * edges
    available = psutil.virtual_memory().available
    if num_nodes <= limit and need <= available:
        return
    big = num_nodes - 1
    row = int(np.flatnonzero((src == big) | (dst == big))[0])
    why = (f"more than {SPARSE_FACTOR} nodes per edge, nearly all of them isolated" if num_nodes > limit
           else f"more than the {available / 2**30:.1f} GiB of memory available")
    raise GraphError(f"{path}, line {cols.lines.line(row)}: node id {big} makes a graph of {num_nodes:,} nodes for "
                     f"{edges:,} edges (about {need / 2**30:.1f} GiB to build: {why}); renumber the ids densely "
                     "(0..N-1), or read them as labels with --labels")


# -------------------------------------------------------------------- public
def read_edge_list(
    path: str | os.PathLike[str],
    directed: bool = True,
    delimiter: str | None = None,
    header: bool | None = None,
    labels: bool | None = None,
    progress: Progress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Graph:
    """Read an edge-list file into a Graph.

    ``delimiter``: None (detect), "tab", "comma" or "whitespace"; ``header``:
    None (detect), True or False; ``labels``: None (detect), True to read ids
    as text labels even when they look like integers; ``progress(done, total)``
    is called after each block with bytes of the (compressed) file read.
    """
    p = Path(path)
    stream, raw = open_binary(p)
    try:
        head = stream.read(1 << 16)
    except READ_ERRORS as exc:
        raise read_failed(p, exc) from None
    finally:
        stream.close()
        raw.close()
    cut = head.rfind(b"\n")
    layout = sniff(p, head if cut < 0 else head[:cut + 1], delimiter, header, labels)
    cols = _read_any(p, layout, labels, chunk_bytes, progress)
    if cols.interner is not None and layout.delim is not None and cols.interner.starts_with(b"#"):
        cols = _read_any(p, layout, labels, chunk_bytes, progress, clean=True)  # comment lines among the edges
    if cols.rows == 0:
        raise GraphError(f"{p}: the file has no edges (only a header, comments or blank lines); {FORMAT_HINT}")
    weights = np.concatenate(cols.weights) if cols.weights else np.ones(cols.rows, dtype=np.float32)
    cols.weights = []
    lab: ArrayLabels | None
    if cols.interner is not None:
        src, dst, lab = _finish_labels(p, layout, cols)
        num_nodes = len(lab)
    else:
        src, dst = np.concatenate(cols.src), np.concatenate(cols.dst)
        cols.src, cols.dst = [], []
        lab, num_nodes = None, int(max(src.max(), dst.max())) + 1
        _check_node_count(p, cols, src, dst, num_nodes)
    return _graph_from_parsed(src, dst, weights, num_nodes, lab, directed, str(p))


def _read_any(path: Path, layout: Layout, labels: bool | None, chunk_bytes: int, progress: Progress | None,
              clean: bool = False) -> _Columns:
    """Unaided first (pyarrow at full speed), through the cleaning stream when that is not enough."""
    try:
        try:
            if clean or layout.delim is None:
                raise _Retry()
            return _read(path, layout, labels, chunk_bytes, progress, clean=False)
        except _Retry:
            return _read(path, layout, labels, chunk_bytes, progress, clean=True)
    except NeedLabels:
        layout.labels = True
        return _read_any(path, layout, labels, chunk_bytes, progress, clean)


def _graph_from_parsed(src: np.ndarray, dst: np.ndarray, w: np.ndarray, num_nodes: int,
                       labels: ArrayLabels | None, directed: bool, source: str) -> Graph:
    """``Graph.from_edges`` for arrays the parser has already checked, kept in int32.

    Ids are in range and weights finite and >= 0 by construction, so the
    checks and the int64 copies of ``from_edges`` would only double the peak
    memory of a large conversion.  Same semantics: an undirected edge becomes
    two arcs (a self-loop one), parallel arcs add, zero weights drop.
    """
    if not directed:
        loop = src == dst
        if loop.any():
            src, dst, w = (np.concatenate([src, dst[~loop]]), np.concatenate([dst, src[~loop]]),
                           np.concatenate([w, w[~loop]]))
        else:
            src, dst, w = np.concatenate([src, dst]), np.concatenate([dst, src]), np.concatenate([w, w])
        del loop
    indptr, indices, data = csr_from_arcs(src, dst, w, num_nodes)
    del src, dst, w
    overflow = np.flatnonzero(np.isinf(data))
    if len(overflow):
        k = int(overflow[0])
        row = int(np.searchsorted(indptr, k, side="right")) - 1
        names = (labels.label(row), labels.label(int(indices[k]))) if labels is not None else (row, int(indices[k]))
        raise GraphError(f"{source}: the parallel arcs {names[0]} -> {names[1]} add up to more than the bundle's "
                         f"float32 weights hold ({float(np.finfo(np.float32).max):.4g}); rescale the weights "
                         "(divide them all by a constant)")
    return Graph(indptr, indices, data, labels=labels, directed=directed, source=source, validate=False)


__all__ = ["read_edge_list", "sniff", "CHUNK_BYTES", "SPARSE_FACTOR", "SPARSE_FLOOR"]
