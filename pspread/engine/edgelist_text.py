"""The text side of edge-list import: opening, cleaning, line numbers, diagnosis.

pyarrow's CSV reader parses the edges, but it knows nothing of ``#`` comments,
blank lines padded with spaces, runs of whitespace as a delimiter, or the line
a bad value sits on.  ``CleanStream`` sits between the file and the reader: it
decompresses ``.gz``, drops the BOM and the lines before the first edge,
removes comment and blank lines, turns runs of blanks into single tabs for
whitespace-separated files, reports progress, and records which file line
every row it hands on came from (``LineMap``) -- so an error found in row
1,234,567 of the parsed columns names its line in the file.  Blocks without
anything to clean (the usual case) pass through after a few ``bytes.find``
scans, so the reader runs at full speed.

When pyarrow refuses a block without saying where (a missing column, a word in
the weight column), ``diagnose`` re-reads the text line by line from the
start of the failing block and names the first bad line, its value and the fix.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from pspread.errors import GraphError

Progress = Callable[[int, int], None]
BOM = b"\xef\xbb\xbf"
MAX_INT_ID = 2**31 - 2
FLOAT32_MAX = float(np.finfo(np.float32).max)
FORMAT_HINT = "each line must read `source<TAB>target[<TAB>weight]` (tab, comma or spaces between columns)"
READ_ERRORS = (OSError, EOFError, zlib.error)
_WEIGHT_FIX = "weights must be finite numbers >= 0"
_ODD_START = np.zeros(256, dtype=bool)  # a line starting with one of these may be a comment or blank
_ODD_START[[ord("#"), ord(" "), ord("\t"), ord("\n")]] = True


@dataclass
class Layout:
    """What the first lines say about the file (see ``edgelist.sniff``)."""

    delim: bytes | None  # None: runs of whitespace
    ncols: int
    header: bool
    labels: bool
    skip_lines: int  # lines before the first edge (comments, blank lines, header)


def open_binary(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """The decompressed stream and the raw file (whose position drives progress)."""
    raw = open(path, "rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[return-value]
    return raw, raw


def read_failed(path: Path, exc: BaseException) -> GraphError:
    """The error for a file that cannot be read or decompressed."""
    return GraphError(f"{path}: cannot be read ({exc}); if it is gzip-compressed, the archive is damaged -- "
                      "download or compress it again (`gzip -t` checks it)")


def blocks_of_lines(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """Blocks of whole lines, each ending in ``\\n``; the BOM and CRs removed."""
    rest = b""
    first = True
    while True:
        block = stream.read(size)
        if not block:
            break
        if first:
            block, first = block[3:] if block.startswith(BOM) else block, False
        if b"\r" in block:
            block = block.replace(b"\r", b"")
        block = rest + block
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            rest = block
            continue
        rest = block[cut:]
        yield block[:cut]
    if rest:
        yield rest + b"\n"


def _is_skippable(line: bytes) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith(b"#")


def collapse_blanks(block: bytes) -> bytes:
    """Runs of spaces/tabs -> one tab; blanks at the start or end of a line removed."""
    buf = np.frombuffer(block, dtype=np.uint8)
    blank = (buf == 32) | (buf == 9)
    token = ~blank & (buf != 10)
    prev_token = np.concatenate([[False], token[:-1]])
    keep = ~blank | prev_token  # the first blank after a token stands for the run
    out: np.ndarray = buf[keep].copy()
    out[blank[keep]] = 9
    dangling = np.flatnonzero((out[:-1] == 9) & (out[1:] == 10))  # a tab left before a line end
    if len(dangling):
        out = np.delete(out, dangling)
    return out.tobytes()


class LineMap:
    """Row of the parsed columns -> line of the file (1-based)."""

    def __init__(self) -> None:
        self._rows: list[int] = []  # first row of each span
        self._lines: list[int] = []  # its line
        self._exact: list[np.ndarray | None] = []  # line of every row, where lines were removed
        self.rows = 0

    def add(self, first_line: int, count: int, lines: np.ndarray | None = None) -> None:
        if count:
            self._rows.append(self.rows)
            self._lines.append(first_line)
            self._exact.append(lines)
            self.rows += count

    @classmethod
    def straight(cls, first_line: int) -> "LineMap":
        """Row r is line ``first_line + r`` (no line removed)."""
        lines = cls()
        lines.add(first_line, 1 << 62)
        return lines

    def line(self, row: int) -> int:
        k = bisect.bisect_right(self._rows, row) - 1
        exact = self._exact[k]
        return int(exact[row - self._rows[k]]) if exact is not None else self._lines[k] + row - self._rows[k]


class _FileStream(io.RawIOBase):
    """A readable stream over an edge-list file (decompressed when gzipped) that closes what it opened."""

    def __init__(self, path: Path, progress: Progress | None) -> None:
        super().__init__()
        self.path, self.progress = path, progress
        self._stream, self._raw = open_binary(path)
        self._total = path.stat().st_size

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()
        self._raw.close()
        super().close()


class RawStream(_FileStream):
    """The decompressed file as it is, reporting progress: for files pyarrow can read unaided."""

    def __init__(self, path: Path, progress: Progress | None, chunk_bytes: int) -> None:
        super().__init__(path, progress)
        self._chunk = chunk_bytes

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._stream.read(min(size, self._chunk) if size >= 0 else self._chunk)
        except READ_ERRORS as exc:
            raise read_failed(self.path, exc) from None
        if self.progress is not None:
            self.progress(min(self._raw.tell(), self._total), self._total)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


class CleanStream(_FileStream):
    """A readable stream of clean edge lines (what pyarrow's CSV reader is given)."""

    def __init__(self, path: Path, layout: Layout, chunk_bytes: int, progress: Progress | None) -> None:
        super().__init__(path, progress)
        self.layout = layout
        self.lines = LineMap()
        self._blocks = blocks_of_lines(self._stream, chunk_bytes)
        self._buf, self._pos = b"", 0
        self._line = 1  # file line of the next block's first line
        self._to_skip = layout.skip_lines

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all the rest for -1); fewer only at the end of the file."""
        parts: list[bytes] = []
        want = size if size >= 0 else 1 << 62
        while want > 0:
            if self._pos >= len(self._buf):
                block = self._next_block()
                if block is None:
                    break
                self._buf, self._pos = block, 0
            piece = self._buf[self._pos:self._pos + want] if (self._pos or want < len(self._buf)) else self._buf
            self._pos += len(piece)
            want -= len(piece)
            parts.append(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _next_block(self) -> bytes | None:
        try:
            block = next(self._blocks, None)
        except READ_ERRORS as exc:
            raise read_failed(self.path, exc) from None
        if block is None:
            return None
        first = self._line
        self._line += block.count(b"\n")
        while self._to_skip and block:
            block = block[block.index(b"\n") + 1:]
            first += 1
            self._to_skip -= 1
        if self.layout.delim is None:
            block = collapse_blanks(block)
        buf = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        if len(ends) and (_ODD_START[buf[0]] or _ODD_START[buf[ends[:-1] + 1]].any()):
            lines = block.split(b"\n")[:-1]
            kept = [i for i, line in enumerate(lines) if not _is_skippable(line)]
            if len(kept) < len(lines):
                self.lines.add(first, len(kept), first + np.asarray(kept, dtype=np.int64))
                block = b"".join(lines[i] + b"\n" for i in kept)
            else:
                self.lines.add(first, len(kept))
        else:
            self.lines.add(first, len(ends))
        if self.progress is not None:
            self.progress(min(self._raw.tell(), self._total), self._total)
        return block


# ---------------------------------------------------------------- diagnosis
def split_fields(line: bytes, delim: bytes | None) -> list[bytes]:
    """The fields of one line as the reader sees them (CSV quoting; blanks around fields dropped)."""
    text = line.decode("utf-8", "surrogateescape")
    if delim is None:  # runs of blanks separate fields; a quoted field may hold blanks
        text, sep = text.replace("\t", " ").strip(), " "
    else:
        sep = delim.decode()
    row = next(csv.reader([text], delimiter=sep, quotechar='"', skipinitialspace=delim is None), [])
    return [f.encode("utf-8", "surrogateescape").strip() for f in row] if row else [b""]


def weight_problem(value: float, text: str) -> str | None:
    """Why a parsed weight cannot go into the bundle (float32), or None."""
    if math.isnan(value):
        return f"weight {text} is not allowed: it is not a number (NaN); {_WEIGHT_FIX}"
    if value < 0:
        return f"weight {text} is not allowed: it is negative; {_WEIGHT_FIX}"
    if math.isinf(value):
        return f"weight {text} is not allowed: it is infinite; {_WEIGHT_FIX}"
    if value > FLOAT32_MAX:
        return (f"weight {text} is not allowed: it does not fit the bundle's float32 weights (largest {FLOAT32_MAX:.4g}); "
                f"rescale the weights (divide them all by a constant) so they stay below that")
    if value > 0 and np.float32(value) == 0:
        return (f"weight {text} is not allowed: it rounds to 0 in the bundle's float32 weights (smallest {np.finfo(np.float32).smallest_subnormal:.3g}) "
                "and its arc would be dropped; rescale the weights (multiply them all by a constant), "
                "or write 0 to drop the arc on purpose")
    return None


def id_problem(name: str, value: int) -> str | None:
    if value < 0:
        return (f"{name} id {value} is negative; integer node ids must be >= 0 "
                "(renumber them, or read them as labels with --labels)")
    if value > MAX_INT_ID:
        return (f"{name} id {value} is too large for a node id (max {MAX_INT_ID}); "
                "renumber the nodes, or read the ids as labels with --labels")
    return None


class NeedLabels(Exception):
    """Integer mode met an id that is not an integer: the file is labelled."""


def diagnose(path: Path, layout: Layout, from_line: int = 1, labels: bool | None = None) -> None:
    """Raise a GraphError for the first bad line at or after ``from_line`` (NeedLabels: text ids).

    Returns quietly when no line is bad (the caller then reports what the
    parser said).  ``labels`` None: ids may turn out to be text (auto mode).
    """
    stream, raw = open_binary(path)
    is_labels = layout.labels if labels is None else labels
    try:
        line_no = 0
        for block in blocks_of_lines(stream, 8 << 20):
            n = block.count(b"\n")
            if line_no + n < from_line - 1 or line_no + n <= layout.skip_lines:
                line_no += n
                continue
            for raw_line in block.split(b"\n")[:-1]:
                line_no += 1
                if line_no <= layout.skip_lines or line_no < from_line or _is_skippable(raw_line):
                    continue
                problem = line_problem(raw_line, layout, is_labels, auto=labels is None and not layout.labels)
                if problem:
                    shown = raw_line.strip()[:80].decode("utf-8", "replace")
                    raise GraphError(f"{path}, line {line_no}: {problem} (the line reads {shown!r})")
    except READ_ERRORS as exc:
        raise read_failed(path, exc) from None
    finally:
        stream.close()
        raw.close()


def stray_bom(path: Path, line_no: int) -> None:
    """Raise the GraphError for a U+FEFF inside a label on ``line_no``, naming its column.

    Why refuse rather than strip: only the file's first bytes can be a
    byte-order mark.  Anywhere else U+FEFF is an invisible character (a "zero
    width no-break space"), usually left where two files were joined with
    ``cat``; kept, it would make a label that looks like another but never
    matches a query term, and stripping it would silently merge two labels.
    """
    line = b""
    stream, raw = open_binary(path)
    try:
        seen = 0
        for block in blocks_of_lines(stream, 8 << 20):  # the file's BOM and CRs removed, as when parsed
            n = block.count(b"\n")
            if seen + n >= line_no:
                line = block.split(b"\n")[line_no - seen - 1]
                break
            seen += n
    except READ_ERRORS as exc:
        raise read_failed(path, exc) from None
    finally:
        stream.close()
        raw.close()
    at = line.find(BOM)
    column = len(line[:max(at, 0)].decode("utf-8", "replace")) + 1
    raise GraphError(f"{path}, line {line_no}, column {column}: a label holds U+FEFF (a byte-order mark that is "
                     "not at the start of the file, invisible in most editors); remove it -- e.g. "
                     "`sed -i 's/\\xEF\\xBB\\xBF//g' FILE` -- a BOM is only allowed as the file's first bytes")


def line_problem(line: bytes, layout: Layout, labels: bool, auto: bool) -> str | None:
    """What is wrong with one edge line, or None."""
    fields = split_fields(line, layout.delim)
    if len(fields) != layout.ncols:
        cols = "source, target, weight" if layout.ncols == 3 else "source, target"
        return f"{len(fields)} column(s), expected {layout.ncols} ({cols}) as on the first line; {FORMAT_HINT}"
    for name, tok in (("source", fields[0]), ("target", fields[1])):
        if not tok:
            return f"the {name} is empty; give every edge a source and a target"
        if not labels:
            try:
                value = int(tok)
            except ValueError:
                if auto:
                    raise NeedLabels() from None
                return (f"{name} id {tok[:40].decode('utf-8', 'replace')!r} is not an integer; "
                        "give integer ids, or read the ids as labels with --labels")
            problem = id_problem(name, value)
            if problem:
                return problem
    if layout.ncols == 3:
        text = fields[2].decode("utf-8", "replace")
        try:
            weight = float(fields[2])
        except ValueError:
            return f"weight {text[:40]!r} is not a number; {_WEIGHT_FIX}"
        return weight_problem(weight, text)
    return None


__all__ = ["Layout", "CleanStream", "LineMap", "diagnose", "NeedLabels", "open_binary", "blocks_of_lines",
           "split_fields", "stray_bom", "weight_problem", "RawStream", "id_problem", "read_failed", "READ_ERRORS", "MAX_INT_ID", "FORMAT_HINT", "BOM"]
