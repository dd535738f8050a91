"""Edge-list files (TSV/CSV/whitespace, ``source target [weight]``) -> ``Graph``.

Real graphs arrive as text: word-association norms, knowledge-graph dumps,
SNAP files.  They can have tens of millions of lines, so the reader streams the
file in blocks of whole lines and parses each block with a few vectorised
operations (numpy's C ``loadtxt`` for numbers, one ``bytes.split`` for labels)
instead of a Python loop per line.  Only when a block looks wrong (a missing
column, a stray word, a blank line) is it re-read line by line -- by a slow but
exact parser that either tolerates the oddity (blank lines, ``#`` comments, CR
line ends, padding) or raises a ``GraphError`` with the file, the line number
and the fix.

Format rules:

* delimiter: tab, comma or runs of whitespace, detected from the first line
  (with whitespace, multi-word labels must use ``_``; tabs and commas allow spaces);
* header: detected when the first line names its columns (``source``/``target``
  ..., a non-numeric weight) or is the only non-integer line of an integer file;
* node ids: non-negative integers (``num_nodes`` = largest id + 1, labels
  ``n0``, ``n1``...), or else any text, mapped to ids in order of first
  appearance and kept as labels;
* weights: optional third column, finite and >= 0 (default 1);
* ``.gz`` files are decompressed on the fly.
"""

from __future__ import annotations

import gzip
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from pspread.engine.graph import Graph, csr_from_arcs
from pspread.engine.interning import LabelInterner
from pspread.engine.labels import ArrayLabels
from pspread.errors import GraphError

Progress = Callable[[int, int], None]
CHUNK_BYTES = 8 << 20
MAX_INT_ID = 2**31 - 2
HEADER_NAMES = {
    b"source", b"target", b"src", b"dst", b"from", b"to", b"node1", b"node2", b"head", b"tail",
    b"source_id", b"target_id", b"cue", b"response", b"weight", b"id1", b"id2", b"node", b"neighbor",
}
_DELIMS = {"tab": b"\t", "\\t": b"\t", "\t": b"\t", "comma": b",", ",": b",", "whitespace": None,
           "space": None, " ": None, ";": b";", "semicolon": b";", "|": b"|"}
_FORMAT_HINT = "each line must read `source<TAB>target[<TAB>weight]` (tab, comma or spaces between columns)"


class _NeedLabels(Exception):
    """Raised inside integer mode when an id turns out not to be an integer."""


@dataclass
class _Layout:
    delim: bytes | None
    ncols: int
    header: bool
    labels: bool
    skip_lines: int  # lines before the first edge (comments, blank lines, header)


# ------------------------------------------------------------------ reading
def _open(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """The decompressed stream and the raw file (whose position drives progress)."""
    raw = open(path, "rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[return-value]
    return raw, raw


def _chunks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """Blocks of whole lines, each ending in ``\\n``; CR line ends normalised."""
    rest = b""
    while True:
        block = stream.read(size)
        if not block:
            break
        block = rest + block
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            rest = block
            continue
        rest = block[cut:]
        yield block[:cut]
    if rest:
        yield rest + b"\n"


def _split(line: bytes, delim: bytes | None) -> list[bytes]:
    fields = line.split(delim) if delim is not None else line.split()
    return [f.strip().strip(b'"').strip() for f in fields]


def _is_int(token: bytes) -> bool:
    t = token[1:] if token[:1] in (b"-", b"+") else token
    return t.isdigit()


def _is_float(token: bytes) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def _sniff(path: Path, head: bytes, delimiter: str | None, header: bool | None, labels: bool | None) -> _Layout:
    """Delimiter, column count, header and id mode from the first lines."""
    lines = head.split(b"\n")
    data: list[tuple[int, bytes]] = []
    for i, raw in enumerate(lines):
        line = raw.strip()
        if line and not line.startswith(b"#"):
            data.append((i, line))
        if len(data) >= 2:
            break
    if not data:
        raise GraphError(f"{path}: the file has no edges (it is empty or holds only comments); {_FORMAT_HINT}")
    first_idx, first = data[0]
    if delimiter is None:
        delim = b"\t" if b"\t" in first else b"," if b"," in first else None
    else:
        key = delimiter if delimiter in _DELIMS else delimiter.lower()
        if key not in _DELIMS:
            raise GraphError(f"delimiter {delimiter!r} is not supported; use tab, comma or whitespace")
        delim = _DELIMS[key]
    fields = _split(first, delim)
    ncols = len(fields)
    if ncols < 2:
        raise GraphError(f"{path}, line {first_idx + 1}: one column only ({first[:60]!r}); {_FORMAT_HINT}")
    if ncols > 3:
        raise GraphError(f"{path}, line {first_idx + 1}: {ncols} columns, expected 2 or 3 "
                         f"(source, target, optional weight); drop the extra columns")
    if header is None:
        named = fields[0].lower() in HEADER_NAMES or fields[1].lower() in HEADER_NAMES
        bad_weight = ncols == 3 and not _is_float(fields[2])
        lone_text = False
        if len(data) > 1 and not (_is_int(fields[0]) and _is_int(fields[1])):
            nxt = _split(data[1][1], delim)
            lone_text = len(nxt) >= 2 and _is_int(nxt[0]) and _is_int(nxt[1])
        header = named or bad_weight or lone_text
    skip = first_idx + 1 if header else first_idx
    if labels is None:
        probe = _split(data[1][1], delim) if header and len(data) > 1 else (None if header else fields)
        labels = probe is not None and not (_is_int(probe[0]) and _is_int(probe[1]))
    return _Layout(delim, ncols, bool(header), bool(labels), skip)


# ---------------------------------------------------------- fast block parsers
def _tokens_per_line(buf: np.ndarray, num_lines: int, delim: bytes | None) -> np.ndarray:
    """How many fields each line of a block has (vectorised over the bytes)."""
    nl = np.flatnonzero(buf == 10)
    if delim is None:
        blank = buf <= 32
        starts = np.flatnonzero(~blank[1:] & blank[:-1]) + 1
        if len(buf) and not blank[0]:
            starts = np.concatenate([[0], starts])
        return np.bincount(np.searchsorted(nl, starts), minlength=num_lines)[:num_lines]
    seps = np.flatnonzero(buf == delim[0])
    return np.bincount(np.searchsorted(nl, seps), minlength=num_lines)[:num_lines] + 1


def _parse_numbers(block: bytes, layout: _Layout) -> np.ndarray | None:
    """Integer-id block -> (L, ncols) float64, or None if anything is off.

    numpy's C ``loadtxt`` parser (numpy >= 1.23) reads about 40 MB/s and checks
    that every row has the same number of columns; anything it refuses, or any
    value out of range, sends the block to the exact line parser instead.
    """
    delim = None if layout.delim is None else layout.delim.decode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            vals = np.loadtxt(io.BytesIO(block), delimiter=delim, dtype=np.float64, comments=None, ndmin=2)
        except ValueError:
            return None
    if vals.ndim != 2 or vals.shape[1] != layout.ncols or len(vals) != block.count(b"\n"):
        return None
    ids = vals[:, :2]
    if not (np.all(ids >= 0) and np.all(ids <= MAX_INT_ID) and np.all(ids == np.floor(ids))):
        return None
    if layout.ncols == 3 and not (np.all(np.isfinite(vals[:, 2])) and np.all(vals[:, 2] >= 0)):
        return None
    return vals


def _parse_labelled(block: bytes, layout: _Layout, index: LabelInterner) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Labelled block -> (ids (L, 2), weights or None), or None if anything is off."""
    if block.startswith(b"#") or b"\n#" in block:
        return None  # comment lines: the line parser skips them
    num_lines = block.count(b"\n")
    delim, ncols = layout.delim, layout.ncols
    buf = np.frombuffer(block, dtype=np.uint8)
    if not np.all(_tokens_per_line(buf, num_lines, delim) == ncols):
        return None
    if delim is None:
        fields = block.split()
    else:
        fields = block[:-1].replace(b"\n", delim).split(delim)
        if b'"' in block or b" " + delim in block or delim + b" " in block or b" \n" in block or b"\n " in block:
            fields = [f.strip().strip(b'"').strip() for f in fields]
    if len(fields) != num_lines * ncols or not all(fields):
        return None
    weights = None
    if ncols == 3:
        try:
            weights = np.fromiter(map(float, fields[2::3]), dtype=np.float64, count=num_lines)
        except ValueError:
            return None
        if not (np.all(np.isfinite(weights)) and np.all(weights >= 0)):
            return None
        del fields[2::3]
    ids = index.map(fields)
    return ids.reshape(num_lines, 2), weights


# ------------------------------------------------------------ exact fallback
def _parse_lines(
    path: Path, block: bytes, first_line: int, layout: _Layout, index: LabelInterner | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Line-by-line parser: tolerant of blanks and comments, exact about errors."""
    src: list[int] = []
    dst: list[int] = []
    names: list[bytes] = []  # label mode: source, target, source, target, ...
    wts: list[float] = []
    for i, raw in enumerate(block.split(b"\n")[:-1]):
        lineno = first_line + i
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        where = f"{path}, line {lineno}"
        fields = _split(raw.rstrip(b"\r\n"), layout.delim)  # unstripped: a leading tab is an empty column
        if len(fields) != layout.ncols:
            cols = "source, target, weight" if layout.ncols == 3 else "source, target"
            raise GraphError(f"{where}: {len(fields)} column(s), expected {layout.ncols} ({cols}) as on the first "
                             f"line: {line[:80].decode('utf-8', 'replace')!r}; {_FORMAT_HINT}")
        for name, tok in (("source", fields[0]), ("target", fields[1])):
            if not tok:
                raise GraphError(f"{where}: the {name} is empty; give every edge a source and a target")
        if index is None:
            pair = []
            for name, tok in (("source", fields[0]), ("target", fields[1])):
                if not _is_int(tok):
                    raise _NeedLabels()
                val = int(tok)
                if val < 0:
                    raise GraphError(f"{where}: {name} id {val} is negative; integer node ids must be >= 0 "
                                     "(renumber them, or read them as labels with --labels)")
                if val > MAX_INT_ID:
                    raise GraphError(f"{where}: {name} id {val} is too large for a node id (max {MAX_INT_ID}); "
                                     "renumber the nodes, or read the ids as labels with --labels")
                pair.append(val)
            src.append(pair[0])
            dst.append(pair[1])
        else:
            names.append(fields[0])
            names.append(fields[1])
        if layout.ncols == 3:
            tok = fields[2]
            try:
                w = float(tok)
            except ValueError:
                raise GraphError(f"{where}: weight {tok[:40].decode('utf-8', 'replace')!r} is not a number; "
                                 "weights must be finite numbers >= 0") from None
            if not np.isfinite(w) or w < 0:
                raise GraphError(f"{where}: weight {tok.decode('utf-8', 'replace')} is not allowed; "
                                 "weights must be finite numbers >= 0")
            wts.append(w)
    if index is not None:
        ids = index.map(names).reshape(-1, 2)
    else:
        ids = np.column_stack([np.asarray(src, dtype=np.int32), np.asarray(dst, dtype=np.int32)]).reshape(-1, 2)
    return ids, (np.asarray(wts, dtype=np.float64) if layout.ncols == 3 else None)


# -------------------------------------------------------------------- public
def _read(path: Path, layout: _Layout, chunk_bytes: int, progress: Progress | None, total: int
          ) -> tuple[list[np.ndarray], list[np.ndarray], LabelInterner | None]:
    index: LabelInterner | None = LabelInterner() if layout.labels else None
    id_blocks: list[np.ndarray] = []
    w_blocks: list[np.ndarray] = []
    stream, raw = _open(path)
    try:
        line_no = 1
        to_skip = layout.skip_lines  # leading comments, blank lines and the header
        for block in _chunks(stream, chunk_bytes):
            while to_skip and block:
                cut = block.index(b"\n") + 1  # every block ends with a newline
                block = block[cut:]
                line_no += 1
                to_skip -= 1
            if b"\r" in block:
                block = block.replace(b"\r", b"")
            if block:
                parsed: tuple[np.ndarray, np.ndarray | None] | None
                if index is None:
                    vals = _parse_numbers(block, layout)
                    parsed = None if vals is None else (vals[:, :2].astype(np.int32),
                                                        vals[:, 2] if layout.ncols == 3 else None)
                else:
                    parsed = _parse_labelled(block, layout, index)
                if parsed is None:
                    parsed = _parse_lines(path, block, line_no, layout, index)
                id_blocks.append(parsed[0])
                if parsed[1] is not None:
                    w_blocks.append(parsed[1].astype(np.float32))
                line_no += block.count(b"\n")
            if progress is not None:
                progress(min(raw.tell(), total), total)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise GraphError(f"{path}: cannot be read ({exc}); if it is gzip-compressed, the archive is damaged") from None
    finally:
        stream.close()
        raw.close()
    return id_blocks, w_blocks, index


def _labels_from_index(path: Path, index: LabelInterner) -> ArrayLabels:
    keys = index.labels()  # id order
    lengths = np.fromiter((len(k) for k in keys), dtype=np.int64, count=len(keys))
    offsets = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    joined = b"".join(keys)
    try:
        joined.decode("utf-8")
    except UnicodeDecodeError as exc:
        node = int(np.searchsorted(offsets, exc.start, side="right")) - 1
        raise GraphError(f"{path}: label {keys[node][:40]!r} is not valid UTF-8; save the file as UTF-8") from None
    return ArrayLabels(np.frombuffer(joined, dtype=np.uint8), offsets)


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
    total = p.stat().st_size
    stream, raw = _open(p)
    try:
        head = stream.read(1 << 16)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise GraphError(f"{p}: cannot be read ({exc}); if it is gzip-compressed, the archive is damaged") from None
    finally:
        stream.close()
        raw.close()
    cut = head.rfind(b"\n")
    layout = _sniff(p, head if cut < 0 else head[:cut + 1], delimiter, header, labels)
    try:
        id_blocks, w_blocks, index = _read(p, layout, chunk_bytes, progress, total)
    except _NeedLabels:
        layout.labels = True
        id_blocks, w_blocks, index = _read(p, layout, chunk_bytes, progress, total)
    if not id_blocks or sum(len(b) for b in id_blocks) == 0:
        raise GraphError(f"{p}: the file has no edges (only a header, comments or blank lines); {_FORMAT_HINT}")
    src = np.concatenate([b[:, 0] for b in id_blocks])
    dst = np.concatenate([b[:, 1] for b in id_blocks])
    del id_blocks
    weights = np.concatenate(w_blocks) if w_blocks else np.ones(len(src), dtype=np.float32)
    del w_blocks
    if index is not None:
        lab: ArrayLabels | None = _labels_from_index(p, index)
        num_nodes = len(index)
        del index
    else:
        lab, num_nodes = None, int(max(src.max(), dst.max())) + 1
    return _graph_from_parsed(src, dst, weights, num_nodes, lab, directed, str(p))


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
    return Graph(indptr, indices, data, labels=labels, directed=directed, source=source, validate=False)


__all__ = ["read_edge_list", "CHUNK_BYTES"]
