"""The report page: figures as plotly specs, tables as HTML, plotly.js embedded once.

The page embeds the plotly.js basic bundle pspread ships
(``vendor/plotly-basic.min.js``, 1.2 MB; vendor/README.md says why this one),
so a report opens offline in any current browser and pspread needs no
plotting package installed.  The tables (verdicts, environment, comparison)
are plain HTML and read without any script.  A small collector records every
script error and ``console.error`` in ``window.__pspreadErrors``, and the page
marks ``<body data-rendered="ok">`` once every plot is drawn: what the browser
test waits for and checks.  Plots are drawn one at a time in page order,
yielding to the browser between them, so the first screen shows while the
rest are still drawn; ``window.__pspreadTiming`` keeps when plotly was ready,
the first plot drawn and the last.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Sequence

from pspread.errors import PspreadError
from pspread.report.figure import Band, Figure, Trace
from pspread.report.tables import Table

SECTIONS = (("verdict", "Verdict"), ("load", "Load"), ("distribution", "Distribution"),
            ("breakdown", "Breakdowns"), ("capacity", "Capacity and resources"), ("context", "Context"))
PLOTLY_FILE = "plotly-basic.min.js"


class ReportError(PspreadError):
    """A report cannot be made: a results file that is not a finished run, or a broken install (exit 2)."""


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The vendored plotly.js bundle, safe to put inside a ``<script>`` element."""
    try:
        source = resources.files("pspread.report").joinpath("vendor").joinpath(PLOTLY_FILE).read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"pspread's copy of plotly.js is missing ({exc}); reinstall pspread") from None
    return re.sub(r"</(script)", r"<\\/\1", source, flags=re.IGNORECASE)


_MODES = {"line": "lines", "dash": "lines", "markers": "markers", "lines+markers": "lines+markers"}


def trace_spec(trace: Trace) -> dict[str, Any]:
    """A plotly trace (plain dict) for one :class:`Trace`."""
    spec: dict[str, Any] = {"name": trace.name, "x": trace.x, "y": trace.y}
    if trace.style == "bar":
        spec["type"] = "bar"
    else:
        spec.update(type="scatter", mode=_MODES.get(trace.style, "lines"))
        if trace.style == "dash":
            spec["line"] = {"dash": "dash"}
    if trace.axis == "y2":
        spec["yaxis"] = "y2"
    if trace.text is not None:
        spec["text"] = trace.text
    return spec


def _band_shapes(bands: Sequence[Band]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shapes, notes = [], []
    for k, b in enumerate(bands):
        shade = "rgba(120,120,120,0.16)" if not b.measured else ("rgba(70,130,180,0.10)" if k % 2 == 0
                                                                  else "rgba(70,130,180,0.04)")
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": b.x0, "x1": b.x1, "y0": 0, "y1": 1,
                       "fillcolor": shade, "line": {"width": 0}, "layer": "below"})
        notes.append({"x": (b.x0 + b.x1) / 2, "y": 1.0, "xref": "x", "yref": "paper", "yanchor": "bottom",
                      "text": html.escape(b.label), "showarrow": False, "font": {"size": 10}})
    return shapes, notes


def figure_spec(fig: Figure) -> dict[str, Any]:
    """The plotly ``data`` and ``layout`` of one figure (JSON-ready)."""
    shapes, notes = _band_shapes(fig.bands)
    for x, text in fig.vlines:
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                       "line": {"color": "crimson", "dash": "dot", "width": 2}})
        notes.append({"x": x, "y": 0.98, "xref": "x", "yref": "paper", "text": html.escape(text),
                      "showarrow": False, "xanchor": "left", "font": {"color": "crimson"}})
    xaxis: dict[str, Any] = {"title": {"text": fig.x_title}, "type": fig.x_type, "zeroline": False}
    if fig.x_ticks is not None:
        xaxis.update(tickvals=fig.x_ticks[0], ticktext=fig.x_ticks[1])
    layout: dict[str, Any] = {
        "title": {"text": fig.title, "x": 0.01}, "xaxis": xaxis,
        "yaxis": {"title": {"text": fig.y_title}, "type": fig.y_type, "rangemode": "tozero"},
        "shapes": shapes, "annotations": notes, "height": 430,
        "margin": {"l": 64, "r": 64 if fig.y2_title else 24, "t": 56, "b": 48},
        "legend": {"orientation": "h", "y": -0.18}, "barmode": "stack" if fig.stacked else "group",
        "hovermode": "x unified" if fig.bands else "closest",
    }
    if fig.y_type == "log":
        layout["yaxis"].pop("rangemode")
    if fig.y2_title:
        layout["yaxis2"] = {"title": {"text": fig.y2_title}, "overlaying": "y", "side": "right",
                            "rangemode": "tozero", "showgrid": False}
    return {"key": fig.key, "data": [trace_spec(t) for t in fig.traces], "layout": layout}


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = []
    for row, css in zip(table.rows, table.classes):
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in row)
        body.append(f'<tr class="{html.escape(css)}">{cells}</tr>')
    if not body:
        body.append(f'<tr><td colspan="{len(table.headers)}">none recorded</td></tr>')
    return (f'<h3>{html.escape(table.title)}</h3><div class="scroll"><table id="table-{table.key}">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:14px 28px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c7ccd6}main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:6px;margin:18px 0;padding:6px 18px 14px}
h2{font-size:17px;margin:12px 0 4px}h3{font-size:14px;margin:14px 0 6px}
.plot{min-height:430px}.note{color:#5a6272;font-size:12.5px;margin:0 0 8px}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:13px}
th,td{border-bottom:1px solid #e6e8ec;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f0f2f5}tr.pass td:nth-child(5){color:#17803d}tr.fail td{color:#b3261e;font-weight:600}
tr.skipped td{color:#6b7280}#render-status{color:#b3261e;font-weight:600}
"""

_COLLECTOR = """window.__pspreadErrors=[];
window.addEventListener('error',function(e){window.__pspreadErrors.push(String(e.message||e));});
window.addEventListener('unhandledrejection',function(e){window.__pspreadErrors.push(String(e.reason));});
(function(){var o=console.error;console.error=function(){
window.__pspreadErrors.push(Array.prototype.join.call(arguments,' '));o.apply(console,arguments);};})();"""

_LOADER = """(async function(){
var status=document.getElementById('render-status');
var timing=window.__pspreadTiming;timing.plotly=performance.now();
try{
 var figs=JSON.parse(document.getElementById('pspread-figures').textContent);
 for(var k=0;k<figs.length;k++){var f=figs[k];
  await Plotly.newPlot(document.getElementById('fig-'+f.key),f.data,f.layout,{responsive:true,displaylogo:false});
  if(k===0){timing.first=performance.now();}
  await new Promise(function(done){setTimeout(done,0);});}
 timing.drawn=performance.now();
 document.body.dataset.rendered=window.__pspreadErrors.length?'error':'ok';status.textContent='';
}catch(e){window.__pspreadErrors.push(String(e));document.body.dataset.rendered='error';
 status.textContent='Plots could not be drawn: '+e;}
})();"""


def _script_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).replace("</", "<\\/")


def page(title: str, subtitle: str, figures: Sequence[Figure], tables: dict[str, list[Table]]) -> str:
    """The whole report as one HTML document."""
    parts = []
    for section, heading in SECTIONS:
        body = [_table_html(t) for t in tables.get(section, [])]
        for fig in figures:
            if fig.section == section:
                note = f'<p class="note">{html.escape(fig.note)}</p>' if fig.note else ""
                body.append(f'<div class="plot" id="fig-{fig.key}" data-points="{fig.points}"></div>{note}')
        if body:
            parts.append(f'<section id="{section}"><h2>{heading}</h2>{"".join(body)}</section>')
    specs = [figure_spec(f) for f in figures]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style><script>{_COLLECTOR}</script></head>"
        f'<body data-rendered="pending"><header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>'
        '<p id="render-status">Drawing the plots…</p></header>'
        f'<main>{"".join(parts)}</main>'
        f'<script type="application/json" id="pspread-figures">{_script_json(specs)}</script>'
        f"<script>window.__pspreadTiming={{start:performance.now()}};</script>"
        f"<script>{plotly_js()}</script>"
        f"<script>{_LOADER}</script></body></html>\n"
    )
