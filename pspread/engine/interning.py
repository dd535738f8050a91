"""Label interning: text node names -> dense ids in order of first appearance.

Reading a labelled edge list means mapping tens of millions of name tokens to
ids.  Python objects per token (a dict, ``bytes.split``) cost about a
microsecond each, so ``LabelInterner`` never makes any: it reads the names
straight out of Arrow binary arrays (an offsets buffer and a data buffer, as
pyarrow's CSV reader produces them), turns every name into one 64-bit key with
a few numpy gathers, and lets Arrow's hash kernel (``dictionary_encode``,
which numbers keys in order of first appearance) do the interning.

Keys are exact where they can be: a name of at most 7 bytes *is* its key (its
bytes, zero padded, plus its length in the top byte), so for short names --
words, most ids -- there is nothing to collide and the text is dropped as soon
as its keys are made, which keeps the peak memory of a large import low.
Longer names get a 63-bit hash with the top bit set (so hashes and exact keys
never meet), their text is kept, and after interning every long name is
compared byte for byte with the first name that got its id.  A mismatch -- a
hash collision -- makes the interner redo the job with Arrow's exact binary
hash table, so the result is always that of ``dict.setdefault(name, len(dict))``
applied to source, target, source, target ... in file order.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

POOL = pa.system_memory_pool()  # malloc gives large blocks back to the system when freed; the peak stays low
_SHORT = 7  # names of up to this many bytes are their own key
_TOP = np.uint64(56)
_LONG_BIT = np.uint64(1 << 63)
_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0xFF51AFD7ED558CCD)
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def numpy_view(arr: pa.Array) -> np.ndarray:
    """A primitive Arrow array without nulls as numpy, no copy.

    (``Array.to_numpy`` would import pandas, when installed, on its first call:
    half a second of a cold import.)
    """
    if arr.null_count:
        raise ValueError("the array has nulls")
    dtype = np.dtype(arr.type.to_pandas_dtype())
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)


def arrow_array(values: np.ndarray) -> pa.Array:
    """A 1-D numpy array of a primitive type as an Arrow array, no copy (and no pandas import)."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def _buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(start offsets incl. the end, zero-padded data) of a binary array, without copying the offsets."""
    if pa.types.is_large_binary(arr.type) or pa.types.is_large_string(arr.type):
        off_dtype: type = np.int64
    elif pa.types.is_binary(arr.type) or pa.types.is_string(arr.type):
        off_dtype = np.int32
    else:
        raise TypeError(f"expected a binary array, got {arr.type}")
    bufs = arr.buffers()
    off: np.ndarray = np.frombuffer(bufs[1], dtype=off_dtype)[arr.offset:arr.offset + len(arr) + 1]
    lo, hi = (int(off[0]), int(off[-1])) if len(off) else (0, 0)
    data = np.zeros(hi - lo + 8, dtype=np.uint8)  # 8 spare bytes: any 8-byte read stays in bounds
    if bufs[2] is not None and hi > lo:
        data[:hi - lo] = np.frombuffer(bufs[2], dtype=np.uint8)[lo:hi]
    return off.astype(np.int64) - lo, data


def _words(data: np.ndarray) -> np.ndarray:
    """Every (unaligned) little-endian 8-byte word of ``data``: ``_words(d)[i]`` reads bytes i..i+7."""
    words: np.ndarray = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    return words


def _keys(arr: pa.Array) -> tuple[np.ndarray, bool]:
    """One uint64 key per name, and whether any name is long (hashed, not exact)."""
    off, data = _buffers(arr)
    starts, lengths = off[:-1], np.diff(off)
    words = _words(data)
    key = words[starts] & _MASKS[np.minimum(lengths, 8)]
    long_rows = np.flatnonzero(lengths > _SHORT)
    if len(long_rows) == 0:
        key |= lengths.astype(np.uint64) << _TOP
        return key, False
    key[long_rows] = _hash(words, starts[long_rows], lengths[long_rows]) | _LONG_BIT
    short = lengths <= _SHORT
    key[short] |= lengths[short].astype(np.uint64) << _TOP
    return key, True


def _first_bytes(arr: pa.Array) -> np.ndarray:
    """Which of the 256 byte values some non-empty name of ``arr`` starts with."""
    off, data = _buffers(arr)
    starts = off[:-1][np.diff(off) > 0]
    return np.bincount(data[starts], minlength=256) > 0


def _hash(words: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each name, mixing its 8-byte words and its length."""
    h = np.full(len(starts), 0xCBF29CE484222325, dtype=np.uint64)
    rows = np.arange(len(starts))
    for col in range(int(-(-lengths.max() // 8))):
        rows = rows[lengths[rows] > 8 * col]
        rest = np.minimum(lengths[rows] - 8 * col, 8)
        mixed = (h[rows] ^ (words[starts[rows] + 8 * col] & _MASKS[rest])) * _PRIME
        mixed ^= mixed >> np.uint64(29)
        h[rows] = mixed
    h ^= lengths.astype(np.uint64)
    h *= _MIX
    h ^= h >> np.uint64(32)
    return h


def _first_positions(codes: np.ndarray) -> np.ndarray:
    """Where each id first occurs, for ids numbered in order of first appearance."""
    running = np.maximum.accumulate(codes)
    return np.flatnonzero(np.diff(running, prepend=-1) != 0)


def _interleave(src: pa.Array, dst: pa.Array) -> pa.Array:
    """source0, target0, source1, target1, ... as one binary array."""
    n = len(src)
    both = pa.concat_arrays([src, dst])
    order = np.empty(2 * n, dtype=np.int64)
    order[0::2] = np.arange(n)
    order[1::2] = order[0::2] + n
    return both.take(arrow_array(order))


def _as_binary(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = pa.concat_arrays(arr.chunks) if arr.num_chunks else pa.array([], type=pa.binary())
    if arr.null_count:
        raise ValueError("names must not be null")
    return arr


class LabelInterner:
    """Maps the names of edge ends to int32 ids, first appearance first.

    Feed it batches with :meth:`add` (source and target names of the same
    edges, as Arrow binary arrays) and call :meth:`finish` once.
    """

    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []  # per batch: source, target keys interleaved
        self._kept: list[tuple[int, pa.Array, pa.Array]] = []  # (first edge, src, dst) of batches with long names
        self._edges = 0
        self._first_bytes = np.zeros(256, dtype=bool)  # which bytes some name starts with

    def __len__(self) -> int:
        """Edges added so far."""
        return self._edges

    def starts_with(self, prefix: bytes) -> bool:
        """True if some name added so far starts with ``prefix`` (a single byte)."""
        return bool(self._first_bytes[prefix[0]])

    def add(self, src: pa.Array | pa.ChunkedArray, dst: pa.Array | pa.ChunkedArray) -> None:
        """Queue one batch of edges: ``src[i] -> dst[i]``."""
        src, dst = _as_binary(src), _as_binary(dst)
        if len(src) != len(dst):
            raise ValueError(f"{len(src)} sources but {len(dst)} targets")
        ks, long_s = _keys(src)
        kt, long_t = _keys(dst)
        self._first_bytes |= _first_bytes(src) | _first_bytes(dst)
        both = np.empty(2 * len(src), dtype=np.uint64)
        both[0::2] = ks
        both[1::2] = kt
        self._keys.append(both)
        if long_s or long_t:
            self._kept.append((self._edges, src, dst))
        self._edges += len(src)

    def finish(self) -> tuple[np.ndarray, np.ndarray, pa.Array]:
        """(source ids, target ids, names in id order as a binary array); the interner is spent."""
        keys, self._keys = [k for k in self._keys if len(k)], []
        if not keys:
            return np.empty(0, np.int32), np.empty(0, np.int32), pa.array([], type=pa.binary())
        encoded, dict_keys = _encode(keys)
        if not self._kept:  # short names only: the keys spell the names, and nothing needs checking
            del keys
            names = _names_from_keys(dict_keys)
            src, dst = _split_codes(encoded)
            return src, dst, names
        codes = np.concatenate([numpy_view(c.indices) for c in encoded.chunks]).astype(np.int32, copy=False)
        del encoded
        pos, text = self._long_text()
        names = _names_and_check(codes, dict_keys, pos, text)
        if names is None:  # a hash collision: give long names exact keys and intern again
            flat = np.concatenate(keys)
            del codes
            exact = numpy_view(pc.dictionary_encode(text, memory_pool=POOL).indices).astype(np.uint64)
            is_long = np.diff(_buffers(text)[0]) > _SHORT
            flat[pos[is_long]] = exact[is_long] | _LONG_BIT
            encoded, dict_keys = _encode([flat])
            del flat
            codes = np.concatenate([numpy_view(c.indices) for c in encoded.chunks]).astype(np.int32, copy=False)
            del encoded
            names = _names_and_check(codes, dict_keys, pos, text)
            assert names is not None, "exact keys cannot collide"
        del keys
        return codes[0::2].copy(), codes[1::2].copy(), names

    def _long_text(self) -> tuple[np.ndarray, pa.Array]:
        """Interleaved positions and names of every edge end in the batches that had long names."""
        positions, parts = [], []
        for start, src, dst in self._kept:
            positions.append(2 * start + np.arange(2 * len(src)))
            parts.append(_interleave(src, dst))
        self._kept = []
        return np.concatenate(positions), pa.concat_arrays(parts)


def _encode(keys: list[np.ndarray]) -> tuple[pa.ChunkedArray, np.ndarray]:
    """Ids (first appearance first) of interleaved keys, chunk by chunk, and the key of each id."""
    encoded = pc.dictionary_encode(pa.chunked_array([arrow_array(k) for k in keys], type=pa.uint64()),
                                   memory_pool=POOL)
    return encoded, numpy_view(encoded.chunk(encoded.num_chunks - 1).dictionary).copy()


def _split_codes(encoded: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved ids -> (source ids, target ids), without an interleaved copy."""
    n = sum(len(c) for c in encoded.chunks) // 2
    src, dst = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    at = 0
    for chunk in encoded.chunks:
        ids = numpy_view(chunk.indices)
        k = len(ids) // 2
        src[at:at + k], dst[at:at + k] = ids[0::2], ids[1::2]
        at += k
    return src, dst


def _names_and_check(codes: np.ndarray, dict_keys: np.ndarray, pos: np.ndarray, text: pa.Array) -> pa.Array | None:
    """Names in id order, or None if two different long names share a key.

    Every long name, and the first name that got its id, lie in the kept
    batches (``pos`` and ``text``): compare them all byte for byte.
    """
    first = _first_positions(codes)
    is_long_id = (dict_keys & _LONG_BIT) != 0
    mine = codes[pos]
    rows = np.flatnonzero(is_long_id[mine])
    rep = np.searchsorted(pos, first[mine[rows]])
    if not _same_text(text, rows, rep):
        return None
    long_ids, short_ids = np.flatnonzero(is_long_id), np.flatnonzero(~is_long_id)
    short_names = _names_from_keys(dict_keys[short_ids])
    long_names = text.take(arrow_array(np.searchsorted(pos, first[long_ids])))
    order = np.empty(len(dict_keys), dtype=np.int64)
    order[short_ids] = np.arange(len(short_ids))
    order[long_ids] = len(short_ids) + np.arange(len(long_ids))
    return pa.concat_arrays([short_names, long_names]).take(arrow_array(order))


def _same_text(text: pa.Array, rows: np.ndarray, rep: np.ndarray) -> bool:
    """True if ``text[rows[i]] == text[rep[i]]`` for every i (vectorised, word by word)."""
    if not len(rows):
        return True
    off, data = _buffers(text)
    words = _words(data)
    starts, lengths = off[:-1], np.diff(off)
    if not np.array_equal(lengths[rows], lengths[rep]):
        return False
    a, b, length = starts[rows], starts[rep], lengths[rows]
    for col in range(int(-(-length.max() // 8))):
        live = length > 8 * col
        a, b, length = a[live], b[live], length[live]
        mask = _MASKS[np.minimum(length - 8 * col, 8)]
        if not np.array_equal(words[a + 8 * col] & mask, words[b + 8 * col] & mask):
            return False
    return True


def _names_from_keys(keys: np.ndarray) -> pa.Array:
    """Binary array of the names that exact keys spell (bytes, then length in the top byte)."""
    keys = np.ascontiguousarray(keys, dtype="<u8")
    lengths = (keys >> _TOP).astype(np.int64)
    raw = (keys & _MASKS[7]).view(np.uint8).reshape(len(keys), 8)
    data = raw[np.arange(8) < lengths[:, None]]
    offsets = np.zeros(len(keys) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(pa.binary(), len(keys), [None, pa.py_buffer(offsets), pa.py_buffer(data.copy())])


def blob_and_offsets(names: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The bytes and int64 offsets of a binary array (what ``ArrayLabels`` stores)."""
    off, data = _buffers(names)
    return data[:-8], off


__all__ = ["LabelInterner", "blob_and_offsets", "numpy_view", "arrow_array"]
