"""LabelInterner: always the same ids as dict.setdefault in order, whatever the hashes do."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pspread.engine import interning
from pspread.engine.interning import LabelInterner


def _reference(blocks):
    index: dict[bytes, int] = {}
    out = [[index.setdefault(t, len(index)) for t in block] for block in blocks]
    return out, list(index)


def _check(blocks):
    interner = LabelInterner()
    got = [interner.map(block).tolist() for block in blocks]
    want, names = _reference(blocks)
    assert got == want and interner.labels() == names and len(interner) == len(names)
    return interner


names = st.binary(min_size=0, max_size=12) | st.sampled_from([b"dog", b"cat", b"ice cream", b"a\x00", b"a"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(names, max_size=40), min_size=1, max_size=5))
def test_matches_dict_setdefault(blocks):
    _check(blocks)


def test_same_name_same_hash_in_blocks_of_any_width():
    a = np.array([b"", b"dog"])
    b = np.array([b"", b"dog", b"a much longer name"])
    ha = interning._hash_rows(a, np.char.str_len(a))
    hb = interning._hash_rows(b, np.char.str_len(b))
    assert ha.tolist() == hb[:2].tolist() and len(set(hb.tolist())) == 3


def test_stays_vectorised_on_ordinary_names():
    interner = _check([[b"dog", b"cat", b"dog"], [b"bone", b"cat", b"mouse"], []])
    assert interner._exact is None


def test_collisions_fall_back_to_the_exact_dict(monkeypatch):
    monkeypatch.setattr(interning, "_hash_rows", lambda arr, lengths: np.zeros(len(arr), dtype=np.uint64))
    interner = _check([[b"dog"], [b"dog", b"cat", b"dog"], [b"mouse", b"cat"]])
    assert interner._exact is not None


@pytest.mark.parametrize("block", [[b"x" * 200, b"y"], [b"a\x00", b"a"]])
def test_long_names_and_trailing_nul_bytes_stay_exact(block):
    _check([[b"first"], block, block[::-1]])
