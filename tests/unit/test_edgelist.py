"""Edge-list reader: formats, detection, streaming blocks, and exact error locations."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from pspread import Spreader
from pspread.engine.edgelist import read_edge_list
from pspread.engine.io import load_graph, save_graph
from pspread.engine.labels import ArrayLabels, PrefixLabels
from pspread.errors import GraphError, QueryError

WORDS = (
    "cue\tresponse\tstrength\n"
    "dog\tcat\t0.6\n"
    "dog\tbone\t0.3\n"
    "cat\tmouse\t0.5\n"
    "Ice Cream\tcone\t0.7\n"
    "ice_cream\tcold\t0.2\n"
    "hot dog\tmustard\t0.4\n"
)


def _write(tmp_path, name, text, compress=False):
    path = tmp_path / name
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def _arcs(g):
    rows = g.arc_rows().tolist()
    return sorted(zip(rows, np.asarray(g.indices).tolist(), np.asarray(g.weights, dtype=np.float64).round(4).tolist()))


def test_labelled_tsv_with_header_and_weights(tmp_path):
    g = read_edge_list(_write(tmp_path, "w.tsv", WORDS))
    assert isinstance(g.labels, ArrayLabels)
    assert g.labels.to_list() == ["dog", "cat", "bone", "mouse", "Ice Cream", "cone", "ice_cream", "cold",
                                  "hot dog", "mustard"]  # order of first appearance, header skipped
    assert g.num_arcs == 6 and g.directed
    assert (0, 1, 0.6) in _arcs(g) and (4, 5, 0.7) in _arcs(g)


@pytest.mark.parametrize("name, text", [
    ("a.csv", "0,1\n1,2\n2,0\n"),
    ("a.txt", "0 1\n1   2\n2\t0\n"),
    ("a.tsv", "source\ttarget\n0\t1\n1\t2\n2\t0\n"),
    ("b.tsv", "0\t1\r\n1\t2\r\n2\t0\r\n"),
    ("c.tsv", "# a comment\n\n0\t1\n\n1\t2\n# another\n2\t0"),
    ("d.txt", "id1 id2\n0 1\n1 2\n2 0\n"),
])
def test_integer_formats_give_the_same_graph(tmp_path, name, text):
    g = read_edge_list(_write(tmp_path, name, text))
    assert isinstance(g.labels, PrefixLabels) and g.num_nodes == 3
    assert _arcs(g) == [(0, 1, 1.0), (1, 2, 1.0), (2, 0, 1.0)]


def test_integer_ids_set_the_node_count_and_gzip_works(tmp_path):
    g = read_edge_list(_write(tmp_path, "e.tsv.gz", "0\t9\t2.5\n3\t4\t1\n", compress=True))
    assert g.num_nodes == 10 and _arcs(g) == [(0, 9, 2.5), (3, 4, 1.0)]
    assert g.out_degree()[5] == 0  # ids in between exist as isolated nodes


def test_undirected_makes_two_arcs_and_parallel_edges_add(tmp_path):
    g = read_edge_list(_write(tmp_path, "e.tsv", "a\tb\t1\nb\ta\t2\nb\tc\t0.5\n"), directed=False)
    assert not g.directed
    assert _arcs(g) == [(0, 1, 3.0), (1, 0, 3.0), (1, 2, 0.5), (2, 1, 0.5)]


def test_header_option_overrides_detection(tmp_path):
    path = _write(tmp_path, "e.tsv", "source\ttarget\nx\ty\n")
    assert read_edge_list(path).labels.to_list() == ["x", "y"]
    assert read_edge_list(path, header=False).labels.to_list() == ["source", "target", "x", "y"]


def test_labels_option_keeps_integer_looking_ids_as_text(tmp_path):
    g = read_edge_list(_write(tmp_path, "e.tsv", "1000000000\t7\n7\t42\n"), labels=True)
    assert g.num_nodes == 3 and g.labels.to_list() == ["1000000000", "7", "42"]


def test_delimiter_option(tmp_path):
    path = _write(tmp_path, "e.txt", "new york,big apple\nparis,city of light\n")
    g = read_edge_list(path, delimiter="comma")
    assert g.labels.to_list() == ["new york", "big apple", "paris", "city of light"]
    with pytest.raises(GraphError, match="delimiter"):
        read_edge_list(path, delimiter="colon")


def test_many_blocks_match_one_block(tmp_path):
    rng = np.random.default_rng(0)
    lines = [f"{a}\t{b}\t{w:.3f}" for a, b, w in zip(rng.integers(0, 50, 400), rng.integers(0, 50, 400),
                                                        rng.random(400))]
    path = _write(tmp_path, "e.tsv", "\n".join(lines) + "\n")
    big = read_edge_list(path)
    small = read_edge_list(path, chunk_bytes=37)
    np.testing.assert_array_equal(big.indptr, small.indptr)
    np.testing.assert_array_equal(big.indices, small.indices)
    np.testing.assert_allclose(big.weights, small.weights)


def test_switches_to_labels_when_a_late_id_is_text(tmp_path):
    text = "".join(f"{i}\t{i + 1}\n" for i in range(200)) + "zebra\t0\n"
    g = read_edge_list(_write(tmp_path, "e.tsv", text), chunk_bytes=64)
    assert isinstance(g.labels, ArrayLabels) and g.num_nodes == 202
    assert g.labels.label(0) == "0" and g.labels.lookup("zebra") == 201


def test_progress_reaches_the_file_size(tmp_path):
    path = _write(tmp_path, "e.tsv.gz", "".join(f"{i}\t{i + 1}\n" for i in range(5000)), compress=True)
    seen = []
    read_edge_list(path, chunk_bytes=1000, progress=lambda done, total: seen.append((done, total)))
    size = path.stat().st_size
    assert len(seen) > 3 and seen[-1] == (size, size)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))


@pytest.mark.parametrize("text, line, needle", [
    ("0\t1\n1\n2\t0\n", 2, "1 column(s), expected 2"),
    ("0\t1\t1\n1\t2\n", 2, "2 column(s), expected 3"),
    ("a\tb\t1\nb\tc\tlots\n", 2, "weight 'lots' is not a number"),
    ("0\t1\t1\n1\t2\t-0.5\n", 2, "weight -0.5 is not allowed"),
    ("0\t1\t1\n1\t2\tnan\n2\t0\t1\n", 2, "weight nan is not allowed"),
    ("0\t1\t1\n1\t2\t1\n2\t0\tinf\n", 3, "weight inf is not allowed"),
    ("0\t1\n1\t-2\n", 2, "target id -2 is negative"),
    ("0\t1\n\t2\n", 2, "the source is empty"),
])
def test_bad_lines_name_file_and_line(tmp_path, text, line, needle):
    path = _write(tmp_path, "bad.tsv", text)
    with pytest.raises(GraphError) as err:
        read_edge_list(path)
    msg = str(err.value)
    assert f"{path}, line {line}:" in msg and needle in msg


def test_error_line_numbers_count_across_blocks(tmp_path):
    text = "".join(f"{i}\t{i + 1}\t1\n" for i in range(300)) + "5\t6\n"
    with pytest.raises(GraphError, match=r", line 301: 2 column\(s\)"):
        read_edge_list(_write(tmp_path, "e.tsv", text), chunk_bytes=50)


@pytest.mark.parametrize("text, needle", [
    ("", "no edges"),
    ("# only a comment\n\n", "no edges"),
    ("source\ttarget\n", "no edges"),
    ("0\t1\t2\t3\n", "4 columns, expected 2 or 3"),
    ("lonely\n", "one column only"),
])
def test_files_without_edges_or_with_bad_layout(tmp_path, text, needle):
    path = _write(tmp_path, "e.tsv", text)
    with pytest.raises(GraphError) as err:
        read_edge_list(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_damaged_gzip(tmp_path):
    path = tmp_path / "e.tsv.gz"
    path.write_bytes(gzip.compress(b"0\t1\n" * 1000)[:40])
    with pytest.raises(GraphError, match="gzip"):
        read_edge_list(path)


def test_text_queries_on_a_converted_labelled_file(tmp_path):
    path = _write(tmp_path, "w.tsv.gz", WORDS, compress=True)
    g = load_graph(save_graph(read_edge_list(path, directed=False), tmp_path / "words"))
    sp = Spreader(g, kernel="reference")
    res = sp.query("DOG cat")
    assert sorted(res.seeds) == [g.labels.lookup("dog"), g.labels.lookup("cat")] and res.unknown_terms == []
    assert "bone" in [lab for _, lab, _ in res.top]
    multi = sp.query("ice cream")  # 'Ice Cream' and 'ice_cream' fold together: the first one wins
    assert multi.seeds == [g.labels.lookup("Ice_Cream")] == [4]
    assert sp.query("hot_dog unicorn").unknown_terms == ["unicorn"]
    with pytest.raises(QueryError):
        sp.query("unicorn dragon")


# ------------------------------------------------------------------ property
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pspread.engine.graph import Graph  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(
    edges=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 1000)), min_size=1, max_size=60),
    delim=st.sampled_from(["\t", ",", " "]),
    header=st.booleans(), weighted=st.booleans(), text=st.booleans(), directed=st.booleans(),
    chunk=st.sampled_from([16, 64, 1 << 20]),
)
def test_any_layout_reads_like_from_edges(tmp_path_factory, edges, delim, header, weighted, text, directed, chunk):
    name = (lambda i: f"w{i}") if text else str
    lines = ["source{0}target{1}".format(delim, f"{delim}weight" if weighted else "")] if header else []
    for a, b, w in edges:
        lines.append(delim.join([name(a), name(b)] + ([f"{w / 100:g}"] if weighted else [])))
    path = tmp_path_factory.mktemp("prop") / "e.txt"
    path.write_text("\n".join(lines) + "\n")
    g = read_edge_list(path, directed=directed, chunk_bytes=chunk)
    src = [a for a, _, _ in edges]
    dst = [b for _, b, _ in edges]
    w = [x / 100 for _, _, x in edges] if weighted else None
    if text:  # ids in order of first appearance
        order: dict[int, int] = {}
        for a, b in zip(src, dst):
            order.setdefault(a, len(order))
            order.setdefault(b, len(order))
        src, dst = [order[a] for a in src], [order[b] for b in dst]
        assert g.labels.to_list() == [f"w{k}" for k in order]
    want = Graph.from_edges(src, dst, w, num_nodes=g.num_nodes, directed=directed)
    np.testing.assert_array_equal(g.indptr, want.indptr)
    np.testing.assert_array_equal(g.indices, want.indices)
    np.testing.assert_allclose(g.weights, want.weights, rtol=1e-6)


@pytest.mark.parametrize("chunk", [8, 1 << 20])
def test_leading_comments_and_header_span_blocks(tmp_path, chunk):
    text = "# comment one\n# comment two\n\nsource target weight\ndog cat 1\n# inner a\ncat mouse 2\n"
    g = read_edge_list(_write(tmp_path, "e.txt", text), chunk_bytes=chunk)
    assert g.labels.to_list() == ["dog", "cat", "mouse"] and _arcs(g) == [(0, 1, 1.0), (1, 2, 2.0)]
