"""Hostile edge lists: every way a file can lie is refused with the file, the line and the fix.

The table lists files that must fail, with the line and a fragment of the
message; the fuzz feeds arbitrary bytes and demands either a clean
PspreadError or a graph every kernel can query.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pspread import Spreader
from pspread.engine import edgelist
from pspread.engine.edgelist import read_edge_list
from pspread.engine.io import load_graph, save_graph
from pspread.errors import GraphError, PspreadError

BOM = "\ufeff"


def _write(tmp_path, name, data: bytes | str):
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# (name, content, line or None, message fragment, fix fragment)
HOSTILE = [
    ("overflow.tsv", "a\tb\t1\nb\tc\t1e39\n", 2, "does not fit the bundle's float32 weights", "rescale"),
    ("overflow_int.tsv", "0\t1\t1\n1\t2\t1e39\n", 2, "does not fit the bundle's float32 weights", "rescale"),
    ("underflow.tsv", "a\tb\t1\nb\tc\t1e-50\n", 2, "rounds to 0", "rescale"),
    ("inf.tsv", "a\tb\t1\nb\tc\tinf\n", 2, "weight inf is not allowed", "finite"),
    ("nan.tsv", "a\tb\tNaN\n", 1, "weight nan is not allowed", "finite"),
    ("negative.csv", "a,b,1\nb,c,-1\n", 2, "is negative", ">= 0"),
    ("word.tsv", "a\tb\t1\nb\tc\tlots\n", 2, "weight 'lots' is not a number", ">= 0"),
    ("empty_weight.tsv", "a\tb\t1\nb\tc\t\n", 2, "weight '' is not a number", ">= 0"),
    ("missing_col.tsv", "a\tb\t1\nb\tc\n", 2, "2 column(s), expected 3", "source<TAB>target"),
    ("extra_col.tsv", "a\tb\t1\nb\tc\t1\t9\n", 2, "4 column(s), expected 3", "source<TAB>target"),
    ("one_col.tsv", "0\t1\n7\n", 2, "1 column(s), expected 2", "source<TAB>target"),
    ("late_missing.tsv", "".join(f"w{i}\tw{i + 1}\t1\n" for i in range(500)) + "x\ty\n", 501,
     "2 column(s), expected 3", "source<TAB>target"),
    ("after_comment.tsv", "a\tb\t1\n# note\n\nb\tc\t-2\n", 4, "is negative", ">= 0"),
    ("empty_source.tsv", "a\tb\n\tc\n", 2, "is empty", "give every edge"),
    ("negative_id.tsv", "0\t1\n1\t-2\n", 2, "target id -2 is negative", "--labels"),
    ("huge_id.tsv", "0\t1\n1\t99999999999\n", 2, "too large for a node id", "--labels"),
    ("sparse_id.tsv", "0\t1\n1\t2147483646\n", 2, "2,147,483,647 nodes", "renumber the ids densely"),
    ("sparse_mid.tsv", "".join(f"{i}\t{i + 1}\n" for i in range(10)) + "3\t50000000\n", 11, "GiB to build",
     "--labels"),
    ("not_utf8.tsv", b"a\tb\n\xff\xfe\tc\n", 2, "not valid UTF-8", "save the file as UTF-8"),
    ("open_quote.csv", 'a,b\n"c,d\n', 2, "", ""),
    ("ws_missing.txt", "a b 1\nb c\n", 2, "2 column(s), expected 3", "source<TAB>target"),
    ("gz_weight.tsv.gz", gzip.compress(b"a\tb\t1\nb\tc\t1e39\n"), 2, "float32", "rescale"),
]


@pytest.mark.parametrize("name, content, line, needle, fix", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused_with_file_line_and_fix(tmp_path, name, content, line, needle, fix):
    path = _write(tmp_path, name, content)
    with pytest.raises(GraphError) as err:
        read_edge_list(path)
    msg = str(err.value)
    assert "\n" not in msg and "Traceback" not in msg
    assert msg.startswith(f"{path}, line {line}:"), msg
    assert needle in msg and fix in msg and ";" in msg  # what, then the fix


def test_parallel_arcs_that_overflow_float32_are_refused(tmp_path):
    path = _write(tmp_path, "sum.tsv", "a\tb\t3e38\na\tb\t3e38\n")
    with pytest.raises(GraphError, match=r"sum\.tsv: the parallel arcs a -> b add up to more than"):
        read_edge_list(path)
    path = _write(tmp_path, "undirected.tsv", "a\tb\t3e38\nb\ta\t3e38\n")
    with pytest.raises(GraphError, match="rescale"):
        read_edge_list(path, directed=False)


@pytest.mark.parametrize("damage", [lambda b: b[:40], lambda b: b[:20] + b"\x00" * 8 + b[28:],
                                    lambda b: b[:-8] + b"\xde\xad\xbe\xef\x00\x00\x00\x00"])
def test_damaged_gzip_is_a_graph_error(tmp_path, damage):
    body = "".join(f"w{i}\tw{i * 7 % 1000}\t1\n" for i in range(2000)).encode()
    path = _write(tmp_path, "d.tsv.gz", damage(gzip.compress(body)))
    with pytest.raises(GraphError) as err:
        read_edge_list(path)
    assert str(path) in str(err.value) and "gzip" in str(err.value)


def test_sparse_limit_is_relative_to_the_edges(tmp_path, monkeypatch):
    path = _write(tmp_path, "ids.tsv", "0\t1\n1\t40\n")
    assert read_edge_list(path).num_nodes == 41  # far below the floor of 2**20 nodes
    monkeypatch.setattr(edgelist, "SPARSE_FLOOR", 16)
    with pytest.raises(GraphError, match="41 nodes for 2 edges"):
        read_edge_list(path)
    assert read_edge_list(path, labels=True).num_nodes == 3  # the fix the message gives works


# ------------------------------------------------------------- silent corruption
def test_bom_is_stripped(tmp_path):
    g = read_edge_list(_write(tmp_path, "bom.tsv", BOM + "dog\tcat\ncat\tmouse\n"))
    assert g.labels.to_list() == ["dog", "cat", "mouse"]


def test_bom_does_not_hide_a_header(tmp_path):
    g = read_edge_list(_write(tmp_path, "bom.tsv", BOM + "source\ttarget\n0\t1\n1\t2\n"))
    assert g.num_nodes == 3 and g.num_arcs == 2
    g = read_edge_list(_write(tmp_path, "bom.csv", BOM + "0,1\n1,2\n"))
    assert g.num_nodes == 3 and g.num_arcs == 2  # the first line is an edge, not a header


def test_bom_in_a_gzip_file(tmp_path):
    g = read_edge_list(_write(tmp_path, "bom.tsv.gz", gzip.compress((BOM + "dog\tcat\n").encode())))
    assert g.labels.to_list() == ["dog", "cat"]


# A U+FEFF anywhere but the file's first bytes is not a BOM: a label holding one is refused (line, column)
STRAY_BOM = [
    ("fuzz_found.tsv", b"a\t\xef\xbb\xbf,", 1, 3),  # the example the fuzz found: a label that is only U+FEFF
    ("inside.tsv", b"a\tb\nc\td\xef\xbb\xbfe\n", 2, 4),
    ("line_start.tsv", BOM.encode() + b"a\tb\n" + BOM.encode() + b"c\td\n", 2, 1),  # two files joined with cat
    ("twice.csv", (BOM + BOM + "a,b\n").encode(), 1, 1),  # the first is the BOM, the second is not
    ("after_utf8.tsv", "\u00e9\u00e9\tb\ufeff\n".encode(), 1, 5),  # the column counts characters, not bytes
    ("quoted.txt", b'x y\n"ice \xef\xbb\xbf cream" cone\n', 2, 6),
    ("int_ids.tsv", b"0\t1\n1\t\xef\xbb\xbf2\n", 2, 3),  # an integer file read again as labels
    ("crlf.csv", b"a,b\r\nc,\xef\xbb\xbfd\r\n", 2, 3),
    ("late.tsv", b"".join(b"w%d\tw%d\n" % (i, i + 1) for i in range(300)) + b"# note\nx\ty\xef\xbb\xbf\n", 302, 4),
    ("gz.tsv.gz", gzip.compress(BOM.encode() + b"a\tb\nb\t" + BOM.encode() + b"c\n"), 2, 3),
]


@pytest.mark.parametrize("name, content, line, column", STRAY_BOM, ids=[c[0] for c in STRAY_BOM])
def test_stray_bom_in_a_label_is_refused_with_line_and_column(tmp_path, name, content, line, column):
    path = _write(tmp_path, name, content)
    for directed in (True, False):
        with pytest.raises(GraphError) as err:
            read_edge_list(path, directed=directed)
        msg = str(err.value)
        assert msg.startswith(f"{path}, line {line}, column {column}: a label holds U+FEFF"), msg
        assert "\n" not in msg and "remove it" in msg


def test_stray_bom_elsewhere_is_not_a_label(tmp_path):
    g = read_edge_list(_write(tmp_path, "c.tsv", b"a\tb\n# a note \xef\xbb\xbf\nc\td\n"))
    assert g.labels.to_list() == ["a", "b", "c", "d"]  # a comment's U+FEFF goes with the comment
    with pytest.raises(GraphError, match=r"line 2: weight '\\ufeff2' is not a number"):
        read_edge_list(_write(tmp_path, "w.tsv", b"a\tb\t1\nc\td\t\xef\xbb\xbf2\n"))
    fixed = _write(tmp_path, "f.tsv", b"a\t\xef\xbb\xbf,".replace(BOM.encode(), b""))  # the fix the message gives
    assert read_edge_list(fixed).labels.to_list() == ["a", ","]


def test_quoted_fields_keep_their_delimiters(tmp_path):
    text = 'source,target,weight\n"Smith, John","Doe, Jane",2\n"say ""hi""",plain,1\n'
    g = read_edge_list(_write(tmp_path, "q.csv", text))
    assert g.labels.to_list() == ["Smith, John", "Doe, Jane", 'say "hi"', "plain"]
    assert sorted(np.asarray(g.weights).tolist()) == [1.0, 2.0]


def test_quoted_label_with_a_hash_is_data_and_comments_are_not(tmp_path):
    g = read_edge_list(_write(tmp_path, "h.csv", '"#tag",b\n# a comment, with a comma\nb,c\n'))
    assert g.labels.to_list() == ["#tag", "b", "c"] and g.num_arcs == 2


def test_padding_is_stripped_and_merges(tmp_path):
    g = read_edge_list(_write(tmp_path, "p.csv", "dog , cat\ncat,dog\n"))
    assert g.labels.to_list() == ["dog", "cat"] and g.num_arcs == 2


def test_quoted_multiword_labels_in_a_whitespace_file(tmp_path):
    g = read_edge_list(_write(tmp_path, "w.txt", 'a  "ice cream"  1\n"ice cream" b 2\n'))
    assert g.labels.to_list() == ["a", "ice cream", "b"]


def test_zero_weights_drop_but_tiny_ones_stay(tmp_path):
    g = read_edge_list(_write(tmp_path, "z.tsv", "a\tb\t0\nb\tc\t1e-40\nc\ta\t-0\n"))
    assert g.num_nodes == 3 and g.num_arcs == 1 and float(g.weights[0]) > 0


def test_error_messages_are_one_line_through_the_cli(tmp_path):
    from typer.testing import CliRunner

    from pspread.cli.app import app

    path = _write(tmp_path, "bad.tsv", "a\tb\t1\nb\tc\t1e39\n")
    res = CliRunner().invoke(app, ["graph", "convert", str(path), "-o", str(tmp_path / "g")])
    assert res.exit_code == 2
    out = (res.output or "").strip()
    assert "bad.tsv, line 2" in out and "Traceback" not in out and not (tmp_path / "g").exists()


# ------------------------------------------------------------------- the fuzz
TOKENS = st.sampled_from([b"a", b"b", b"dog", b"0", b"1", b"7", b"-1", b"1e39", b"1e-50", b"nan", b"0.5", b"2", b"",
                          b'"x,y"', b'"', b"#", b"# c", b"\xef\xbb\xbf", b"\xff", b"source", b"target", b"weight",
                          b"2147483646", b"ice cream", b" ", b"\x00", b"w123456789"])
SEPS = st.sampled_from([b"\t", b",", b" ", b"  ", b"\n", b"\r\n", b"\t\t"])
LINE = st.lists(st.tuples(TOKENS, SEPS), min_size=1, max_size=4).map(lambda ts: b"".join(t + s for t, s in ts))
FILE = st.one_of(st.lists(LINE, min_size=1, max_size=12).map(b"".join), st.binary(max_size=200))


def _query_everywhere(g):
    seeds = [int(np.argmax(np.diff(np.asarray(g.indptr))))]
    for kernel in ("reference", "dense", "frontier", "auto"):
        res = Spreader(g, kernel=kernel).query(seeds)
        assert np.all(np.isfinite(res.values))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=FILE, compress=st.booleans(), directed=st.booleans())
def test_fuzz_bytes_give_a_clean_error_or_a_queryable_graph(tmp_path, data, compress, directed):
    path = tmp_path / ("f.tsv.gz" if compress else "f.tsv")
    path.write_bytes(gzip.compress(data) if compress else data)
    try:
        g = read_edge_list(path, directed=directed)
    except PspreadError as exc:
        assert "\n" not in str(exc)
        return
    assert g.num_nodes >= 1 and np.all(np.isfinite(g.weights)) and np.all(np.asarray(g.weights) > 0)
    assert len(g.labels) == g.num_nodes and all("\ufeff" not in lab for lab in g.labels.to_list()[:50])
    g2 = load_graph(save_graph(g, tmp_path / "b", overwrite=True))
    _query_everywhere(g2)


@pytest.mark.slow
def test_gzip_damaged_after_the_first_blocks(tmp_path):
    rng = np.random.default_rng(0)
    body = "".join(f"w{a}\tw{b}\t1\n" for a, b in rng.integers(0, 10**6, (150_000, 2)).tolist()).encode()
    packed = gzip.compress(body)
    path = _write(tmp_path, "late.tsv.gz", packed[:len(packed) // 2])  # the head decompresses, the rest is gone
    with pytest.raises(GraphError, match="late.tsv.gz: cannot be read .*the archive is damaged"):
        read_edge_list(path, chunk_bytes=1 << 16)
