"""The reports in a real browser (issue 13, item 10).

Headless Chromium (Debian's ``chromium`` package) opens ``index.html`` and
every ``report.html`` and checks, at a 1,400 px wide window:

* no console error, no uncaught exception, no failed resource load, and
  nothing loaded from the network (scripts, styles, images, frames);
* the synthetic-data banner is visible (rendered, not hidden, in the first
  screen) on every page whose data are synthetic;
* every image has loaded (``naturalWidth > 0``);
* no table is wider than the page;
* no table cell shows an unrounded float (six or more decimals, as
  ``26.153846153846153``; issue 13, item 3).

Pages checked: a small report set built here with the project's own
rendering code (sections -> notebook HTML export -> index page), always;
and the built ``reports/`` of the work tree when ``reports/index.html``
exists (the lead builds them with ``dvc repro``).

The browser is driven through the Chrome DevTools Protocol over
``--remote-debugging-pipe`` (file descriptors 3 and 4, messages separated by
NUL bytes): no network port, no extra Python package.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.core import paths

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WIDTH, HEIGHT = 1400, 900
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
         f"--window-size={WIDTH},{HEIGHT}", "--remote-debugging-pipe"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (setup.sh installs it)")


class Browser:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, profile: Path) -> None:
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()

        def wire() -> None:                       # child: fds 3 (commands) and 4 (replies)
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=wire, pass_fds=(3, 4))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 20.0) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float = 20.0) -> dict[str, Any]:
        for i, ev in enumerate(self.events):
            if ev.get("method") == method and ev.get("sessionId") == session:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            ev = self._read(max(0.01, deadline - time.monotonic()))
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev
            self.events.append(ev)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - the process is ended below anyway
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)


# Everything the page is checked for, measured in the page itself.
PROBE = r"""(() => {
  const vw = document.documentElement.clientWidth;
  const banners = [...document.querySelectorAll('div, p, section, header')]
    .filter(e => /SYNTHETIC DATA/.test(e.textContent) && ![...e.children].some(
      c => /SYNTHETIC DATA/.test(c.textContent)));
  const visible = e => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
      && parseFloat(s.opacity) > 0 && r.top + window.scrollY < window.innerHeight; };
  return {
    viewport: vw,
    synthetic: /SYNTHETIC DATA/.test(document.body.textContent),
    banner_visible: banners.some(visible),
    images: [...document.images].map(i => ({src: i.src.slice(0, 80), ok: i.complete && i.naturalWidth > 0})),
    tables: [...document.querySelectorAll('table')].map((t, k) => {
      const r = t.getBoundingClientRect();
      return {k: k, width: Math.round(r.width), right: Math.round(r.right + window.scrollX),
              caption: (t.caption ? t.caption.textContent : t.textContent).slice(0, 60)}; }),
    scroll_width: document.documentElement.scrollWidth,
    unrounded: [...document.querySelectorAll('td, th')].map(c => c.textContent.trim())
      .filter(t => /\d\.\d{6,}/.test(t)).slice(0, 5),
    external: [...document.querySelectorAll('script[src], link[href], img[src], iframe[src]')]
      .map(e => e.getAttribute('src') || e.getAttribute('href'))
      .filter(u => /^(https?:)?\/\//.test(u)),
  };
})()"""


def check_page(browser: Browser, url: str) -> dict[str, Any]:
    """Open *url* in a fresh tab at 1,400 px and return the probe plus every error seen."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
                 session=session)
    browser.send("Page.navigate", {"url": url}, session=session)
    browser.wait_event("Page.loadEventFired", session)
    probe = browser.send("Runtime.evaluate", {"expression": PROBE, "returnByValue": True},
                         session=session)["result"]["value"]
    errors = []
    for ev in [e for e in browser.events if e.get("sessionId") == session]:
        p = ev.get("params", {})
        if ev["method"] == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif ev["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                       for a in p.get("args", [])))
        elif ev["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
            errors.append(f"{p['entry'].get('source')}: {p['entry']['text']} {p['entry'].get('url', '')}")
    browser.events = [e for e in browser.events if e.get("sessionId") != session]
    browser.send("Target.closeTarget", {"targetId": target})
    probe["errors"] = errors
    return probe


def problems(name: str, probe: dict[str, Any]) -> list[str]:
    out = [f"{name}: {e}" for e in probe["errors"]]
    if probe["synthetic"] and not probe["banner_visible"]:
        out.append(f"{name}: the synthetic-data banner is not visible in the first screen")
    out += [f"{name}: image did not load: {i['src']}" for i in probe["images"] if not i["ok"]]
    vw = probe["viewport"]
    out += [f"{name}: table {t['k']} ({t['caption']!r}) is {t['width']} px wide, the page {vw} px"
            for t in probe["tables"] if t["width"] > vw or t["right"] > vw + 1]
    out += [f"{name}: a table cell shows an unrounded float: {t[:60]!r}" for t in probe["unrounded"]]
    out += [f"{name}: loads {u} from the network (a report must open offline)"
            for u in probe["external"]]
    if probe["scroll_width"] > vw + 1:
        out.append(f"{name}: the page scrolls sideways ({probe['scroll_width']} px > {vw} px)")
    return out


# ------------------------------------------------------------- the pages
def _sections(results: Path) -> None:
    """One stored section with a long fit table, a 19-column table and a figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.reporting import report

    w = report.SectionWriter(results, "fit", "Model fit")
    w.text("Fit of the **measurement** model.")
    w.table("fit", pd.DataFrame({"name": ["chisq", "df", "pvalue", "cfi", "rmsea"],
                                 "value": [293.15671, 188.0, 0.0341, 0.95612, 0.0361]}
                                ).set_index("name"), caption="Fit indices")
    rng = np.random.default_rng(1)
    wide = pd.DataFrame(rng.normal(size=(4, 19)), columns=[f"item {i} (agreement)" for i in range(19)])
    w.table("wide", wide, caption="A wide table: 19 items")
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.plot([0, 1], [0, 1])
    w.figure("line", fig, caption="A figure")
    plt.close(fig)
    w.close()


def _page_set(root: Path, body: str, to_html: Any) -> list[Path]:
    """index.html + wave/report.html: *body* as a notebook output exported by *to_html*."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from pipeline.reporting import report

    banner = report.synthetic_banner({"seed": 1, "generator_version": "test"})
    nb = new_notebook()
    cell = new_code_cell("report.show('fit')")
    cell.outputs = [new_output("display_data", data={"text/html": banner + body})]
    nb.cells = [cell]
    nb_path = root / "report.ipynb"
    nbformat.write(nb, nb_path)
    out = root / "reports" / "wave"
    out.mkdir(parents=True, exist_ok=True)
    to_html(nb_path, out / "report.html")
    index = root / "reports" / "index.html"
    index.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>index</title></head>"
                     f"<body>{banner}<h1>Reports</h1><ul><li><a href='wave/report.html'>wave</a>"
                     "</li></ul></body></html>", encoding="utf-8")
    return [index, out / "report.html"]


def _build_report_set(root: Path) -> list[Path]:
    """The pages as the reporting library renders them: APA tables
    (:func:`pipeline.reporting.format.html_table`), figures with alternative
    text, the offline notebook export (:mod:`pipeline.reporting.page`)."""
    from pipeline.reporting import format as fmt
    from pipeline.reporting import page

    results = root / "results"
    _sections(results)
    manifest = json.loads((results / "fit" / "manifest.json").read_text(encoding="utf-8"))
    parts = [f"<style>{page.PAGE_CSS}</style>"]
    n_table = n_figure = 0
    for item in manifest["items"]:
        if item["kind"] == "table":
            n_table += 1
            df = pd.read_csv(results / "fit" / f"{item['name']}.csv", index_col=0)
            parts.append(fmt.html_table(df, caption=item["caption"], number=n_table))
        elif item["kind"] == "figure":
            n_figure += 1
            parts.append(page.figure_html(results / "fit" / f"{item['name']}.png",
                                          alt=item["caption"], caption=item["caption"],
                                          number=n_figure))
    return _page_set(root, "\n".join(parts), page.notebook_to_html)


def _build_report_set_report_py(root: Path) -> list[Path]:
    """The pages as ``pipeline.reporting.report`` renders them today."""
    from pipeline.reporting import report

    results = root / "results"
    _sections(results)
    body = report.SectionReader(results, "fit").render(root / "reports" / "wave")
    return _page_set(root, body, report._to_html)


def _work_tree_reports() -> list[Path]:
    reports = paths.ROOT / "reports"
    index = reports / "index.html"
    if not index.exists():
        return []
    return [index, *sorted(reports.glob("*/report.html"))]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        b.send("Browser.getVersion")
        yield b
    finally:
        b.close()


def test_probe_detects_the_failures_it_looks_for(browser, tmp_path):
    """A page with each defect: the probe must report every one (the test can fail)."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
        "<div style='display:none'>SYNTHETIC DATA - hidden</div>"
        "<script src='https://cdn.example.org/x.js'></script>"
        "<img src='missing.png'><table><tr><td style='white-space:nowrap'>" + "x" * 400
        + "</td><td>26.153846153846153</td></tr></table><script>console.error('boom'); undefined_function();</script>"
        "</body></html>", encoding="utf-8")
    found = problems("bad", check_page(browser, page.as_uri()))
    text = "\n".join(found)
    assert "console.error: boom" in text
    assert "undefined_function is not defined" in text
    assert "synthetic-data banner is not visible" in text
    assert "image did not load" in text and "missing.png" in text
    assert "px wide, the page 1400 px" in text
    assert "loads https://cdn.example.org/x.js from the network" in text
    assert "a table cell shows an unrounded float: '26.153846153846153'" in text


def _check_set(browser: Browser, root: Path, pages: list[Path]) -> list[str]:
    found = []
    for page in pages:
        probe = check_page(browser, page.as_uri())
        assert probe["viewport"] == WIDTH
        assert probe["synthetic"] and probe["banner_visible"], page.name
        if page.name == "report.html":
            assert len(probe["images"]) == 1 and len(probe["tables"]) == 2
        found += problems(str(page.relative_to(root)), probe)
    return found


def test_library_report_set_opens_cleanly(browser, tmp_path):
    """APA tables, figures with alt text, offline export: no error, nothing too wide."""
    t0 = time.monotonic()
    found = _check_set(browser, tmp_path, _build_report_set(tmp_path))
    assert not found, "\n".join(found)
    assert time.monotonic() - t0 < 30


def test_report_py_report_set_opens_cleanly(browser, tmp_path):
    found = _check_set(browser, tmp_path, _build_report_set_report_py(tmp_path))
    assert not found, "\n".join(found)


@pytest.mark.skipif(not _work_tree_reports(), reason="reports/ has not been built here "
                    "(dvc repro builds reports/index.html); the built report set above is checked")
def test_work_tree_reports_open_cleanly(browser):
    t0 = time.monotonic()
    found = []
    for page in _work_tree_reports():
        found += problems(str(page.relative_to(paths.ROOT)), check_page(browser, page.as_uri()))
    assert not found, "\n".join(found)
    assert time.monotonic() - t0 < 30


def test_offline_export_is_byte_reproducible(tmp_path):
    """Two exports of notebooks that differ only in cell ids give the same HTML."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from pipeline.reporting.page import notebook_to_html

    pages = []
    for k, cid in enumerate(("f3c9ef47", "8c6b0130")):
        nb = new_notebook()
        cell = new_code_cell("x")
        cell["id"] = cid
        cell.outputs = [new_output("display_data", data={"text/html": "<p>same</p>"})]
        nb.cells = [cell]
        nbformat.write(nb, tmp_path / f"{k}.ipynb")
        pages.append(notebook_to_html(tmp_path / f"{k}.ipynb", tmp_path / f"{k}.html").read_bytes())
    assert pages[0] == pages[1]
    assert b"f3c9ef47" not in pages[0] and b"<script src=" not in pages[0]
