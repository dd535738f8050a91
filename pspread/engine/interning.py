"""Label interning: text node names -> dense ids in order of first appearance.

Reading a labelled edge list means mapping tens of millions of name tokens to
ids.  A Python dict costs about a microsecond per token once it holds a
million names (every lookup is a cache miss), so a 10M-edge file would spend
most of its time there.  ``LabelInterner`` does the same job a block at a time
with numpy: it hashes the block's tokens as fixed-width byte rows, finds the
distinct hashes with ``np.unique``, looks them up in a sorted array of known
hashes, and gives new names the next ids in the order they first appear.

Hash collisions cannot go unnoticed: after mapping, every token is compared
with the stored name of the id it got (one vectorised comparison).  On a
mismatch -- or for names it cannot hash safely (very long, or holding NUL
bytes) -- the interner switches, for good, to an exact dict, so the result is
always the same as ``dict.setdefault(token, len(dict))`` applied in order.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

_MAX_WIDTH = 96  # longer names: the dict is cheaper than padding every row
_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0xFF51AFD7ED558CCD)


def _hash_rows(arr: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """64-bit hash of each byte string, a function of its bytes alone.

    Rows are read as zero-padded 8-byte words, but only the words a string
    actually has are mixed in (and its length at the end), so the same name
    hashes the same in blocks of different widths.
    """
    width = arr.dtype.itemsize
    padded = -(-width // 8) * 8
    if padded != width:
        arr = arr.astype(f"S{padded}")
    words = arr.view(np.uint64).reshape(len(arr), padded // 8)
    nwords = (lengths + 7) // 8
    h = np.full(len(arr), 0xCBF29CE484222325, dtype=np.uint64)
    for col in range(words.shape[1]):
        mixed = (h ^ words[:, col]) * _PRIME
        mixed ^= mixed >> np.uint64(29)
        h = np.where(nwords > col, mixed, h)
    h ^= lengths.astype(np.uint64)
    h *= _MIX
    h ^= h >> np.uint64(32)
    return h


class LabelInterner:
    """Maps name tokens (bytes) to int32 ids, first appearance first."""

    def __init__(self) -> None:
        self._hashes = np.empty(0, dtype=np.uint64)  # sorted
        self._hash_ids = np.empty(0, dtype=np.int64)  # id of each sorted hash
        self._names = np.empty(0, dtype="S1")  # id -> name, fixed width
        self._labels: list[bytes] = []  # id -> name, exact
        self._exact: dict[bytes, int] | None = None

    def __len__(self) -> int:
        return len(self._labels) if self._exact is None else len(self._exact)

    def labels(self) -> list[bytes]:
        """Every name, in id order."""
        return list(self._exact) if self._exact is not None else list(self._labels)

    def map(self, tokens: Sequence[bytes]) -> np.ndarray:
        """Ids of ``tokens`` (int32), adding unseen names in order of first appearance."""
        if not len(tokens):
            return np.empty(0, dtype=np.int32)
        if self._exact is None:
            arr = np.array(tokens)
            if arr.dtype.kind == "S" and arr.dtype.itemsize <= _MAX_WIDTH:
                ids = self._map_hashed(tokens, arr)
                if ids is not None:
                    return ids
            self._switch_to_exact()
        index = self._exact
        assert index is not None
        setdefault = index.setdefault
        return np.fromiter((setdefault(t, len(index)) for t in tokens), dtype=np.int32, count=len(tokens))

    def _map_hashed(self, tokens: Sequence[bytes], arr: np.ndarray) -> np.ndarray | None:
        lengths = np.char.str_len(arr)
        if int(lengths.sum()) != sum(map(len, tokens)):
            return None  # trailing NUL bytes: numpy's fixed-width strings would drop them
        h = _hash_rows(arr, lengths)
        uniq, first, inverse = np.unique(h, return_index=True, return_inverse=True)
        pos = np.searchsorted(self._hashes, uniq)
        known = pos < len(self._hashes)
        known[known] = self._hashes[pos[known]] == uniq[known]
        ids_u = np.empty(len(uniq), dtype=np.int64)
        ids_u[known] = self._hash_ids[pos[known]]
        new = np.flatnonzero(~known)
        new = new[np.argsort(first[new], kind="stable")]  # first appearance order
        start = len(self._labels)
        ids_u[new] = start + np.arange(len(new))
        ids = ids_u[inverse.reshape(-1)]
        names = np.concatenate([self._names, arr[first[new]]]) if len(new) else self._names
        if not np.array_equal(names[ids], arr):
            return None  # a hash collision: the exact dict takes over
        # commit: sorted insert of the new hashes, names by id
        order = np.sort(new)  # positions in uniq are already sorted by hash
        self._hashes = np.insert(self._hashes, pos[order], uniq[order])
        self._hash_ids = np.insert(self._hash_ids, pos[order], ids_u[order])
        self._names = names
        self._labels.extend(tokens[i] for i in first[new].tolist())
        return ids.astype(np.int32)

    def _switch_to_exact(self) -> None:
        if self._exact is None:
            self._exact = {name: i for i, name in enumerate(self._labels)}
            self._labels = []
            self._hashes = self._hash_ids = np.empty(0)
            self._names = np.empty(0, dtype="S1")


__all__ = ["LabelInterner"]
