"""Every chapter reads in order: its headings run without gaps, every figure has its words beside it, it names
no chapter or section a reader cannot open, it opens a fast run with a banner, it shows numbers as tables; and
the figures the chapters draw can be read (no text on top of text, colour scales shared where maps compare).

The checks read the notebooks' sources (no kernel), so they cover every ``notebooks/[0-9]*.ipynb`` as it lands.
Each check is a function that returns what is wrong, and each has a case that must fail.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def _existing_chapters(folder: Path = ROOT / "notebooks") -> set[str]:
    return {p.name[:2] for p in folder.glob("[0-9][0-9]_*.ipynb")}


# ---------------------------------------------------------------- headings

SECTION = re.compile(r"^## (\d+)\.\s", re.M)
SUBSECTION = re.compile(r"^### (\d+)([a-z])\.\s", re.M)
HEADING = re.compile(r"^(#{1,3}) (.+)$", re.M)


def sections(nb) -> list[str]:
    """The chapter's numbered sections and subsections, in order: ``["1", "1b", "2", ...]``."""
    found = []
    for kind, source in _cells(nb):
        if kind != "markdown":
            continue
        for level, text in HEADING.findall(source):
            m = re.match(r"(\d+)([a-z]?)\.\s", text)
            if m and len(level) in (2, 3):
                found.append(m.group(1) + m.group(2))
    return found


def heading_problems(nb, stem: str) -> list[str]:
    """The title names the chapter's own number; sections run 1, 2, 3, … without a gap or a repeat; a
    subsection ``Nb.`` follows section N (or ``Na.``…) in letter order; Setup comes before section 1 and
    Summary, Exercises, References close the chapter in that order."""
    problems = []
    text = "\n".join(s for k, s in _cells(nb) if k == "markdown")
    title = re.search(r"^# Chapter (\d+)\b", text, re.M)
    if not title or title.group(1) != stem[:2]:
        problems.append(f"the title should start '# Chapter {stem[:2]}'")
    expected, letter = 1, None
    for label in sections(nb):
        m = re.fullmatch(r"(\d+)([a-z]?)", label)
        number, sub = int(m.group(1)), m.group(2)
        if not sub:
            if number != expected:
                problems.append(f"section {number} follows section {expected - 1} (expected {expected})")
            expected, letter = number + 1, "a"
        else:
            if number != expected - 1 or ord(sub) != ord(letter) + 1:
                problems.append(f"subsection {label} is out of place (after section {expected - 1}"
                                f"{'' if letter == 'a' else letter})")
            letter = sub
    names = [h.strip() for _, h in HEADING.findall(text)]
    order = [n for n in names if n in ("Setup", "Summary", "Exercises", "References")]
    if order != ["Setup", "Summary", "Exercises", "References"]:
        problems.append(f"Setup, Summary, Exercises, References should appear once each in that order, got {order}")
    elif sections(nb):
        first_section = next(i for i, n in enumerate(names) if SECTION.match(f"## {n}"))
        if names.index("Setup") > first_section or names.index("Summary") < first_section:
            problems.append("Setup must come before section 1 and Summary after the last section")
    return problems


# ---------------------------------------------------------------- references

CHAPTER_REF = re.compile(r"\b[Cc]hapters?\s+((?:\d{2}(?:\s*(?:[–-]|and|,|or)\s*)?)+)")
SECTION_REF = re.compile(r"(?:\b[Cc]hapter\s+(\d{2})(?:'s)?,?\s+)?"
                         r"\b[Ss]ections?\s+((?:\d+[a-z]?(?:\s*(?:,|and|or|[–-])\s*)?)+)")
UNREADABLE = re.compile(r"\b(?:the issue|issues?'s?|ticket|TODO|coming soon|\(coming\)|not yet written)\b", re.I)


def _numbers(group: str) -> list[str]:
    """``"02–04"`` -> 02, 03, 04; ``"4 and 7"`` -> 4, 7."""
    out = []
    for lo, hi in re.findall(r"(\d+[a-z]?)(?:\s*[–-]\s*(\d+[a-z]?))?", group):
        if hi and lo.isdigit() and hi.isdigit():
            out += [str(n).zfill(len(lo)) for n in range(int(lo), int(hi) + 1)]
        else:
            out += [lo] + ([hi] if hi else [])
    return out


def reference_problems(nb, stem: str, folder: Path = ROOT / "notebooks") -> list[str]:
    """Chapters named anywhere in the chapter (prose, code comments, printed strings) must exist as files
    in ``folder``; sections named ("section 6", "sections 4 and 7", "chapter 02, section 6") must exist in
    the chapter they point at; nothing refers to project bookkeeping a reader cannot see."""
    problems = []
    existing = _existing_chapters(folder)
    own = set(sections(nb))
    for _, source in _cells(nb):
        for m in CHAPTER_REF.finditer(source):
            for number in _numbers(m.group(1)):
                if number not in existing:
                    problems.append(f"refers to chapter {number}, which does not exist: {m.group(0)!r}")
        for m in SECTION_REF.finditer(source):
            target = m.group(1)
            if target and target not in existing:
                continue  # reported above
            have = own if not target or target == stem[:2] else set(
                sections(nbformat.read(next(folder.glob(f"{target}_*.ipynb")), as_version=4)))
            for number in _numbers(m.group(2)):
                if number not in have:
                    where = f"chapter {target}" if target and target != stem[:2] else "this chapter"
                    problems.append(f"refers to section {number}, which {where} does not have: {m.group(0)!r}")
        problems += [f"refers to something a reader cannot open: {m.group(0)!r}" for m in UNREADABLE.finditer(source)]
    return problems


# ---------------------------------------------------------------- figures, tables, the fast run's banner

DRAWS = re.compile(r"plt\.show\(|\bplot_\w+\(|_slider\(|_scrubber\(|_player\(")


def figure_problems(nb) -> list[str]:
    """Every code cell that draws (a figure, a player, a widget) has a Markdown cell right before or after it."""
    cells = nb.cells
    problems = []
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and DRAWS.search(cell.source):
            before = i > 0 and cells[i - 1].cell_type == "markdown"
            after = i + 1 < len(cells) and cells[i + 1].cell_type == "markdown"
            if not (before or after):
                problems.append(f"cell {i} draws with no words beside it: {cell.source.splitlines()[0]!r}")
    return problems


def _dict_names(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and (isinstance(node.value, (ast.Dict, ast.DictComp)) or (
                isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "dict")):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def table_problems(nb) -> list[str]:
    """No cell shows a dict raw: neither a dict as a cell's last expression (its repr is what the reader
    gets) nor a dict passed to ``print``."""
    code = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    trees = [(i, ast.parse(src)) for i, src in code]
    names = set().union(*(_dict_names(t) for _, t in trees))

    def is_dict(node) -> bool:
        return isinstance(node, (ast.Dict, ast.DictComp)) or (isinstance(node, ast.Name) and node.id in names)

    problems = []
    for i, tree in trees:
        if tree.body and isinstance(tree.body[-1], ast.Expr) and is_dict(tree.body[-1].value):
            problems.append(f"cell {i} ends by showing a dict raw (show it as a table)")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print" and any(
                    is_dict(a) for a in node.args):
                problems.append(f"cell {i} prints a dict raw (show it as a table)")
    return problems


def banner_problems(nb) -> list[str]:
    """The fast run says so at its top: a cell before section 1 shows ``smoke_banner()`` when ``SMOKE``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and SECTION.search(cell.source):
            break
        if cell.cell_type == "code" and re.search(r"if SMOKE:\s*\n\s+display\(smoke_banner\(", cell.source):
            return []
    return ["no SMOKE banner before section 1 (if SMOKE: display(smoke_banner()))"]


# ---------------------------------------------------------------- the checks over every chapter

@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_reads_in_order(path):
    nb = nbformat.read(path, as_version=4)
    problems = (heading_problems(nb, path.stem) + reference_problems(nb, path.stem) + figure_problems(nb)
                + table_problems(nb) + banner_problems(nb))
    assert not problems, "\n".join(problems)


def _nb(*cells):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(s) if kind == "md" else
                                           nbformat.v4.new_code_cell(s) for kind, s in cells])


GOOD = [("md", "# Chapter 01 — A\n\nSee chapter 01."), ("md", "## Setup"), ("code", "x = 1"),
        ("md", "## 1. One"), ("code", "plt.show()"), ("md", "### 1b. More, see section 2"), ("md", "## 2. Two"),
        ("md", "## Summary\n## Exercises\n1. In section 1b, ...\n## References")]


def test_the_checks_pass_a_good_chapter_and_fail_each_fault(tmp_path):
    (tmp_path / "01_a.ipynb").write_text("{}")
    good = _nb(*GOOD)
    assert heading_problems(good, "01_a") == [] and reference_problems(good, "01_a", tmp_path) == []
    assert figure_problems(good) == [] and table_problems(good) == []

    gap = _nb(*GOOD[:4], ("md", "## 3. Three"), *GOOD[7:])
    assert heading_problems(gap, "01_a") == ["section 3 follows section 1 (expected 2)"]
    stray = _nb(*GOOD[:4], ("md", "### 2b. Stray"), ("md", "## 2. Two"), *GOOD[7:])
    assert "subsection 2b is out of place" in heading_problems(stray, "01_a")[0]
    assert heading_problems(_nb(("md", "# Chapter 02 — wrong number"), *GOOD[1:]), "01_a")[0].startswith("the title")

    missing = _nb(*GOOD, ("md", "Next, chapter 04; chapters 02–08 train on it; section 6 shows it; the issue's bar"))
    found = reference_problems(missing, "01_a", tmp_path)
    assert [p.split(",")[0] for p in found] == [
        "refers to chapter 04", *[f"refers to chapter {n:02d}" for n in range(2, 9)],
        "refers to section 6", "refers to something a reader cannot open: 'the issue'"], found
    (tmp_path / "02_b.ipynb").write_text(nbformat.writes(_nb(("md", "## 1. x\n## 6. y"))))
    assert reference_problems(_nb(("md", "chapter 02, section 6 and chapter 02 section 7")), "01_a", tmp_path) == [
        "refers to section 7, which chapter 02 does not have: 'chapter 02 section 7'"]

    assert figure_problems(_nb(("code", "x = 1"), ("code", "fig = plot_clip(c)"), ("code", "y = 2"))) != []
    raw = "a dict raw (show it as a table)"
    assert table_problems(_nb(("code", "results = {'a': 1}\nresults"))) == [f"cell 0 ends by showing {raw}"]
    assert table_problems(_nb(("code", "print({k: 1 for k in 'ab'})"))) == [f"cell 0 prints {raw}"]
    assert table_problems(_nb(("code", "results = {'a': 1}\nresults_table(results)"))) == []
    assert banner_problems(_nb(("md", "## 1. x"), ("code", "if SMOKE:\n    display(smoke_banner())"))) != []
    assert banner_problems(_nb(("code", "if SMOKE:\n    display(smoke_banner())"), ("md", "## 1. x"))) == []


# ---------------------------------------------------------------- figures that can be read


def _clips(n=4):
    from humo_lite.data import make_clip, make_pool
    from humo_lite.presets import get_preset

    return [make_clip(s, get_preset("humo-micro").world) for s in make_pool("stage1")[:n]]


def test_text_problems_catches_overlapping_and_cut_text():
    from humo_lite.viz.plots import text_problems

    fig, axes = plt.subplots(2, 4, figsize=(8, 4.4))  # chapter 03's first caption grid: titles pile up
    for i, clip in enumerate(_clips()):
        axes[0, i].imshow(clip.reference)
        axes[1, i].imshow(clip.video[8])
        axes[1, i].set_title("\n".join(clip.caption.split(", ")), fontsize=6)
    for ax in axes.ravel():
        ax.axis("off")
    plt.tight_layout()
    assert any("overlap" in p for p in text_problems(fig)), text_problems(fig)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("a title far too long for so narrow a figure, running off both of its edges")
    assert any("cut off" in p for p in text_problems(fig))
    assert any("wide" in p for p in text_problems(plt.figure(figsize=(14, 2))))
    plt.close("all")


def test_the_chapters_figures_have_readable_text():
    from humo_lite.data import pool_summary
    from humo_lite.viz import (
        plot_audio_windows,
        plot_clip,
        plot_lip_law,
        plot_mouth_strip,
        plot_pools,
        plot_sequence_layout,
        plot_subject_lift,
    )
    from humo_lite.viz.attention import plot_guidance_choice
    from humo_lite.viz.plots import plot_reference_pairs, text_problems

    clips = _clips()
    c = clips[0]
    strip = plot_mouth_strip(c, traces={"measured from pixels (rescaled)": c.mouth})
    strip.suptitle("head and shoulders (HEAD_SCALE = 1.5): every frame's mouth, zoomed", fontsize=9)
    selection = {"settings": {f"text {t}, image {i}": {"tva_lite": 0.9 + 0.01 * t, "id_lite": 0.7 + 0.01 * i}
                              for t, i in ((2, 5), (3, 3), (3, 5), (3, 7), (4, 5), (5, 5))}
                 | {"T (caption only)": {"tva_lite": 0.99, "id_lite": -0.03}},
                 "choice": "text 3, image 5", "tva_floor": 0.92, "clips": 48}
    sweep = {s: {"id_lite": 0.6, "retrieval_top1": 0.5, "judge": {"tva_lite": 0.95}} for s in (1.0, 3.0, 5.0, 7.0)}
    figures = {"plot_clip": plot_clip(c), "plot_lip_law": plot_lip_law(c, c.mouth, clips[1].mouth),
               "plot_audio_windows": plot_audio_windows(c.audio_features), "plot_pools": plot_pools(pool_summary()),
               "plot_mouth_strip": strip, "plot_sequence_layout": plot_sequence_layout(5, 1, "after"),
               "plot_subject_lift": plot_subject_lift({"face": np.ones(6), "background": np.ones(6)}),
               "plot_reference_pairs": plot_reference_pairs(clips),
               "plot_guidance_choice": plot_guidance_choice(selection, sweep, 3.0, 16)}
    problems = {name: text_problems(fig) for name, fig in figures.items()}
    plt.close("all")
    assert not any(problems.values()), problems


def test_attention_maps_share_one_stated_scale_and_say_what_is_averaged():
    from humo_lite.viz.attention import attention_scales, plot_reference_attention
    from humo_lite.viz.plots import text_problems

    person = _clips(1)[0]
    rng = np.random.default_rng(0)
    # (calls, rows, blocks, F', h, w, R', h, w)
    maps = rng.random((3, 2, 2, 5, 4, 4, 1, 4, 4)).astype(np.float32) * 1e-3
    maps[0] *= 10  # the first step attends ten times more: on a shared scale its maps look brighter
    scales = attention_scales(maps)
    limits = []
    for call in (0, 2):
        fig = plot_reference_attention(maps, person.reference, person.video[8], call=call, block=1, scales=scales,
                                       frame_index=8)
        images = [im for ax in fig.axes for im in ax.images if im.get_array().ndim == 2]
        limits.append([im.get_clim() for im in images])
        titles = " ".join(ax.get_title() for ax in fig.axes)
        bars = " ".join(ax.get_ylabel() for ax in fig.axes)
        assert "mean of 5 latent frames" in titles and "frame 8" in titles, titles
        assert "same scale for every step and block" in bars and f"{scales[0]:.3g}" in bars, bars
        assert all(im.get_alpha() in (None, 1) for ax in fig.axes for im in ax.images)  # maps opaque, not blended
        assert text_problems(fig) == [], text_problems(fig)
    assert limits[0] == limits[1] and limits[0][0] == (0.0, pytest.approx(scales[0]))
    fig = plot_reference_attention(maps, person.reference, person.video[8], call=2, block=1, row=-1)
    shown = [im.get_array() for ax in fig.axes for im in ax.images if im.get_array().ndim == 2]
    expected = maps[2, -1, 1].sum(axis=(3, 4, 5)).mean(0)  # per video cell: all reference cells, latent frames averaged
    assert shown[0].shape == (4, 4) and np.allclose(shown[0], expected), (shown[0].shape, expected.shape)
    cell = np.unravel_index(expected.argmax(), expected.shape)
    assert np.allclose(shown[1], maps[2, -1, 1, :, cell[0], cell[1]].sum(1).mean(0))  # where the + cell looks
    own = plot_reference_attention(maps, person.reference, person.video[8], call=2, block=1)  # its own scale
    assert [im.get_clim() for ax in own.axes for im in ax.images if im.get_array().ndim == 2] != limits[1]
    assert "scale of this map alone" in " ".join(ax.get_ylabel() for ax in own.axes)
    plt.close("all")


def test_results_table_formats_numbers_and_nests():
    from humo_lite.viz.media import results_table

    table = results_table({"loss": 0.15801886792452830, "identity": {"TI": {"id_lite": 0.7532}}, "shape": (1, 3, 17),
                           "seeds": list(range(12)), "smoke": True}).data
    assert "| loss | 0.158 |" in table and "| identity / TI / id_lite | 0.753 |" in table
    assert "| shape | (1, 3, 17) |" in table and "…" in table and "0.1580188" not in table


FIGURE_WATCH = """# added by tests/test_chapters_read.py: check every figure's text as the inline backend draws it
import matplotlib.backend_bases as _bases
from humo_lite.viz.plots import text_problems as _text_problems

_HUMO_FIGURE_PROBLEMS = []
_print_figure = _bases.FigureCanvasBase.print_figure


def _checked_print_figure(self, *args, **kwargs):
    _HUMO_FIGURE_PROBLEMS.extend(f"{self.figure.get_suptitle() or [a.get_title() for a in self.figure.axes][:2]}: {p}"
                                 for p in _text_problems(self.figure, tight=kwargs.get("bbox_inches") == "tight"))
    return _print_figure(self, *args, **kwargs)


_bases.FigureCanvasBase.print_figure = _checked_print_figure
"""


def drawn_figure_problems(path: Path, tmp_path: Path) -> list[str]:
    """Run the notebook ``path`` in SMOKE mode with :data:`FIGURE_WATCH` installed first; return the text
    problems of every figure it showed."""
    import json
    import os

    import papermill as pm

    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(FIGURE_WATCH))
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json as _json\nfrom pathlib import Path as _Path\n"
        "_Path(RESULTS_PATH).with_suffix('.figures.json').write_text(_json.dumps(_HUMO_FIGURE_PROBLEMS))"))
    watched = tmp_path / path.name
    nbformat.write(nb, watched)
    results = tmp_path / "results.json"
    saved = os.environ.pop("MPLBACKEND", None)  # the kernel draws with the inline backend, as for a reader
    try:
        pm.execute_notebook(str(watched), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False,
                            parameters={"SMOKE": True, "RESULTS_PATH": str(results)}, cwd=str(path.parent),
                            execution_timeout=180)
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved
    return json.loads(results.with_suffix(".figures.json").read_text())


def test_the_figure_watch_reports_a_figure_with_overlapping_text(tmp_path):
    params = nbformat.v4.new_code_cell('SMOKE = False\nRESULTS_PATH = "r.json"')
    params.metadata["tags"] = ["parameters"]
    draw = nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(3, 2))\n"
                                     "ax.text(0.5, 0.5, 'one label')\nax.text(0.5, 0.5, 'another label')\nplt.show()")
    nb = nbformat.v4.new_notebook(cells=[params, draw])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nb").mkdir()
    nbformat.write(nb, tmp_path / "nb" / "01_x.ipynb")
    problems = drawn_figure_problems(tmp_path / "nb" / "01_x.ipynb", tmp_path)
    assert len(problems) == 1 and "'one label' and 'another label' overlap" in problems[0], problems


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_a_chapter_draws_has_readable_text(path, tmp_path):
    """Every figure a chapter shows (its SMOKE run, as JupyterLab's inline backend draws it) passes
    :func:`humo_lite.viz.plots.text_problems`: the check is installed in the kernel before the chapter runs."""
    problems = drawn_figure_problems(path, tmp_path)
    assert not problems, "\n".join(problems)
