"""The chapters as a reader meets them, in a real (headless) Chromium: in JupyterLab, and on the built site, offline.

Papermill (``test_notebooks.py``) proves the code runs; this proves the *page* works. In JupyterLab: chapter 01's
figures load, the video player decodes its MP4 with sound, the audio player loads, and the frame slider — a live
ipywidget talking to the kernel — changes the picture when moved. On the site (``humo-lite site``: every
chapter, from the SMOKE runs the notebook checks make, or the folder ``HUMO_LITE_SITE`` names): each page opened
from disk with every network request refused shows its equations typeset (no raw ``$…$``), a picture in every
widget area, every image and player loaded, its navigation, and no absolute path. It starts JupyterLab on 127.0.0.1
with a token, drives Debian's ``chromium`` through Playwright (``executable_path``, no downloaded browser), and is
skipped with the reason when either is missing. ``.ci/run`` installs both when it can.

Set ``HUMO_LITE_SCREENSHOTS=<folder>`` to keep the screenshots (JupyterLab's page and the scrubber before and
after the slider moved; each site page whole, its first equations, its widgets and its first video).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from humo_lite.site import absolute_paths, build_site, chapter_notebooks

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


# ---------------------------------------------------------------- the built site, offline

JS_OFFLINE = """() => {
  const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'TEXTAREA']);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let text = '';
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    let p = n.parentElement, hidden = false;
    while (p) {
      if (skip.has(p.tagName) || p.namespaceURI === 'http://www.w3.org/1998/Math/MathML') { hidden = true; break; }
      p = p.parentElement; }
    if (!hidden) text += n.textContent + ' ';
  }
  const raw = /\\$\\$[^$]+\\$\\$|(^|[^\\w$])\\$[^\\s$][^$\\n]*?[^\\s$]\\$(?!\\w)|\\\\(frac|mathrm|left|begin)\\b/g;
  const rawMath = text.match(raw) || [];
  const maths = Array.from(document.querySelectorAll('math')).map(m => m.getBoundingClientRect().width > 0);
  const images = Array.from(document.querySelectorAll('img')).map(i => i.complete && i.naturalWidth > 0);
  const widgets = Array.from(document.querySelectorAll('.humo-widget-static')).map(w => {
    const pics = Array.from(w.querySelectorAll('img'));
    return pics.length > 0 && pics.every(i => i.complete && i.naturalWidth > 0); });
  const emptyWidgets = document.querySelectorAll('script[type*="jupyter.widget"], .jupyter-widgets').length;
  const emptyOutputs = Array.from(document.querySelectorAll('.jp-OutputArea-output'))
    .filter(o => !o.innerText.trim() && !o.querySelector('img, video, audio, svg, math, table')).length;
  const media = Array.from(document.querySelectorAll('video, audio')).map(
    m => ({tag: m.tagName, ready: m.readyState, duration: m.duration, error: m.error ? m.error.code : null}));
  const nav = ['.humo-nav.top .humo-index', '.humo-nav.top .humo-prev', '.humo-nav.top .humo-next',
               '.humo-nav.bottom .humo-index'].map(s => !!document.querySelector(s));
  return {rawMath, maths, images, widgets, emptyWidgets, emptyOutputs, media, nav};
}"""


def open_offline(browser, path: Path):
    """``path`` opened from disk in a fresh context that refuses every request off the disk; returns the page and
    the list of refused URLs (a page that works offline asks for none)."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    refused = []

    def route(request):
        if request.request.url.startswith(("file:", "data:", "blob:")):
            request.continue_()
        else:
            refused.append(request.request.url)
            request.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.wait_for_function("() => Array.from(document.querySelectorAll('video, audio'))"
                           ".every(m => m.readyState >= 1 || m.error)", timeout=30_000)
    return page, refused


def offline_problems(page, refused: list[str]) -> list[str]:
    """What a reader offline would see broken on ``page``; empty when nothing."""
    r = page.evaluate(JS_OFFLINE)
    problems = [f"asked the network for {url}" for url in refused]
    problems += [f"raw LaTeX: {m.strip()!r}" for m in r["rawMath"]]
    problems += ["an equation drawn with no width"] * r["maths"].count(False)
    problems += ["an image that did not load"] * r["images"].count(False)
    problems += ["a widget area without its picture"] * r["widgets"].count(False)
    problems += ["a widget left for a widget script (empty offline)"] * bool(r["emptyWidgets"])
    problems += ["an empty output area"] * r["emptyOutputs"]
    problems += [f"a {m['tag'].lower()} player that did not load: {m}" for m in r["media"]
                 if m["error"] is not None or m["ready"] < 1 or not m["duration"] > 0]
    if not all(r["nav"]):
        problems.append("navigation missing (index, previous, next)")
    content = page.content()
    problems += [f"absolute path {p!r}" for p in absolute_paths(content)]
    folder = Path(urllib.request.url2pathname(page.url.removeprefix("file://"))).parent
    for nav in re.findall(r'<nav class="humo-nav[^"]*">(.*?)</nav>', content, re.S):
        problems += [f"navigation leads to a missing page {href}" for href in re.findall(r'href="([^"#]+)', nav)
                     if not (folder / href).is_file()]
    return problems


@pytest.fixture(scope="module")
def site(tmp_path_factory, smoke_chapter):
    """The site's folder: ``HUMO_LITE_SITE`` if set, else every chapter built here from the SMOKE runs the notebook
    checks make (one run per chapter per session, ``conftest.smoke_chapter``)."""
    if os.environ.get("HUMO_LITE_SITE"):
        return Path(os.environ["HUMO_LITE_SITE"])

    def reuse(notebook: Path, out: Path, smoke: bool, progress: bool) -> Path:
        copy = out / "notebooks" / notebook.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(smoke_chapter(notebook), copy)
        return copy

    out = tmp_path_factory.mktemp("site")
    build_site(chapter_notebooks(), out, smoke=True, progress=False, execute=reuse)
    return out


def test_offline_checks_catch_what_breaks_a_page(browser, tmp_path):
    """The checker's failing case: a page with raw LaTeX, a widget left for a CDN script, a broken image, a
    script from the web and an absolute path is reported on each count."""
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><nav class="humo-nav top"><a class="humo-index" href="index.html">i</a>'
                   '<a class="humo-next" href="09_missing.html">next</a></nav>'
                   '<p>where $L_f$ is the energy</p><div class="jp-OutputArea-output">'
                   '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "x"}</script></div>'
                   '<div class="humo-widget-static"><img src="data:image/png;base64,AAAA"></div>'
                   '<script src="https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@*/dist/embed-amd.js">'
                   '</script><pre>saved to /home/someone/humo/results.json</pre></body></html>')
    page, refused = open_offline(browser, bad)
    try:
        problems = offline_problems(page, refused)
    finally:
        page.context.close()
    for expected in ("asked the network for https://cdn.jsdelivr.net", "raw LaTeX: '$L_f$'",
                     "an image that did not load",
                     "a widget area without its picture", "a widget left for a widget script", "an empty output area",
                     "navigation missing", "absolute path '/home/someone/humo/results.json'",
                     "navigation leads to a missing page index.html",
                     "navigation leads to a missing page 09_missing.html"):
        assert any(p.startswith(expected) for p in problems), (expected, problems)


@pytest.mark.parametrize("stem", [p.stem for p in chapter_notebooks()])
def test_site_page_works_offline(site, browser, stem, tmp_path):
    if not (site / f"{stem}.html").is_file():
        pytest.skip(f"{stem} is not built in {site}")
    page, refused = open_offline(browser, site / f"{stem}.html")
    try:
        problems = offline_problems(page, refused)
        r = page.evaluate(JS_OFFLINE)
        _screenshot(page, f"site_{stem}.png", tmp_path)
        page.screenshot(path=tmp_path / "full.png", full_page=True)
        for kind, selector in (("equation", "math[display=block]"), ("widget", ".humo-widget-static"),
                               ("video", ".jp-OutputArea-output video")):
            for i in range(min(page.locator(selector).count(), 3)):
                element = page.locator(selector).nth(i)
                element.scroll_into_view_if_needed()
                _screenshot(element, f"site_{stem}_{kind}{i}.png", tmp_path)
    finally:
        page.context.close()
    assert not problems, problems
    assert len(r["images"]) >= 3, r  # figures
    if stem in ("01_data_triplets", "03_subject_injection"):  # equations, and a widget drawn from its state
        assert len(r["maths"]) >= 2 and len(r["widgets"]) >= 1, r
    if stem == "01_data_triplets":  # the MP4 with its sound track and the WAV player
        assert [m["tag"] for m in r["media"]] == ["VIDEO", "AUDIO"], r["media"]
