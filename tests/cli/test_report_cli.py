"""``pspread report``: writes one self-contained page; refuses bad input with exit 2 and one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import report_data as rd
from typer.testing import CliRunner

from pspread.report import write_report
from pspread.report.html import PLOTLY_FILE, plotly_js
from pspread.results.export import write_json_atomic

runner = CliRunner()
#: the vendored bundle's version (vendor/README.md says how to update it)
PLOTLY_VERSION = "4.1.1"


def _file(tmp_path: Path, results, name: str) -> Path:
    return write_json_atomic(results, tmp_path / f"{name}.json")


def _one_line_error(res) -> str:
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert "Traceback" not in res.output
    return lines[0]


def test_report_of_one_file(app, tmp_path: Path):
    src = _file(tmp_path, rd.soak(seconds=20), "soak")
    out = tmp_path / "out" / "report.html"
    res = runner.invoke(app, ["report", str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert f"report: {out}" in res.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    for key in ("latency", "rate", "distribution", "worker-load", "kind-latency", "cpu-split", "memory-time"):
        assert f'id="fig-{key}"' in text
    assert "https://" not in text.split(plotly_js()[:200])[0]  # nothing before plotly.js points to the network
    assert not list(out.parent.glob(".*.tmp"))  # the atomic write left no temporary file


def test_overlay_of_two_files_shows_the_comparison(app, tmp_path: Path):
    base = _file(tmp_path, rd.soak(seconds=20), "base")
    new = _file(tmp_path, rd.soak(seconds=20, seed=4), "new")
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["report", str(base), str(new), "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8")
    assert 'id="table-compare"' in text and "base: p99" in text and "new: p99" in text


def test_a_running_file_is_refused(app, tmp_path: Path):
    data = rd.soak(seconds=5).to_dict()
    data["status"] = "running"
    path = tmp_path / "running.json"
    path.write_text(json.dumps(data))
    line = _one_line_error(runner.invoke(app, ["report", str(path), "-o", str(tmp_path / "r.html")]))
    assert "running" in line and str(path) in line
    assert not (tmp_path / "r.html").exists()


def test_another_schema_version_is_refused(app, tmp_path: Path):
    data = rd.soak(seconds=5).to_dict()
    data["schema_version"] = 99
    path = tmp_path / "v99.json"
    path.write_text(json.dumps(data))
    line = _one_line_error(runner.invoke(app, ["report", str(path), "-o", str(tmp_path / "r.html")]))
    assert "schema version 99" in line


@pytest.mark.parametrize("content", ["not json at all", "", "[1, 2]"])
def test_a_file_that_is_not_results_json_is_refused(app, tmp_path: Path, content: str):
    path = tmp_path / "bad.json"
    path.write_text(content)
    line = _one_line_error(runner.invoke(app, ["report", str(path), "-o", str(tmp_path / "r.html")]))
    assert str(path) in line or "results" in line


def test_a_missing_file_is_refused(app, tmp_path: Path):
    line = _one_line_error(runner.invoke(app, ["report", str(tmp_path / "nope.json")]))
    assert "nope.json" in line


def test_pspread_help_does_not_import_the_report():
    out = subprocess.run([sys.executable, "-c", "import sys; from pspread.cli.app import main; sys.argv=['pspread',"
                          "'--help']\ntry:\n main()\nexcept SystemExit: pass\n"
                          "print('LOADED', sorted(m for m in sys.modules if m.startswith('pspread.report')))"],
                         capture_output=True, text=True, check=True)
    assert "report" in out.stdout and "LOADED []" in out.stdout, out.stdout


def test_text_from_the_results_cannot_break_the_page(tmp_path: Path):
    results = rd.soak(seconds=5)
    data = results.to_dict()
    data["scenario_name"] = "</script><b>x</b>"
    data["phases"][1]["name"] = "</script>"
    from pspread.results.run import Results

    text = write_report([Results.from_dict(data)], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<b>x</b>" not in text
    # the only closing script tags are those of the page's own scripts
    assert len(re.findall(r"</script", text, flags=re.IGNORECASE)) == text.count("<script")


def test_the_report_of_a_ten_minute_soak_stays_under_5_mb(tmp_path: Path):
    path = write_report([rd.soak(seconds=600)], tmp_path / "soak.html")
    size = path.stat().st_size
    assert size < 5_000_000, size
    # the data is the small part: plotly.js is embedded once
    assert size - len(plotly_js().encode("utf-8")) < 1_000_000


def test_the_vendored_plotly_is_the_documented_version():
    head = plotly_js()[:200]
    assert f"v{PLOTLY_VERSION}" in head and "basic" in head
    readme = (Path(__file__).parents[2] / "pspread" / "report" / "vendor" / "README.md").read_text()
    assert PLOTLY_VERSION in readme and PLOTLY_FILE in readme
