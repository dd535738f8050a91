"""`pspread compare` on results files: the verdict and exit code of each kind of pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_compare import synthetic
from typer.testing import CliRunner

from pspread.results import write_json_atomic

runner = CliRunner()


def _file(tmp_path: Path, name: str, results) -> Path:
    return write_json_atomic(results, tmp_path / f"{name}.json")


CASES = [
    # (id, base, new, exit code, text in the output)
    ("same scenario, noise only", lambda: synthetic(seed=0, seconds=4), lambda: synthetic(seed=1, seconds=4), 0,
     "no regression"),
    ("1500x worse p99 on a 4 s run", lambda: synthetic(seconds=4), lambda: synthetic(scale=1500, seed=1, seconds=4),
     1, "REGRESSION"),
    ("different graph refused", lambda: synthetic(),
     lambda: synthetic(seed=1, scenario={"graph": {"path": "other.tsv"}, "phases": [{"kind": "closed"}]}), 2,
     "different setups"),
    ("incomplete run refused", lambda: synthetic(),
     lambda: synthetic(seed=1).model_copy(update={"status": "running"}), 2, "incomplete"),
]


@pytest.mark.parametrize("base, new, code, text", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_compare_table(app, tmp_path: Path, base, new, code: int, text: str) -> None:
    res = runner.invoke(app, ["compare", str(_file(tmp_path, "base", base())), str(_file(tmp_path, "new", new()))])
    assert res.exit_code == code, res.output
    assert text in res.output
    assert "Traceback" not in res.output


def test_allow_mismatch_compares_with_a_warning_and_markdown(app, tmp_path: Path) -> None:
    other = synthetic(seed=1, scale=3, scenario={"graph": {"path": "other.tsv"}, "phases": [{"kind": "closed"}]})
    md = tmp_path / "cmp.md"
    res = runner.invoke(app, ["compare", str(_file(tmp_path, "b", synthetic())), str(_file(tmp_path, "n", other)),
                              "--allow-mismatch", "--markdown", str(md)])
    assert res.exit_code == 1, res.output
    assert "different setups" in res.output
    text = md.read_text()
    assert text.startswith("## pspread compare:") and "| run | p99 |" in text and "REGRESSION" in text


def test_a_folder_baseline_is_the_median_of_its_last_runs(app, tmp_path: Path) -> None:
    folder = tmp_path / "history"
    folder.mkdir()
    runs = [synthetic(scale=scale, seed=i, seconds=4) for i, scale in enumerate((0.2, 1.0, 1.01, 0.99))]
    for i, run in enumerate(runs):  # file names start with the UTC time: the 0.2x run is the oldest
        write_json_atomic(run, folder / f"2026120{i}T000000Z-s.json")
    new = _file(tmp_path, "new", synthetic(seed=7, seconds=4))
    res = runner.invoke(app, ["compare", str(folder), str(new), "--last", "3", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    p50 = next(m for m in data["metrics"] if m["scope"] == "run" and m["metric"] == "p50")
    assert data["baselines"] == 3 and not data["regressed"]
    assert p50["base"] == pytest.approx(sorted(r.summary.latency_ms.med for r in runs[1:])[1])
    res = runner.invoke(app, ["compare", str(folder), str(new), "--last", "4", "--json"])
    assert json.loads(res.output)["baselines"] == 4
