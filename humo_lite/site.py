"""The chapters rendered: every notebook executed and written as one static HTML site, to read without running.

    humo-lite site                  # every chapter in full mode -> docs/_build/index.html (8 min on 2 cores)
    humo-lite site --smoke          # the fast SMOKE runs CI makes (about 4 min): check that the site builds
    humo-lite site --chapters 01 08 # some chapters; the ones built before stay in the index

Each chapter is run by papermill (as the tests do, with ``SMOKE`` set) and turned into HTML by nbconvert's
JupyterLab template. Figures, the MP4 players (with sound) and the audio players are already in the
notebook's outputs as data, so each page is one file. Equations and sliders are drawn by scripts the
page loads from the web (MathJax; the Jupyter widgets' embedder, which shows each slider where it stood
from the state papermill saved); moving a slider needs the kernel, so it does nothing in the static page.

Why nbconvert and not Jupyter Book: it comes with JupyterLab (nothing more to install, no Node.js
toolchain), renders exactly what JupyterLab shows, and a chapter list is all the navigation eight
notebooks need.

A chapter's page appears when its run succeeded (written atomically). A chapter that fails stops the
build with its cell (numbered as JupyterLab numbers it) and its error; its executed notebook, error
included, is kept under ``failed/``.
"""

from __future__ import annotations

import html
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from .io import atomic_path, write_json

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
"""The repository's chapters (a source checkout; the package does not ship them)."""
DEFAULT_OUT = "docs/_build"


class ChapterFailed(RuntimeError):
    """A chapter's run stopped at an error (the message names the chapter, the cell and the error)."""


def chapter_notebooks(chapters: Sequence[str] | None = None, folder: str | os.PathLike = NOTEBOOKS_DIR) -> list[Path]:
    """The chapter notebooks of ``folder`` (names starting with a digit), in order; ``chapters`` picks some by
    the start of their name (``"01"``, ``"08_evaluation"``)."""
    folder = Path(folder)
    found = sorted(folder.glob("[0-9]*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no chapter notebooks (NN_name.ipynb) in {folder}")
    if not chapters:
        return found
    unknown = [c for c in chapters if not any(p.stem.startswith(c) for p in found)]
    if unknown:
        raise ValueError(f"no chapter starts with {unknown}; the chapters are {[p.stem for p in found]}")
    return [p for p in found if any(p.stem.startswith(c) for c in chapters)]


@contextmanager
def _kernel_environment() -> Iterator[None]:
    """Kernels start with the reader's matplotlib backend (inline), even when ours is set to Agg for tests."""
    saved = os.environ.pop("MPLBACKEND", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved


def execute_chapter(notebook: Path, out_dir: Path, smoke: bool, progress: bool = True) -> Path:
    """Run ``notebook`` with papermill (``SMOKE`` and ``RESULTS_PATH`` set); return the executed copy's path
    under ``out_dir/notebooks``. A failing cell raises :class:`ChapterFailed` naming the chapter, the cell and
    the error; the executed notebook is then kept at ``out_dir/failed/<name>``."""
    import papermill as pm

    done = out_dir / "notebooks" / notebook.name
    results = (out_dir / "results").resolve()
    results.mkdir(parents=True, exist_ok=True)
    parameters = {"SMOKE": smoke, "RESULTS_PATH": str(results / f"{notebook.stem}.json")}
    with tempfile.TemporaryDirectory() as tmp, _kernel_environment():
        executed = Path(tmp) / notebook.name
        try:
            pm.execute_notebook(str(notebook), str(executed), parameters=parameters, kernel_name="python3",
                                cwd=str(notebook.parent), progress_bar=progress)
        except pm.PapermillExecutionError as exc:
            failed = out_dir / "failed" / notebook.name
            failed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(executed, failed)
            raise ChapterFailed(f"chapter {notebook.stem} failed at cell [{exc.exec_count}]: {exc.ename}: "
                                f"{exc.evalue} (the executed notebook, with the error, is at {failed})") from None
        with atomic_path(done) as tmp_done:
            shutil.copyfile(executed, tmp_done)
    (out_dir / "failed" / notebook.name).unlink(missing_ok=True)
    return done


def chapter_html(executed: Path, chapters: Sequence[str]) -> str:
    """``executed`` as one HTML page (nbconvert's JupyterLab template), its links to ``chapters`` (stems)
    pointing at their pages instead of their notebooks."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_filename(str(executed))
    names = "|".join(re.escape(c) for c in chapters)
    return re.sub(rf'href="((?:\./)?(?:{names}))\.ipynb(#[^"]*)?"', r'href="\1.html\2"', body) if names else body


def chapter_title(notebook: Path) -> str:
    """The chapter's first Markdown heading (its title), else its file name."""
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return notebook.stem


def index_html(record: dict) -> str:
    """The site's front page: the chapters built, each with how it was run and how long it took."""
    rows = "\n".join(
        f'<tr><td><a href="{html.escape(stem)}.html">{html.escape(r["title"])}</a></td><td>{r["mode"]}</td>'
        f'<td>{r["seconds"]:.0f} s</td><td>{html.escape(r["built"])}</td>'
        f'<td><a href="notebooks/{html.escape(stem)}.ipynb">notebook</a></td></tr>'
        for stem, r in sorted(record.items()))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>humo_lite: the chapters</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}}</style>
</head><body>
<h1>humo_lite: the chapters, rendered</h1>
<p>HuMo (text + reference image + audio &rarr; a talking human video) rebuilt small enough to train on a laptop
CPU. Each page is a chapter notebook as it ran (mode: <em>full</em>, or the fast <em>smoke</em> run the
tests make), with its figures, videos and sound. Equations and sliders need a connection (their scripts
load from the web); sliders show where they stood, and to move them, run the notebook in JupyterLab.</p>
<table><tr><th>chapter</th><th>mode</th><th>run time</th><th>built</th><th>download</th></tr>
{rows}
</table></body></html>
"""


def build_site(notebooks: Sequence[Path], out_dir: str | os.PathLike = DEFAULT_OUT, smoke: bool = False,
               progress: bool = True) -> Path:
    """Execute each of ``notebooks`` and write its page, then the index (``out_dir/index.html``, returned).

    Chapters built earlier into ``out_dir`` stay listed (``site.json`` records each one's mode, run time,
    machine and date), so a build can be done a few chapters at a time.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record_path = out / "site.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    # links to any chapter point at its page, built now or later
    stems = sorted({p.stem for nb in notebooks for p in Path(nb).parent.glob("[0-9]*.ipynb")} | set(record))
    for notebook in tqdm(notebooks, desc="chapters", unit="chapter", disable=not progress):
        start = time.perf_counter()
        executed = execute_chapter(Path(notebook), out, smoke, progress)
        seconds = time.perf_counter() - start
        with atomic_path(out / f"{notebook.stem}.html") as tmp:
            tmp.write_text(chapter_html(executed, stems), encoding="utf-8")
        record[notebook.stem] = {"title": chapter_title(notebook), "mode": "smoke" if smoke else "full",
                                 "seconds": round(seconds, 1),
                                 "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                                 "built": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        write_json(record_path, record)
        with atomic_path(out / "index.html") as tmp:
            tmp.write_text(index_html(record), encoding="utf-8")
    return out / "index.html"


__all__ = ["ChapterFailed", "DEFAULT_OUT", "NOTEBOOKS_DIR", "build_site", "chapter_html", "chapter_notebooks",
           "chapter_title", "execute_chapter", "index_html"]
