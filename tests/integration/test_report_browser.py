"""The report in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``) through selenium.

The page's scripts run with the network shut off (every host name resolves to
nothing), then the test checks that every plot the Python side built was drawn
with its data points in the DOM, that no script error or ``console.error``
happened, and that a screenshot is not blank.  Without Chromium, chromedriver
or selenium the tests skip and say which is missing (``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import pytest
import report_data as rd

from pspread.report import build_figures, run_labels, write_report

pytestmark = pytest.mark.slow

WAIT_S = 120  # how long the page may take to draw on a busy machine; a wait, not an assertion on time


def _browser_paths() -> tuple[str, str]:
    browser = os.environ.get("PSPREAD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("PSPREAD_CHROMEDRIVER") or shutil.which("chromedriver")
    if not browser:
        pytest.skip("no Chromium to open the report in: install Debian's chromium (apt-get install -y chromium "
                    "chromium-driver), or set PSPREAD_CHROMIUM")
    if not driver:
        pytest.skip("no chromedriver to drive Chromium: install Debian's chromium-driver, or set PSPREAD_CHROMEDRIVER")
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _browser_paths()
    # Chromium's profile and its singleton socket folder go in a folder of ours, removed afterwards
    # (left to itself it leaves an org.chromium.Chromium.* folder in /tmp per start)
    scratch = tempfile.TemporaryDirectory(prefix="pspread-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost", f"--user-data-dir={scratch.name}/profile"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(driver_path, env={**os.environ, "TMPDIR": scratch.name})
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()
        scratch.cleanup()


def _open(driver, path: Path) -> dict:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(path.resolve().as_uri())
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.execute_script("return document.body.dataset.rendered") != "pending")
    return driver.execute_script("""
        var plots = {};
        document.querySelectorAll('.plot').forEach(function (el) {
          var drawn = el.querySelectorAll('.scatterlayer path.js-line, .scatterlayer path.point, .barlayer path');
          var painted = Array.prototype.filter.call(drawn, function (p) {
            var d = p.getAttribute('d'); return d && d !== 'M0,0Z' && d.length > 4; });
          plots[el.id] = {traces: (el.data || []).length,
                          points: (el.data || []).reduce(function (n, t) {
                            return n + (t.y || []).filter(function (v) { return v !== null; }).length; }, 0),
                          painted: painted.length};
        });
        return {rendered: document.body.dataset.rendered, errors: window.__pspreadErrors, plots: plots,
                status: document.getElementById('render-status').textContent};
    """)


def _check_page(driver, path: Path, results) -> dict:
    page = _open(driver, path)
    assert page["errors"] == [], page["errors"]
    severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert severe == [], severe
    assert page["rendered"] == "ok", page["status"]
    runs = [(name, r.to_dict()) for name, r in zip(run_labels(len(results)), results)]
    expected = {f"fig-{f.key}": f for f in build_figures(runs)}
    assert set(page["plots"]) == set(expected)
    for key, fig in expected.items():
        plot = page["plots"][key]
        assert plot["traces"] == len(fig.traces), key
        assert plot["points"] == fig.points > 0, key
        if any(v for t in fig.traces for v in t.y):  # all-zero bars draw nothing, rightly
            assert plot["painted"] > 0, key
    return page


def _distinct_rows(png: bytes) -> int:
    """How many different (filtered) pixel rows a PNG has: a blank screenshot has a handful, a report hundreds."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, colour = struct.unpack(">IIBB", body[:10])
            channels = {2: 3, 6: 4, 0: 1, 4: 2}[colour]
            assert depth == 8
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    return len({raw[i:i + stride] for i in range(0, len(raw), stride)})


def test_a_soak_report_renders_every_plot(browser, tmp_path: Path):
    results = rd.soak(seconds=120)
    path = write_report([results], tmp_path / "soak.html")
    page = _check_page(browser, path, [results])
    assert {"fig-latency", "fig-distribution", "fig-kind-latency", "fig-memory-time"} <= set(page["plots"])
    assert _distinct_rows(browser.get_screenshot_as_png()) > 50


def test_stress_speedup_and_overlay_reports_render(browser, tmp_path: Path):
    for name, results in (("stress", [rd.stress()]), ("speedup", [rd.speedup()]),
                          ("overlay", [rd.soak(seconds=30), rd.soak(seconds=30, seed=9)]), ("ramp", [rd.ramp()])):
        path = write_report(results, tmp_path / f"{name}.html")
        page = _check_page(browser, path, results)
        assert page["plots"], name
    assert "fig-capacity" in _open(browser, tmp_path / "stress.html")["plots"]
    assert set(_open(browser, tmp_path / "speedup.html")["plots"]) == {"fig-speedup"}
