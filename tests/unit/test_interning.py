"""LabelInterner: always the same ids as dict.setdefault in file order, whatever the hashes do."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pspread.engine import interning
from pspread.engine.interning import LabelInterner, blob_and_offsets

#: property sweeps, subprocesses or every help screen: seconds, so the slow loop
pytestmark = pytest.mark.slow


def _reference(batches):
    index: dict[bytes, int] = {}
    src, dst = [], []
    for names_s, names_d in batches:
        for a, b in zip(names_s, names_d):
            src.append(index.setdefault(a, len(index)))
            dst.append(index.setdefault(b, len(index)))
    return src, dst, list(index)


def _check(batches):
    interner = LabelInterner()
    for a, b in batches:
        interner.add(pa.array(a, type=pa.binary()), pa.array(b, type=pa.binary()))
    src, dst, names = interner.finish()
    want_s, want_d, want_names = _reference(batches)
    assert src.dtype == np.int32 and dst.dtype == np.int32
    assert src.tolist() == want_s and dst.tolist() == want_d and names.to_pylist() == want_names
    blob, offsets = blob_and_offsets(names)
    assert blob.tobytes() == b"".join(want_names) and offsets.tolist() == np.cumsum([0] + [len(n) for n in want_names]).tolist()
    return interner


names = (st.binary(min_size=0, max_size=20)
         | st.sampled_from([b"dog", b"cat", b"ice cream", b"a\x00", b"a", b"", b"exactly8", b"seven77", b"x" * 30]))
batch = st.integers(0, 30).flatmap(lambda n: st.tuples(st.lists(names, min_size=n, max_size=n),
                                                       st.lists(names, min_size=n, max_size=n)))


@settings(max_examples=150, deadline=None)
@given(st.lists(batch, min_size=1, max_size=5))
def test_matches_dict_setdefault(batches):
    _check(batches)


def test_same_name_same_key_in_batches_of_any_shape():
    a = pa.array([b"", b"dog", b"a much longer name"])
    b = pa.array([b"a much longer name", b"x", b"dog"]).slice(1)  # an offset into the buffers
    ka, _ = interning._keys(a)
    kb, _ = interning._keys(b)
    assert ka[1] == kb[1] and len(set(ka.tolist())) == 3
    assert interning._keys(pa.array([b"a much longer name"]))[0][0] == ka[2]


def test_short_names_are_exact_keys_and_nothing_is_kept():
    interner = _check([([b"dog", b"cat", b"dog"], [b"bone", b"cat", b"mouse"]), ([], [])])
    assert interner._kept == []


def test_collisions_fall_back_to_exact_keys(monkeypatch):
    monkeypatch.setattr(interning, "_hash", lambda words, starts, lengths: np.zeros(len(starts), dtype=np.uint64))
    _check([([b"a long name one"], [b"a long name two"]), ([b"short", b"a long name two"], [b"a long name one", b"x" * 40])])


@pytest.mark.parametrize("pair", [([b"x" * 200, b"y"], [b"a\x00", b"a"]), ([b"a\x00\x00", b""], [b"a", b"a\x00"])])
def test_long_names_and_nul_bytes_stay_exact(pair):
    _check([([b"first"], [b"second"]), pair, (pair[1], pair[0])])


def test_first_bytes_are_tracked():
    interner = LabelInterner()
    interner.add(pa.array([b"#tag", b""]), pa.array([b"dog", b"a long label here"]))
    assert interner.starts_with(b"#") and interner.starts_with(b"a") and not interner.starts_with(b"c")
