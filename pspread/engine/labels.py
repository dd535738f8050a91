"""Node labels and the label index that maps text queries to node ids.

Two kinds of labels exist because they have very different costs:

* ``PrefixLabels`` -- generated graphs call node ``i`` ``"n{i}"``.  Nothing is
  stored; lookup parses the number.  A 1M-node graph costs no memory for labels.
* ``ArrayLabels`` -- labels read from an edge list, stored as one UTF-8 blob plus
  int64 offsets (two ``.npy`` arrays that mmap cleanly into every worker).  The
  lowercase lookup dictionary is built lazily, on the first text query, so
  workers that only ever receive node ids never pay for it.

Lookup is case-insensitive, and a multi-word label may be written with ``_`` or
spaces: ``"ice cream"``, ``"Ice_Cream"`` and ``"ice_cream"`` all find the same node.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np

from pspread.errors import GraphError


def normalise_term(term: str) -> str:
    """The canonical lookup form of a label or query term (lowercase, ``_`` for blanks)."""
    return re.sub(r"[\s_]+", "_", term.strip().lower())


class Labels:
    """Interface: id -> label and term -> id."""

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def label(self, node: int) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def lookup(self, term: str) -> int | None:  # pragma: no cover - interface
        raise NotImplementedError

    def to_list(self) -> list[str]:
        return [self.label(i) for i in range(len(self))]


class PrefixLabels(Labels):
    """Labels ``prefix + str(i)`` computed on demand, never stored."""

    def __init__(self, num_nodes: int, prefix: str = "n") -> None:
        self.num_nodes = int(num_nodes)
        self.prefix = prefix
        self._norm_prefix = normalise_term(prefix) if prefix else ""

    def __len__(self) -> int:
        return self.num_nodes

    def label(self, node: int) -> str:
        return f"{self.prefix}{int(node)}"

    def lookup(self, term: str) -> int | None:
        t = normalise_term(term)
        if not t.startswith(self._norm_prefix):
            return None
        digits = t[len(self._norm_prefix):]
        if not digits.isdigit():
            return None
        node = int(digits)
        return node if node < self.num_nodes and str(node) == digits else None


class ArrayLabels(Labels):
    """Explicit labels stored as a UTF-8 blob and offsets (mmap-friendly)."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        if offsets.ndim != 1 or len(offsets) < 1 or blob.ndim != 1:
            raise GraphError("labels: offsets must be 1-D with n+1 entries and the blob 1-D bytes")
        if int(offsets[-1]) != len(blob):
            raise GraphError(
                f"labels: the last offset ({int(offsets[-1])}) does not match the blob length "
                f"({len(blob)}); the label arrays are truncated -- rebuild the bundle"
            )
        self.blob = blob
        self.offsets = offsets
        self._index: dict[str, int] | None = None

    @classmethod
    def from_strings(cls, labels: Sequence[str] | Iterable[str]) -> "ArrayLabels":
        encoded = [str(s).encode("utf-8") for s in labels]
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
        return cls(blob, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def label(self, node: int) -> str:
        lo, hi = int(self.offsets[node]), int(self.offsets[node + 1])
        return bytes(self.blob[lo:hi]).decode("utf-8")

    def to_list(self) -> list[str]:
        raw = bytes(self.blob)
        off = self.offsets.tolist()
        return [raw[off[i]:off[i + 1]].decode("utf-8") for i in range(len(off) - 1)]

    def _build_index(self) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, lab in enumerate(self.to_list()):
            index.setdefault(normalise_term(lab), i)  # first wins on case-folded duplicates
        return index

    def lookup(self, term: str) -> int | None:
        if self._index is None:
            self._index = self._build_index()
        return self._index.get(normalise_term(term))


def split_terms(text: str, labels: Labels) -> list[str]:
    """Split a text query into terms, preferring the longest multi-word label match.

    ``"ice cream cone"`` becomes ``["ice cream", "cone"]`` when ``ice_cream`` is a
    label; words are joined greedily, up to four at a time.
    """
    words = text.split()
    terms: list[str] = []
    i = 0
    while i < len(words):
        for width in range(min(4, len(words) - i), 0, -1):
            cand = " ".join(words[i:i + width])
            if width == 1 or labels.lookup(cand) is not None:
                terms.append(cand)
                i += width
                break
    return terms
