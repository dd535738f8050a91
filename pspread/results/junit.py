"""Gate verdicts as JUnit XML, the format every CI system shows as a test report.

One ``<testcase>`` per gate (``classname`` the metric, ``name`` the gate as
written); a failed gate carries a ``<failure>`` with what was observed, a
SKIPPED one a ``<skipped>`` with its reason -- or, under ``--strict``, a
``<failure>``, since the run failed because of it.  A run that did not
complete adds one failing ``run`` testcase, so an interrupted or aborted run
is never reported green.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pspread.results.run import Results


def to_junit(results: Results) -> str:
    """The JUnit XML document of a run's gates."""
    counts = results.verdict_counts()
    incomplete = results.status != "complete"
    failures = counts["fail"] + (counts["skipped"] if results.strict else 0) + int(incomplete)
    suite = ET.Element("testsuite", name=f"pspread {results.scenario_name}",
                       tests=str(len(results.thresholds) + int(incomplete)), failures=str(failures), errors="0",
                       skipped=str(0 if results.strict else counts["skipped"]),
                       timestamp=results.started_utc.rstrip("Z"))
    for v in results.thresholds:
        case = ET.SubElement(suite, "testcase", classname=f"pspread.{v.metric}", name=f"{v.metric}: {v.threshold}")
        observed = "nothing" if v.observed is None else f"{v.observed:.6g}"
        if v.status == "fail":
            ET.SubElement(case, "failure", message=f"observed {observed}", type="gate").text = (
                f"{v.metric}: {v.threshold} failed; observed {observed}")
        elif v.status == "skipped" and results.strict:
            ET.SubElement(case, "failure", message=f"skipped under --strict: {v.reason}", type="strict")
        elif v.status == "skipped":
            ET.SubElement(case, "skipped", message=v.reason)
        else:
            case.set("time", "0")
    if incomplete:
        case = ET.SubElement(suite, "testcase", classname="pspread.run", name="run completed")
        ET.SubElement(case, "failure", message=f"the run ended {results.status}", type="run").text = (
            results.error or f"status {results.status}, exit {results.exit_status}")
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
