"""The rendered chapters (``humo-lite site``): executed, turned into self-contained pages, listed in an index."""

import json

import nbformat
import pytest

from humo_lite.cli import main
from humo_lite.site import NOTEBOOKS_DIR, ChapterFailed, build_site, chapter_html, chapter_notebooks

PARAMETERS = 'SMOKE = False\nRESULTS_PATH = "results/x.json"'
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


def _notebook(path, title, code, link=""):
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}\n\n{link}"), params,
                                         nbformat.v4.new_code_cell(code)])
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


def test_links_between_chapters_point_at_their_pages(tmp_path):
    path = _notebook(tmp_path / "01_a.ipynb", "Chapter 01", "1", "[next](02_b.ipynb#top), [paper](other.ipynb)")
    page = chapter_html(path, ["01_a", "02_b"])
    assert 'href="02_b.html#top"' in page and 'href="other.ipynb"' in page  # only the site's own chapters


def test_site_builds_pages_with_figures_and_sound_and_keeps_them_when_a_chapter_fails(tmp_path):
    chapters, out = tmp_path / "notebooks", tmp_path / "site"
    chapters.mkdir()
    _notebook(chapters / "01_tiny.ipynb", "Chapter 01 — Tiny", FIGURE_AND_SOUND, "Next: [02](02_broken.ipynb)")
    _notebook(chapters / "02_broken.ipynb", "Chapter 02 — Broken", "1 / 0")

    index = build_site(chapter_notebooks(["01"], chapters), out, smoke=True, progress=False)
    page = (out / "01_tiny.html").read_text()
    assert page.count("data:image/png;base64") >= 1 and "<audio" in page  # figure and player inside the page
    assert 'href="02_broken.html"' in page
    assert json.loads((out / "results" / "01_tiny.json").read_text()) == {"smoke": True}  # run with SMOKE set
    front = index.read_text()
    assert 'href="01_tiny.html">Chapter 01 — Tiny</a>' in front and "<td>smoke</td>" in front

    with pytest.raises(ChapterFailed, match=r"chapter 02_broken failed at cell \[3\]: ZeroDivisionError"):
        build_site(chapter_notebooks(None, chapters), out, smoke=True, progress=False)  # [1], [2]: the parameters
    assert not (out / "02_broken.html").exists() and (out / "failed" / "02_broken.ipynb").is_file()
    assert "01_tiny.html" in index.read_text()  # the chapter built before stays listed
    assert set(json.loads((out / "site.json").read_text())) == {"01_tiny"}


def test_site_command_reports_a_bad_chapter_name(capsys):
    assert main(["site", "--chapters", "99", "--out", "unused"]) == 2
    assert "no chapter starts with ['99']" in capsys.readouterr().err
