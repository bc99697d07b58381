"""Chapter 01 as a reader meets it: JupyterLab in a real (headless) Chromium, every cell run, nothing broken.

Papermill (``test_notebooks.py``) proves the code runs; this proves the *page* works: figures load,
the video player decodes its MP4 with sound, the audio player loads, and the frame slider — a live
ipywidget talking to the kernel — changes the picture when moved. It starts JupyterLab on 127.0.0.1
with a token, drives Debian's ``chromium`` through Playwright (``executable_path``, no downloaded
browser), and is skipped with the reason when either is missing. ``.ci/run`` installs both when it can.

Set ``HUMO_LITE_SCREENSHOTS=<folder>`` to keep the screenshots (the whole page after the run, and the
scrubber before and after the slider moved).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("HUMO_LITE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning"),
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium)")]

# Chromium's own network chatter is refused on a closed machine; these flags keep it quiet (and root needs no sandbox)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TOKEN = "humo-lite-browser-test"
RUN_TIMEOUT_MS = 240_000

# Read the notebook model through the JupyterLab application object (exposed with --LabApp.expose_app_in_browser)
JS_NOTEBOOK = """const w = Array.from(window.jupyterapp ? window.jupyterapp.shell.widgets('main') : [])
  .find(w => w.context && w.context.path === path && w.sessionContext);"""
JS_CELLS = "path => { " + JS_NOTEBOOK + """ const cells = w.content.model.cells; const out = [];
  for (let i = 0; i < cells.length; i++) { const c = cells.get(i); if (c.type !== 'code') continue;
    out.push({count: c.executionCount, outputs: c.outputs.toJSON()}); } return out; }"""
JS_KERNEL_READY = "path => { " + JS_NOTEBOOK + """
  const k = w && w.sessionContext.session && w.sessionContext.session.kernel; return !!k && k.status === 'idle'; }"""
JS_ALL_RAN = "path => { " + JS_NOTEBOOK + """ const cells = w.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i); if (c.type === 'code' && !c.executionCount) return false; }
  return w.sessionContext.session.kernel.status === 'idle'; }"""
JS_MEDIA = """sel => Array.from(document.querySelectorAll('.jp-OutputArea-output ' + sel)).map(
  m => ({ready: m.readyState, duration: m.duration, width: m.videoWidth || 0, error: m.error ? m.error.code : null}))"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a temporary folder: yields (base URL, folder)."""
    folder = tmp_path_factory.mktemp("lab")
    port = _free_port()
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}",
               "--LabApp.expose_app_in_browser=True", *(["--allow-root"] if os.geteuid() == 0 else [])]
    log = open(folder / "server.log", "w")  # noqa: SIM115 -- closed below, after the server
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel's own inline backend, as for a reader
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=1)
                break
            except OSError:
                assert server.poll() is None, (folder / "server.log").read_text()
                time.sleep(0.25)
        else:
            pytest.fail("JupyterLab did not start in 60 s:\n" + (folder / "server.log").read_text())
        yield base, folder
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _smoke_copy(name: str, folder: Path) -> str:
    """The chapter with its parameters cell set as papermill would (SMOKE, results in ``folder``)."""
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source += f"\nSMOKE = True\nRESULTS_PATH = {str(folder / 'results.json')!r}\n"
    nbformat.write(nb, folder / name)
    return name


def run_all(page, base: str, name: str) -> list[dict]:
    """Open ``name`` in JupyterLab, run all cells as a reader would (Run ▸ Run All Cells), return the code cells."""
    page.goto(f"{base}/lab/workspaces/{Path(name).stem}/tree/{name}?reset&token={TOKEN}")  # a workspace of its own
    page.wait_for_function(JS_KERNEL_READY, arg=name, timeout=90_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(JS_ALL_RAN, arg=name, timeout=RUN_TIMEOUT_MS, polling=500)
    return page.evaluate(JS_CELLS, name)


def cell_errors(cells: list[dict]) -> list[str]:
    """Each error a cell printed (its exception name and message), and each code cell that did not run."""
    errors = [f"{o['ename']}: {o['evalue']}" for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    return errors + [f"cell {k} did not run" for k, c in enumerate(cells) if not c["count"]]


def _screenshot(what, name: str, tmp_path: Path) -> Path:
    """A PNG of ``what`` (a page or one element) in ``$HUMO_LITE_SCREENSHOTS``, else the test's temporary folder."""
    folder = Path(os.environ.get("HUMO_LITE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    what.screenshot(path=folder / name)
    return folder / name


def test_cell_errors_are_caught_in_the_browser(lab, browser):
    """The checker's failing case: a notebook whose cell raises is reported, with the exception."""
    base, folder = lab
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("1 / 0")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "broken.ipynb")
    page = browser.new_page()
    try:
        errors = cell_errors(run_all(page, base, "broken.ipynb"))
    finally:
        page.close()
    assert errors and errors[0].startswith("ZeroDivisionError"), errors


def test_chapter_01_runs_and_renders_in_jupyterlab(lab, browser, tmp_path):
    base, folder = lab
    name = _smoke_copy("01_data_triplets.ipynb", folder)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    try:
        cells = run_all(page, base, name)
        assert not cell_errors(cells), cell_errors(cells)
        assert (folder / "results.json").is_file()  # the last cell ran to its end
        _screenshot(page, "page_01_data_triplets.png", tmp_path)

        figures = page.evaluate("""Array.from(document.querySelectorAll('.jp-RenderedImage img'))
                                   .map(i => i.complete && i.naturalWidth > 0)""")
        expected = sum("image/png" in o.get("data", {}) for c in cells for o in c["outputs"])
        assert expected >= 8 and figures == [True] * expected, (expected, figures)  # every figure drew
        videos, audios = page.evaluate(JS_MEDIA, "video"), page.evaluate(JS_MEDIA, "audio")
        assert len(videos) == 1 and videos[0]["error"] is None, videos  # the MP4 (H.264 + AAC) decodes
        assert videos[0]["ready"] >= 1 and videos[0]["width"] > 0 and videos[0]["duration"] == pytest.approx(0.68, 0.1)
        assert len(audios) == 1 and audios[0]["error"] is None and audios[0]["duration"] == pytest.approx(0.68, 0.1)

        scrubber = page.locator(".widget-vbox").filter(has=page.locator(".widget-slider")).first
        scrubber.scroll_into_view_if_needed()
        image, label = scrubber.locator("img.widget-image"), scrubber.locator("div.widget-label")
        before = (image.get_attribute("src"), label.text_content())
        assert before[1].startswith("frame 0 /"), before[1]
        _screenshot(scrubber, "scrubber_frame0.png", tmp_path)
        scrubber.locator(".noUi-handle").first.focus()
        for _ in range(8):  # the slider's keyboard steps: frame 0 -> 8, through the kernel's callback
            page.keyboard.press("ArrowRight")
        sync_api.expect(label).to_contain_text("frame 8 /", timeout=20_000)
        after = (image.get_attribute("src"), label.text_content())
        _screenshot(scrubber, "scrubber_frame8.png", tmp_path)
        assert after[1].startswith("frame 8 /") and "mouth (lip law)" in after[1], after[1]
        assert after[0] != before[0]  # a new picture, not just a new label
    finally:
        page.close()
    assert not [m for m in console if "humo" in m.lower() or "widget" in m.lower()], console
