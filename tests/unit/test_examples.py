"""The shipped example graph is Zachary's karate club, found by name, and behaves like it."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np

import pspread
from pspread.engine.examples import examples_dir, shipped_example

#: Mr. Hi's side after the split (Zachary 1977, Table 3), in the file's m1..m34 numbering
HI_SIDE = {f"m{i}" for i in (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 17, 18, 20, 22)}


def test_the_file_is_zacharys_matrix_as_networkx_transcribes_it():
    g = pspread.load_graph("karate")
    assert (g.num_nodes, g.num_arcs, g.directed) == (34, 156, False)
    ref = nx.karate_club_graph()
    index = {label: i for i, label in enumerate(g.labels.to_list())}
    dense = g.to_scipy().toarray()
    for u, v, w in ref.edges(data="weight"):
        a, b = index[f"m{u + 1}"], index[f"m{v + 1}"]
        assert dense[a, b] == dense[b, a] == w
    assert np.count_nonzero(dense) == 2 * ref.number_of_edges()
    assert HI_SIDE == {f"m{n + 1}" for n in ref if ref.nodes[n]["club"] == "Mr. Hi"}


def test_it_is_found_by_name_and_by_checkout_path_but_a_local_file_wins(tmp_path, monkeypatch):
    shipped = examples_dir() / "karate.tsv"
    assert shipped_example("karate") == shipped_example("examples/karate.tsv") == shipped
    assert shipped_example("other/karate.tsv") is None and shipped_example("nope") is None
    monkeypatch.chdir(tmp_path)
    Path("karate").write_text("a\tb\n")
    assert shipped_example("karate") is None and pspread.load_graph("karate").num_nodes == 2
    assert (examples_dir() / "NOTICE.md").read_text().count("Zachary") >= 2


def test_ranking_from_the_instructor_stays_on_his_side():
    g = pspread.load_graph("karate")
    top = pspread.Spreader(g, pspread.SpreadModel.preset("ppr", top_k=6)).query("m1").top
    assert top[0][1] == "m1" and {label for _, label, _ in top[:5]} <= HI_SIDE
