"""The rendered chapters (``humo-lite site``): executed, turned into self-contained pages that work offline,
linked to each other and listed in an index; every page checked before it is written."""

import base64
import json

import nbformat
import pytest

from humo_lite.cli import main
from humo_lite.site import (
    NOTEBOOKS_DIR,
    REPO_ROOT,
    ChapterFailed,
    absolute_paths,
    build_site,
    chapter_html,
    chapter_notebooks,
    for_reading,
    latex_to_mathml,
    page_problems,
    reading_problems,
    static_widgets,
    visible_text,
)

PARAMETERS = 'SMOKE = False  # True: the fast run\nRESULTS_PATH = "results/x.json"'
FIGURE_AND_SOUND = """import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from humo_lite.viz import audio_player

fig, ax = plt.subplots(figsize=(2, 2))
ax.plot([0, 1], [1, 0 if SMOKE else 2])
display(audio_player(np.zeros(1600, np.float32)))
Path(RESULTS_PATH).write_text(json.dumps({"smoke": SMOKE}))"""
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def _notebook(path, title, code, link="", extra=()):
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}\n\n{link}"), params,
                                         nbformat.v4.new_code_cell(code), *extra])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_chapters_are_found_in_order_and_picked_by_name(tmp_path):
    found = chapter_notebooks()
    assert [p.parent for p in found] == [NOTEBOOKS_DIR] * len(found) and found == sorted(found)
    assert "01_data_triplets" in [p.stem for p in found] and "chapter_template" not in [p.stem for p in found]
    assert [p.stem for p in chapter_notebooks(["08", "01"])] == ["01_data_triplets", "08_evaluation"]
    with pytest.raises(ValueError, match="no chapter starts with \\['99'\\]"):
        chapter_notebooks(["99"])
    with pytest.raises(FileNotFoundError, match="no chapter notebooks"):
        chapter_notebooks(folder=tmp_path)


def test_links_between_chapters_point_at_their_pages_and_every_page_has_navigation(tmp_path):
    path = _notebook(tmp_path / "02_b.ipynb", "Chapter 02", "1", "[next](03_c.ipynb#top), [paper](other.ipynb)")
    chapters = [("01_a", "Chapter 01 — A"), ("02_b", "Chapter 02 — B"), ("03_c", "Chapter 03 — C")]
    page = chapter_html(path, chapters)
    assert 'href="03_c.html#top"' in page and 'href="other.ipynb"' in page  # only the site's own chapters
    for where in ("top", "bottom"):
        nav = page.split(f'<nav class="humo-nav {where}">')[1].split("</nav>")[0]
        assert 'href="01_a.html">&larr; Chapter 01 — A' in nav and 'href="index.html"' in nav
        assert 'href="03_c.html">Chapter 03 — C &rarr;' in nav
    first = chapter_html(_notebook(tmp_path / "01_a.ipynb", "Chapter 01", "1"), chapters)
    assert "(first chapter)" in first and 'href="02_b.html"' in first
    banner = 'class="humo-smoke-banner"'
    assert banner not in page and banner in chapter_html(path, chapters, smoke=True)


def test_equations_become_mathml_and_a_formula_that_cannot_be_drawn_stops_the_page(tmp_path):
    text = ("Inline $v = \\varepsilon - x_0$ and\n\n$$x_\\sigma = (1-\\sigma)\\,x_0 + \\sigma\\,\\varepsilon$$\n\n"
            "`$HOME` stays code.")
    page = chapter_html(_notebook(tmp_path / "01_a.ipynb", "Chapter 01", "1", text), [])
    assert page.count("<math") == 2 and 'display="block"' in page and "<msub><mi>x</mi><mn>0</mn></msub>" in page
    assert "$HOME" in page and page_problems(page) == []  # a dollar in code is not an equation
    assert "<math" in latex_to_mathml("\\tfrac14") and "mathjax" not in page.lower()
    with pytest.raises(ValueError, match=r"unknown command \\notacommand"):
        latex_to_mathml("\\notacommand x")  # would show as raw LaTeX inside the formula
    with pytest.raises(ValueError, match="cannot convert the equation"):
        chapter_html(_notebook(tmp_path / "01_b.ipynb", "Chapter 01", "1", "$\\frac{a}{$"), [])


def test_page_problems_finds_raw_latex_web_loads_empty_widgets_and_absolute_paths():
    clean = ('<html><head><style>.a{color:var(--x)}</style></head><body><p>r = 0.9 <math><mi>x</mi></math></p>'
             '<pre>echo $HOME $x$</pre><a href="https://arxiv.org/abs/2509.08519">paper</a>'
             f'<img src="data:image/png;base64,{PNG}/tmp/x/home/y=="></body></html>')
    assert page_problems(clean) == []
    assert "r = 0.9" in visible_text(clean) and "$HOME" not in visible_text(clean)
    bad = {"<p>where $L_f$ is the energy</p>": "raw LaTeX",
           "<p>$$v = v_0$$</p>": "raw LaTeX",
           "<p>\\frac{a}{b}</p>": "raw LaTeX",
           '<script src="https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@*/dist/embed-amd.js"></script>':
               "loads from the web",
           '<link rel="stylesheet" href="//fonts.example.org/a.css">': "loads from the web",
           '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "x"}</script>': "widget",
           "<pre>judge from /home/someone/humo/data_samples/checkpoints/judge</pre>": "absolute path",
           f"<p>{REPO_ROOT}/notebooks/results/03.json</p>": "absolute path",
           "<p>C:\\Users\\me\\results.json</p>": "absolute path"}
    for fragment, kind in bad.items():
        problems = page_problems(clean.replace("</body>", fragment + "</body>"))
        assert len(problems) >= 1 and kind in problems[0], (fragment, problems)


def _output(text=None, data=None):
    if text is not None:
        return nbformat.v4.new_output("stream", name="stdout", text=text)
    return nbformat.v4.new_output("display_data", data=data)


def test_reading_problems_finds_raw_dicts_long_floats_progress_bars_and_paths():
    def problems(*outputs, state=None):
        cell = nbformat.v4.new_code_cell("x", outputs=list(outputs))
        nb = nbformat.v4.new_notebook(cells=[cell])
        if state:
            nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state}}
        return reading_problems(json.loads(nbformat.writes(nb)))

    assert problems(_output("loss 0.158 -> 0.142\n"), _output(data={"text/markdown": "| a | 0.1 |"})) == []
    assert problems(_output(data={"text/html": "<table/>", "text/plain": "{'a': 0.1234567891234}"})) == []
    assert problems(_output("{'latents': (64, 16, 5, 8, 8)}\n"))[0].startswith("cell 0: a raw dict")
    assert problems(_output("{1.0: (0.5, 0.3)}\n"))[0].startswith("cell 0: a raw dict")
    assert problems(_output(data={"text/plain": "0.1580188679245283"}))[0].startswith("cell 0: an unformatted float")
    assert "progress bar" in problems(_output("encode: 100%|██████████| 4/4 [00:00<00:00, 180.88it/s]\n"))[0]
    bar = {"h": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_p"]}},
           "p": {"model_name": "FloatProgressModel", "state": {"value": 4, "max": 4}}}
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "h"}, "text/plain": "Loading…"}
    assert problems(_output(data=view), state=bar) == ["cell 0: a progress bar"]
    assert "absolute path '/tmp/humo/x.json'" in problems(_output("saved to /tmp/humo/x.json\n"))[0]
    assert absolute_paths("data:image/png;base64,AAAA/tmp/BBBB ok /work/x") == ["/work/x"]


def test_papermills_cell_is_folded_into_the_parameters_and_paths_made_relative():
    params = nbformat.v4.new_code_cell("SMOKE = False  # True: the fast run\nSEED = 0\nRESULTS_PATH = \"r.json\"")
    params.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell(
        f'# Parameters\nSMOKE = True\nRESULTS_PATH = "{REPO_ROOT}/docs/_build/r.json"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    out = nbformat.v4.new_code_cell("print(x)", outputs=[_output(f"judge from {REPO_ROOT}/data_samples/judge"),
                                                         _output("\n")])
    params.execution_count, injected.execution_count, out.execution_count = 1, 2, 3
    nb = nbformat.v4.new_notebook(cells=[params, injected, out])
    nb.metadata["papermill"] = {"input_path": f"{REPO_ROOT}/notebooks/x.ipynb"}
    read = for_reading(json.loads(nbformat.writes(nb)))
    assert read["cells"][0]["source"] == 'SMOKE = True  # True: the fast run\nSEED = 0\nRESULTS_PATH = "r.json"'
    assert len(read["cells"]) == 2 and "papermill" not in read["metadata"]
    assert [c["execution_count"] for c in read["cells"]] == [1, 2]  # numbered as the reader ran them
    assert [("".join(o["text"])) for o in read["cells"][1]["outputs"]] == ["judge from data_samples/judge\n"]  # one box
    assert str(REPO_ROOT) not in json.dumps(read)


def _scrubber_state():
    children = ["IPY_MODEL_s", "IPY_MODEL_i", "IPY_MODEL_l", "IPY_MODEL_o"]
    return {"v": {"model_name": "VBoxModel", "state": {"children": children}},
            "s": {"model_name": "IntSliderModel", "state": {"description": "frame", "min": 0, "max": 16, "value": 3}},
            "i": {"model_name": "ImageModel", "state": {"format": "png", "width": "256"},
                  "buffers": [{"encoding": "base64", "path": ["value"], "data": PNG}]},
            "l": {"model_name": "LabelModel", "state": {"value": "frame 3 / 16 <b>"}},
            "o": {"model_name": "OutputModel", "state": {"outputs": [
                {"output_type": "display_data", "data": {"image/png": PNG, "text/plain": "<Figure>"}}]}}}


def test_widgets_are_drawn_from_their_saved_state_and_nothing_is_left_empty():
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "v", "version_major": 2}, "text/plain": "VBox(…)"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("w", outputs=[_output(data=view)])])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": _scrubber_state()}}
    drawn = static_widgets(json.loads(nbformat.writes(nb)))
    assert "widgets" not in drawn["metadata"]
    html = drawn["cells"][0]["outputs"][0]["data"]["text/html"]
    assert html.count(f"data:image/png;base64,{PNG}") == 2  # the frame and the figure in the Output widget
    assert 'type="range" min="0" max="16" step="1" value="3" disabled' in html and "frame 3 / 16 &lt;b&gt;" in html
    assert page_problems(html) == []

    broken = json.loads(nbformat.writes(nb))
    broken["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]["i"]["buffers"] = []
    with pytest.raises(ValueError, match="image widget i has no saved picture"):
        static_widgets(broken)
    unknown = json.loads(nbformat.writes(nb))
    state = unknown["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]
    state["state"]["s"]["model_name"] = "ColorPickerModel"
    with pytest.raises(ValueError, match="no static drawing for widget ColorPickerModel"):
        static_widgets(unknown)
    state["state"]["s"] = {"model_name": "ButtonModel", "state": {"description": "generate"}}  # chapter 07's
    button = static_widgets(unknown)["cells"][0]["outputs"][0]["data"]["text/html"]
    assert '<button class="humo-widget-button" disabled>generate</button>' in button
    state["state"] = {}
    with pytest.raises(ValueError, match="has no saved state"):
        static_widgets(unknown)


def test_site_builds_pages_with_figures_and_sound_and_keeps_them_when_a_chapter_fails(tmp_path):
    chapters, out = tmp_path / "notebooks", tmp_path / "site"
    chapters.mkdir()
    _notebook(chapters / "01_tiny.ipynb", "Chapter 01 — Tiny", FIGURE_AND_SOUND, "Next: [02](02_broken.ipynb)")
    _notebook(chapters / "02_broken.ipynb", "Chapter 02 — Broken", "1 / 0")

    index = build_site(chapter_notebooks(["01"], chapters), out, smoke=True, progress=False)
    page = (out / "01_tiny.html").read_text()
    assert page.count("data:image/png;base64") >= 1 and "<audio" in page  # figure and player inside the page
    assert 'href="02_broken.html"' in page and 'class="humo-smoke-banner"' in page
    assert "injected-parameters" not in page
    assert 'SMOKE</span> <span class="o">=</span> <span class="kc">True' in page  # what ran, shown once
    assert page.count("RESULTS_PATH") == 2 and str(tmp_path) not in page  # the parameters cell, and the last cell
    assert json.loads((out / "results" / "01_tiny.json").read_text()) == {"smoke": True}  # run with SMOKE set
    front = index.read_text()
    assert 'href="01_tiny.html">Chapter 01 — Tiny</a>' in front and "<td>smoke</td>" in front and " kB</td>" in front

    with pytest.raises(ChapterFailed, match=r"chapter 02_broken failed at cell \[3\]: ZeroDivisionError"):
        build_site(chapter_notebooks(None, chapters), out, smoke=True, progress=False)  # [1], [2]: the parameters
    assert not (out / "02_broken.html").exists() and (out / "failed" / "02_broken.ipynb").is_file()
    assert "01_tiny.html" in index.read_text()  # the chapter built before stays listed
    assert set(json.loads((out / "site.json").read_text())) == {"01_tiny"}
    assert "(last chapter)" in (out / "01_tiny.html").read_text()  # no link to 02, whose page is not there


def test_navigation_links_only_the_pages_built(tmp_path):
    chapters, out = tmp_path / "notebooks", tmp_path / "site"
    chapters.mkdir()
    for n in ("01", "02", "03"):
        _notebook(chapters / f"{n}_c.ipynb", f"Chapter {n} — C", "1")
    build_site(chapter_notebooks(["01"], chapters), out, smoke=True, progress=False)
    assert "(last chapter)" in (out / "01_c.html").read_text()
    build_site(chapter_notebooks(["03"], chapters), out, smoke=True, progress=False)  # 02 skipped: 01 <-> 03
    first, third = (out / "01_c.html").read_text(), (out / "03_c.html").read_text()
    assert first.count('href="03_c.html">Chapter 03 — C &rarr;') == 2 and "02_c.html" not in first
    assert third.count('href="01_c.html">&larr; Chapter 01 — C') == 2 and "(last chapter)" in third


def test_a_page_that_does_not_read_stops_the_build(tmp_path):
    chapters, out = tmp_path / "notebooks", tmp_path / "site"
    chapters.mkdir()
    _notebook(chapters / "01_dict.ipynb", "Chapter 01 — Dict", "print({'loss': 0.1580188679245283})")
    with pytest.raises(ChapterFailed, match=r"chapter 01_dict does not read well: cell 2: a raw dict"):
        build_site(chapter_notebooks(None, chapters), out, smoke=True, progress=False)
    assert not (out / "01_dict.html").exists()


def test_site_command_reports_a_bad_chapter_name(capsys):
    assert main(["site", "--chapters", "99", "--out", "unused"]) == 2
    assert "no chapter starts with ['99']" in capsys.readouterr().err
