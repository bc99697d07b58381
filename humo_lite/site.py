"""The chapters rendered: every notebook executed and written as one static HTML site, to read without running.

    humo-lite site                  # every chapter in full mode (the reading edition) -> docs/_build/index.html
    humo-lite site --smoke          # the fast SMOKE runs CI makes: check that the site builds
    humo-lite site --chapters 01 08 # some chapters; the ones built before stay in the index

Each chapter is run by papermill (as the tests do, with ``SMOKE`` set) and turned into HTML by nbconvert's
JupyterLab template. The pages work offline and load nothing from the web:

- equations are converted to MathML when the page is built (``latex2mathml``), which browsers draw
  themselves: no MathJax;
- every widget (the frame scrubber, the attention panel) is drawn from the state papermill saved, as
  plain HTML: its picture, its sliders where they stood, its labels. Moving a slider needs a kernel, so
  the page says to open the notebook for that;
- figures, MP4 players (with sound) and audio players are already in the notebook's outputs as data;
- papermill's injected parameters cell is folded back into the chapter's own parameters cell (a reader
  sees ``SMOKE = True`` once, not twice), and paths under the repository are written relative to it.

Every page links to the index and to the previous and next chapter built (the links are redone each time a
chapter is added, so none leads to a page that is not there); a page built from a SMOKE run says so at its
top. Before a page is written it is checked (:func:`page_problems`, :func:`reading_problems`): no raw
``$…$``, no script or style loaded from the web, no widget left without its picture, no absolute path, no
progress bar, no raw dict or 16-digit float printed where a table belongs. A page that fails stops the
build, naming what is wrong.

Why nbconvert and not Jupyter Book: it comes with JupyterLab (nothing more to install, no Node.js
toolchain), renders exactly what JupyterLab shows, and a chapter list is all the navigation eight
notebooks need.

A chapter's page appears when its run succeeded (written atomically). A chapter that fails stops the
build with its cell (numbered as JupyterLab numbers it) and its error; its executed notebook, error
included, is kept under ``failed/``.
"""

from __future__ import annotations

import ast
import base64
import html
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

from tqdm.auto import tqdm

from .io import atomic_path, write_json

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
"""The repository's chapters (a source checkout; the package does not ship them)."""
DEFAULT_OUT = "docs/_build"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


class ChapterFailed(RuntimeError):
    """A chapter's run stopped at an error, or its page does not read (the message says which and why)."""


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


def execute_chapter(notebook: Path, out_dir: Path, smoke: bool, progress: bool = True,
                    cell_timeout: int | None = None) -> Path:
    """Run ``notebook`` with papermill (``SMOKE`` and ``RESULTS_PATH`` set; its numbers land in
    ``out_dir/results/<stem>.json``); return the executed copy's path under ``out_dir/notebooks``. A failing cell
    (or one running past ``cell_timeout`` seconds) raises :class:`ChapterFailed` naming the chapter, the cell and
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
                                cwd=str(notebook.parent), progress_bar=progress, execution_timeout=cell_timeout)
        except pm.PapermillExecutionError as exc:
            failed = out_dir / "failed" / notebook.name
            failed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(executed, failed)
            raise ChapterFailed(f"chapter {notebook.stem} failed at cell [{exc.exec_count}]: {exc.ename}: "
                                f"{exc.evalue} (the executed notebook, with the error, is at {failed})") from None
        with atomic_path(done) as tmp_done:
            tmp_done.write_text(json.dumps(for_reading(json.loads(executed.read_text())), indent=1))
    (out_dir / "failed" / notebook.name).unlink(missing_ok=True)
    return done


# ---------------------------------------------------------------- the executed notebook, made for reading


def _relative_paths(text: str, root: Path = REPO_ROOT) -> str:
    """``text`` with every path under ``root`` written relative to it (``<root>/data_samples/x`` ->
    ``data_samples/x``)."""
    return text.replace(f"{root}{os.sep}", "").replace(str(root), ".")


def _map_strings(value, fn):
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    return value


def _merge_streams(outputs: list) -> list:
    """Consecutive stream outputs of one stream as one (a kernel may send a line's end on its own, which
    would be drawn as an empty box); streams of nothing but whitespace dropped."""
    merged = []
    for output in outputs:
        if (output.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == output.get("name")):
            merged[-1] = {**merged[-1], "text": "".join(merged[-1]["text"]) + "".join(output["text"])}
        else:
            merged.append(output)
    return [o for o in merged if o.get("output_type") != "stream" or "".join(o.get("text", "")).strip()]


def for_reading(nb: dict, root: Path = REPO_ROOT) -> dict:
    """The executed notebook ``nb`` (as JSON) as a reader should see it.

    Papermill's injected parameters cell is removed and its values are written into the chapter's own
    parameters cell (``SMOKE = True  # ...`` in place of ``SMOKE = False  # ...``), except ``RESULTS_PATH``,
    which only says where the tests' JSON went, and the cells after it are numbered as if it had not run;
    papermill's record of the run (input and output paths) is dropped from the metadata; consecutive pieces
    of one output stream are joined; outputs that name a path under ``root`` name it relative to ``root``.
    """
    nb = json.loads(json.dumps(nb))
    cells = nb["cells"]
    injected = next((c for c in cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])), None)
    if injected is not None:
        cells.remove(injected)
        removed = injected.get("execution_count")
        for cell in cells:  # the cells after it keep counting from the parameters cell: [1], [2], ...
            if removed and (cell.get("execution_count") or 0) > removed:
                cell["execution_count"] -= 1
                for output in cell.get("outputs", []):
                    if output.get("execution_count"):
                        output["execution_count"] -= 1
        values = {}
        for stmt in ast.parse("".join(injected["source"])).body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                values[stmt.targets[0].id] = ast.get_source_segment("".join(injected["source"]), stmt.value)
        params = next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
        if params is not None:
            source = "".join(params["source"])
            for name, value in values.items():
                if name != "RESULTS_PATH":
                    source = re.sub(rf"^{re.escape(name)} = [^#\n]*?(\s*(#.*)?)$",
                                    lambda m, v=value, n=name: f"{n} = {v}{m.group(1)}", source, flags=re.M)
            params["source"] = source
    nb.get("metadata", {}).pop("papermill", None)
    for cell in cells:
        cell.get("metadata", {}).pop("papermill", None)
        if "outputs" in cell:
            cell["outputs"] = _map_strings(_merge_streams(cell["outputs"]), lambda s: _relative_paths(s, root))
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state")
    if state:
        for model in state.values():
            model["state"] = _map_strings(model["state"], lambda s: _relative_paths(s, root))
    return nb


# ---------------------------------------------------------------- widgets: their saved state, drawn as HTML


def _attr(pairs: dict) -> str:
    return " ".join(f'{k}="{html.escape(str(v), quote=True)}"' for k, v in pairs.items())


def _output_html(output: dict) -> str:
    """One saved output (inside an Output widget) as static HTML: a picture, HTML, or text."""
    if output.get("output_type") == "stream":
        return f"<pre>{html.escape(''.join(output.get('text', '')))}</pre>"
    data = output.get("data", {})
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            payload = "".join(data[mime]).replace("\n", "")
            return f'<img src="data:{mime};base64,{payload}" alt="figure">'
    if "text/html" in data:
        return "".join(data["text/html"])
    if "text/plain" in data:
        return f"<pre>{html.escape(''.join(data['text/plain']))}</pre>"
    return ""


def widget_html(model_id: str, state: dict) -> str:
    """The widget ``model_id`` drawn from its saved ``state`` (the notebook's widget-state metadata) as plain HTML.

    Boxes lay their children out in a row or column, an image widget becomes its picture, an Output widget
    its saved outputs (a figure drawn into it is its PNG), a slider a disabled range input where it stood
    with its value, a label or HTML widget its text, a progress bar a ``<progress>``, a button a disabled
    button. A widget of a kind not listed here raises ``ValueError`` naming it, so nothing is left silently empty.
    """
    model_id = model_id.removeprefix("IPY_MODEL_")
    model = state[model_id]
    name, s = model["model_name"], model["state"]
    description = html.escape(s.get("description") or "")
    if name in ("VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel"):
        direction = "row" if name == "HBoxModel" else "column"
        inner = "".join(widget_html(child, state) for child in s.get("children", []))
        return f'<div class="humo-widget-box" style="display:flex;flex-direction:{direction};gap:.4rem">{inner}</div>'
    if name in ("IntSliderModel", "FloatSliderModel"):
        lo, hi, value = s.get("min", 0), s.get("max", 100), s.get("value", 0)
        box = _attr({"type": "range", "min": lo, "max": hi, "step": s.get("step", 1), "value": value})
        return (f'<label class="humo-widget-slider">{description} <input {box} disabled> '
                f'<span>{html.escape(str(value))}</span> <small>({lo}&ndash;{hi})</small></label>')
    if name == "ImageModel":
        buffer = next((b for b in model.get("buffers", []) if b.get("path") == ["value"]), None)
        if buffer is None:
            raise ValueError(f"image widget {model_id} has no saved picture")
        data = buffer["data"] if buffer.get("encoding") == "base64" else base64.b64encode(buffer["data"]).decode()
        size = {k: s[k] for k in ("width", "height") if s.get(k)}
        source = f"data:image/{s.get('format', 'png')};base64,{data}"
        return f'<img src="{source}" {_attr(size)} alt="{description or "frame"}">'
    if name in ("LabelModel", "HTMLModel", "HTMLMathModel"):
        value = s.get("value", "")
        text = value if name != "LabelModel" else html.escape(value)
        return f'<div class="humo-widget-text">{description} {text}</div>'
    if name == "OutputModel":
        return f'<div class="humo-widget-output">{"".join(_output_html(o) for o in s.get("outputs", []))}</div>'
    if name in ("FloatProgressModel", "IntProgressModel"):
        return f'<progress {_attr({"value": s.get("value", 0), "max": s.get("max", 1)})}></progress>'
    if name == "ButtonModel":  # it acts only on a live kernel
        return f'<button class="humo-widget-button" disabled>{description}</button>'
    raise ValueError(f"no static drawing for widget {name} ({model_id}); add it to humo_lite.site.widget_html")


STATIC_WIDGET_NOTE = ("A still of an interactive widget, as it stood when the chapter ran. To move its "
                      "sliders, open the notebook in JupyterLab and run it.")


def static_widgets(nb: dict) -> dict:
    """``nb`` with every widget output replaced by its drawing (:func:`widget_html`) and the widget state
    dropped, so the page needs no widget script. A widget output without saved state raises ``ValueError``."""
    nb = json.loads(json.dumps(nb))
    state = nb.get("metadata", {}).pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            if view["model_id"] not in state:
                raise ValueError(f"widget {view['model_id']} has no saved state (was the notebook run by papermill?)")
            drawn = widget_html(view["model_id"], state)
            output["data"] = {"text/html": f'<div class="humo-widget-static" title="{STATIC_WIDGET_NOTE}">{drawn}'
                                           f'<p class="humo-widget-note">{STATIC_WIDGET_NOTE}</p></div>'}
    return nb


# ---------------------------------------------------------------- equations: LaTeX to MathML at build time


def latex_to_mathml(tex: str, display: bool = False) -> str:
    """``tex`` as MathML (``latex2mathml``), which browsers draw without any script. A formula it cannot
    convert raises ``ValueError`` with the formula."""
    from latex2mathml.converter import convert

    try:
        mathml = convert(tex.strip(), display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises its own exception types
        raise ValueError(f"cannot convert the equation {tex!r} to MathML: {type(exc).__name__} {exc}") from None
    unknown = re.search(r">(\\[A-Za-z]+)", mathml)  # a command it does not know is passed through as text
    if unknown:
        raise ValueError(f"cannot convert the equation {tex!r} to MathML: unknown command {unknown.group(1)}")
    return mathml


def _exporter():
    """nbconvert's HTML exporter (JupyterLab template) with math as MathML and no script from the web."""
    from jinja2 import DictLoader, pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body: str) -> str:
            return latex_to_mathml(body, display=True)

        def inline_math(self, body: str) -> str:
            return latex_to_mathml(body)

        def latex_environment(self, name: str, body: str) -> str:
            return latex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)

    class OfflineHTMLExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):
            cell = context.get("cell", {})
            renderer = MathMLRenderer(escape=False, attachments=cell.get("attachments", {}),
                                      embed_images=self.embed_images,
                                      path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                                      anchor_link_text=self.anchor_link_text,
                                      exclude_anchor_links=self.exclude_anchor_links)
            return MarkdownWithMath(renderer=renderer).render(source)

    offline = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
    return OfflineHTMLExporter(template_name="lab", extra_loaders=[DictLoader({"humo_offline.html.j2": offline})],
                               template_file="humo_offline.html.j2")


# ---------------------------------------------------------------- pages: one chapter, navigation, banner

SITE_CSS = """<style>
.humo-nav{display:grid;grid-template-columns:1fr auto 1fr;gap:1.2rem;align-items:center;font:14px system-ui,sans-serif;
  padding:.5rem 1rem;margin:0 0 1rem;border-bottom:1px solid #ccc;background:#fafafa}
.humo-nav .humo-next{text-align:right}
.humo-nav.bottom{border-top:1px solid #ccc;border-bottom:0;margin:2rem 0 0}
.humo-smoke-banner{font:15px system-ui,sans-serif;background:#fff3cd;border:1px solid #e0b84a;
  border-radius:4px;padding:.7rem 1rem;margin:0 1rem 1rem}
.humo-widget-static{border:1px dashed #bbb;border-radius:4px;padding:.4rem;display:inline-block}
.humo-widget-note{font-size:12px;color:#666;margin:.3rem 0 0}
.humo-widget-slider{font-size:13px;display:flex;align-items:center;gap:.4rem}
math[display=block]{margin:.6em 0}
</style>"""

SMOKE_BANNER = ("<strong>Fast run (SMOKE).</strong> This page was built from the chapter's SMOKE run, the one the "
                "tests make: tiny models and a few clips, so its numbers and pictures only show that the code runs. "
                "The full run's numbers are in the text (<em>Expected numbers</em> at the top, and the reading "
                "after each result); the reading edition is built with <code>humo-lite site</code> (full mode).")


def _nav(stem: str, chapters: Sequence[tuple[str, str]], where: str) -> str:
    stems = [s for s, _ in chapters]
    titles = dict(chapters)
    i = stems.index(stem) if stem in stems else -1
    def link(j: int, kind: str, text: str) -> str:
        return f'<a class="humo-{kind}" href="{html.escape(stems[j])}.html">{text}</a>'

    prev = (link(i - 1, "prev", f"&larr; {html.escape(titles[stems[i - 1]])}") if i > 0
            else '<span class="humo-prev">(first chapter)</span>')
    nxt = (link(i + 1, "next", f"{html.escape(titles[stems[i + 1]])} &rarr;") if 0 <= i < len(stems) - 1
           else '<span class="humo-next">(last chapter)</span>')
    return (f'<nav class="humo-nav {where}">{prev}<a class="humo-index" href="index.html">index: all chapters</a>'
            f"{nxt}</nav>")


def chapter_html(executed: Path, chapters: Sequence[str] | Sequence[tuple[str, str]], smoke: bool = False) -> str:
    """``executed`` as one HTML page that works offline (nbconvert's JupyterLab template, equations as MathML,
    widgets drawn from their saved state), its links to ``chapters`` pointing at their pages instead of their
    notebooks, with navigation (index, previous, next) at the top and the bottom, and, when ``smoke``, a banner
    saying the page comes from the fast run. ``chapters``: the site's chapters in order, as stems or as
    ``(stem, title)`` pairs."""
    import nbformat

    chapters = [(c, c) if isinstance(c, str) else tuple(c) for c in chapters]
    nb = static_widgets(for_reading(json.loads(Path(executed).read_text())))
    body, _ = _exporter().from_notebook_node(nbformat.reads(json.dumps(nb), as_version=4),
                                             resources={"metadata": {"name": executed.stem}})
    names = "|".join(re.escape(c) for c, _ in chapters)
    if names:
        body = re.sub(rf'href="((?:\./)?(?:{names}))\.ipynb(#[^"]*)?"', r'href="\1.html\2"', body)
    banner = f'<div class="humo-smoke-banner">{SMOKE_BANNER}</div>' if smoke else ""
    top = _nav(executed.stem, chapters, "top") + banner
    body = body.replace("</head>", f"{SITE_CSS}\n</head>", 1)
    body = re.sub(r"(<body[^>]*>\s*<main>)", lambda m: m.group(1) + top, body, count=1)
    return body.replace("</main>", _nav(executed.stem, chapters, "bottom") + "</main>", 1)


def chapter_title(notebook: Path) -> str:
    """The chapter's first Markdown heading (its title), else its file name."""
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return notebook.stem


# ---------------------------------------------------------------- checks: what a page must not contain


class _VisibleText(HTMLParser):
    """The text a reader sees: outside code, scripts, styles and MathML."""

    SKIP = {"script", "style", "pre", "code", "math", "textarea"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _VisibleText()
    parser.feed(page)
    return "".join(parser.parts)


RAW_MATH = re.compile(r"\$\$.+?\$\$|(?<![\w$])\$(?=\S)[^$\n]{1,200}?(?<=\S)\$(?!\w)|\\(?:frac|begin|mathrm|left|sum)\b",
                      re.S)
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])(?:/(?:home|root|tmp|work|Users|var|opt|mnt|srv|private|data|scratch)"
                           r"/[^\s\"'<>)]*|[A-Za-z]:\\[^\s\"'<>]+|file://[^\s\"'<>]+)")
EXTERNAL_LOAD = re.compile(r"<(?:script|link|img|video|audio|source|iframe|embed)\b[^>]*?\b(?:src|href)\s*=\s*"
                           r"[\"']?(?:https?:)?//"
                           r"|@import\s+(?:url\()?[\"']?(?:https?:)?//|\bimport\(\s*[\"'](?:https?:)?//", re.I)
DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\r\n]+")


def absolute_paths(text: str) -> list[str]:
    """Absolute file-system paths in ``text`` (data URIs skipped), the build machine's own folders included."""
    text = DATA_URI.sub("data:", text)
    found = ABSOLUTE_PATH.findall(text)
    for own in {str(REPO_ROOT), str(Path.home()), tempfile.gettempdir()} - {"/"}:
        if own + "/" in text and not any(f.startswith(own) for f in found):
            found.append(own)
    return sorted(set(found))


def page_problems(page: str) -> list[str]:
    """What is wrong with a built page, for a reader offline; empty when nothing is.

    Equations left as raw LaTeX (``$…$`` in the visible text), anything loaded from the web (a script,
    stylesheet, image or player source; links a reader clicks are fine), widget outputs left for a widget
    script to draw, and absolute paths.
    """
    problems = [f"raw LaTeX in the text: {m.group(0)[:60]!r}" for m in RAW_MATH.finditer(visible_text(page))]
    problems += [f"loads from the web: {m.group(0)[:80]!r}" for m in EXTERNAL_LOAD.finditer(page)]
    if WIDGET_VIEW in page or WIDGET_STATE in page:
        problems.append("a widget is left for a widget script to draw (it is empty offline)")
    problems += [f"absolute path: {p!r}" for p in absolute_paths(page)]
    return problems


PROGRESS_TEXT = re.compile(r"\d+%\|.*\||\d+(?:\.\d+)?\s*(?:it|s)/(?:s|it)\]")
RAW_DICT = re.compile(r"\{\s*(?:'[^'\n]*'|\"[^\"\n]*\"|-?\d+(?:\.\d+)?)\s*:\s")
LONG_FLOAT = re.compile(r"\d\.\d{9,}")


def reading_problems(nb: dict) -> list[str]:
    """What a reader trips on in an executed notebook's outputs; empty when nothing.

    Progress bars (tqdm's widget or its text), raw dicts (``{'key': value, ...}``) and 16-digit floats
    printed where a table belongs, error outputs, and absolute paths. Each is named with its cell
    (numbered from 0, as the notebook file orders them).
    """
    problems = []
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for i, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            data = output.get("data", {})
            view = data.get(WIDGET_VIEW)
            if view and any(state.get(m, {}).get("model_name", "").endswith("ProgressModel")
                            for m in _widget_tree(view["model_id"], state)):
                problems.append(f"cell {i}: a progress bar")
                continue
            if kind == "error":
                problems.append(f"cell {i}: error {output.get('ename')}: {output.get('evalue')}")
                continue
            text = "".join(output.get("text", "")) if kind == "stream" else "".join(data.get("text/plain", ""))
            shown_as_text = kind == "stream" or not ({"text/html", "text/markdown", "image/png"} & set(data))
            if shown_as_text and not view:
                if PROGRESS_TEXT.search(text):
                    problems.append(f"cell {i}: a progress bar printed as text")
                if RAW_DICT.search(text):
                    problems.append(f"cell {i}: a raw dict: {RAW_DICT.search(text).group(0)!r}…")
                if LONG_FLOAT.search(text):
                    problems.append(f"cell {i}: an unformatted float {LONG_FLOAT.search(text).group(0)}…")
            problems += [f"cell {i}: absolute path {p!r}" for p in absolute_paths(json.dumps(data) + text)]
    return problems


def _widget_tree(model_id: str, state: dict) -> list[str]:
    model_id = model_id.removeprefix("IPY_MODEL_")
    children = state.get(model_id, {}).get("state", {}).get("children", [])
    return [model_id] + [m for child in children for m in _widget_tree(child, state)]


# ---------------------------------------------------------------- the site


def index_html(record: dict) -> str:
    """The site's front page: the chapters built, each with how it was run and how long it took."""
    rows = "\n".join(
        f'<tr><td><a href="{html.escape(stem)}.html">{html.escape(r["title"])}</a></td><td>{r["mode"]}</td>'
        f'<td>{r["seconds"]:.0f} s</td><td>{r.get("page_kb", 0):.0f} kB</td><td>{html.escape(r["built"])}</td>'
        f'<td><a href="notebooks/{html.escape(stem)}.ipynb">notebook</a></td></tr>'
        for stem, r in sorted(record.items()))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>humo_lite: the chapters</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}}</style>
</head><body>
<h1>humo_lite: the chapters, rendered</h1>
<p>HuMo (text + reference image + audio &rarr; a talking human video) rebuilt small enough to train on a laptop
CPU. Each page is a chapter notebook as it ran (mode: <em>full</em>, the reading edition, or the fast
<em>smoke</em> run the tests make, whose numbers only show that the code runs), with its figures, videos and
sound. The pages work offline: equations are drawn by the browser (MathML) and each interactive widget is
shown as it stood when the chapter ran; to move its sliders, run the notebook in JupyterLab.</p>
<table><tr><th>chapter</th><th>mode</th><th>run time</th><th>page</th><th>built</th><th>download</th></tr>
{rows}
</table></body></html>
"""


def build_site(notebooks: Sequence[Path], out_dir: str | os.PathLike = DEFAULT_OUT, smoke: bool = False,
               progress: bool = True, execute: Callable[[Path, Path, bool, bool], Path] = execute_chapter) -> Path:
    """Execute each of ``notebooks`` and write its page, then the index (``out_dir/index.html``, returned).

    ``execute(notebook, out_dir, smoke, progress)`` runs one chapter and returns its executed copy
    (:func:`execute_chapter`; the tests pass one that reuses the run their notebook check already made).

    Chapters built earlier into ``out_dir`` stay listed (``site.json`` records each one's mode, run time,
    page size, machine and date), so a build can be done a few chapters at a time. A page with a problem
    (:func:`page_problems`, :func:`reading_problems`) raises :class:`ChapterFailed` listing them, and is not
    written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record_path = out / "site.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    # navigation and links cover every chapter of the folder, built now or later
    every = sorted({p for nb in notebooks for p in Path(nb).parent.glob("[0-9]*.ipynb")}, key=lambda p: p.name)
    chapters = [(p.stem, chapter_title(p)) for p in every]
    for notebook in tqdm(notebooks, desc="chapters", unit="chapter", disable=not progress):
        start = time.perf_counter()
        executed = execute(Path(notebook), out, smoke, progress)
        seconds = time.perf_counter() - start
        page = chapter_html(executed, chapters, smoke=smoke)
        problems = reading_problems(json.loads(executed.read_text())) + page_problems(page)
        if problems:
            raise ChapterFailed(f"chapter {notebook.stem} does not read well: " + "; ".join(problems))
        with atomic_path(out / f"{notebook.stem}.html") as tmp:
            tmp.write_text(page, encoding="utf-8")
        record[notebook.stem] = {"title": chapter_title(notebook), "mode": "smoke" if smoke else "full",
                                 "seconds": round(seconds, 1), "page_kb": round(len(page.encode()) / 1024),
                                 "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                                 "built": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        write_json(record_path, record)
        link_pages(out, [(c, t) for c, t in chapters if c in record] +
                   [(c, record[c]["title"]) for c in record if c not in dict(chapters)])
        with atomic_path(out / "index.html") as tmp:
            tmp.write_text(index_html(record), encoding="utf-8")
    return out / "index.html"


NAV = re.compile(r'<nav class="humo-nav (top|bottom)">.*?</nav>', re.S)


def link_pages(out_dir: Path, chapters: Sequence[tuple[str, str]]) -> None:
    """Point every built page's navigation at the chapters built in ``out_dir`` (``chapters``: (stem, title)
    in reading order), so that previous and next never lead to a page that is not there."""
    chapters = sorted(chapters)
    for stem, _ in chapters:
        page = Path(out_dir) / f"{stem}.html"
        if page.is_file():
            text = page.read_text(encoding="utf-8")
            linked = NAV.sub(lambda m, s=stem: _nav(s, chapters, m.group(1)), text)
            if linked != text:
                with atomic_path(page) as tmp:
                    tmp.write_text(linked, encoding="utf-8")


__all__ = ["ChapterFailed", "DEFAULT_OUT", "NOTEBOOKS_DIR", "absolute_paths", "build_site", "chapter_html",
           "chapter_notebooks", "chapter_title", "execute_chapter", "for_reading", "index_html", "latex_to_mathml",
           "link_pages", "page_problems", "reading_problems", "static_widgets", "visible_text", "widget_html"]
