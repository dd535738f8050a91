"""``pspread report RESULTS.json [MORE.json ...] -o report.html``: one offline HTML file of plots.

Several files are overlaid, the first as the baseline, with what ``pspread
compare`` judges between it and each other.  Exit 2 on a file that is not
JSON, of another schema version, or of a run still going (status
``running``).
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer
from typing_extensions import Annotated

from pspread.cli.errors import fail
from pspread.cli.options import epilog


def report_command(
    files: Annotated[List[Path], typer.Argument(metavar="RESULTS...",
                                                help="Results JSON files; the first is the baseline of an overlay.")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="The HTML file to write.")] = Path(
        "report.html"),
) -> None:
    """Write one self-contained HTML report (plots, gates, environment) of results files; works offline."""
    from pspread.report import write_report
    from pspread.report.html import ReportError
    from pspread.results.export import read_results

    runs = []
    for path in files:
        results = read_results(path)
        if results.status == "running":
            raise ReportError(f"{path}: the run is still going (status 'running'), so its figures are incomplete; "
                              "report on it once it has finished")
        runs.append(results)
    if output.is_dir():
        raise fail(f"{output}: is a folder; give the report's file name, e.g. -o {output / 'report.html'}")
    written = write_report(runs, output)
    typer.echo(f"report: {written} ({written.stat().st_size / 1e6:.2f} MB, {len(runs)} run(s))")


def register(app: typer.Typer) -> None:
    app.command("report", epilog=epilog([
        "pspread report results/20261201T120000Z-quickstart.json -o report.html",
        "pspread report base.json new.json -o compare.html   # overlaid: base against new",
    ], exits=(0, 2)))(report_command)
