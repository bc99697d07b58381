"""The package explains itself: every citation points into ``docs/``, to a file and a section that exist.

Code, notebooks, the README and the docs cite the project's own notes as ``docs/paper_notes.md §3.3`` or
``docs/design.md §6``. This test reads every such citation and fails on a file or a section that does not
exist, and on any pointer outside the repository (the notes it was written from are not shipped).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITATION = re.compile(r"(?:docs/)?(paper_notes|design)\.md")
SECTION = re.compile(r"^[`'\")\]]*\s*(?:,|and|–|-|—)?\s*§\s*(\d+(?:\.\d+)?)")
OUTSIDE = re.compile(r"DESIGN\s*§|reference notes|shared/reference|humo_paper_facts|\.\./shared")


def sources() -> dict[str, str]:
    """Every text a user reads: library and scripts, notebooks (cell by cell), README and docs."""
    texts = {}
    for pattern in ("humo_lite/**/*.py", "scripts/*.py", "benchmarks/*.py", "tests/*.py", "*.md", "docs/*.md",
                    "data_samples/*.md"):
        for path in ROOT.glob(pattern):
            if path.name != "test_docs.py":
                texts[str(path.relative_to(ROOT))] = path.read_text()
    for path in ROOT.glob("notebooks/**/*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        texts[str(path.relative_to(ROOT))] = "\n".join("".join(cell["source"]) for cell in cells)
    return texts


def headings(doc: Path) -> set[str]:
    """The section numbers a markdown file has: "3" for "## 3. Title", "3.3" for "### 3.3 Title"."""
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)[. ]", doc.read_text(), re.M))


def broken_citations(name: str, text: str) -> list[str]:
    """Citations in ``text`` whose file or section does not exist, as readable lines."""
    problems = []
    for match in CITATION.finditer(text):
        doc = ROOT / "docs" / f"{match.group(1)}.md"
        line = text.count("\n", 0, match.start()) + 1
        if not doc.is_file():
            problems.append(f"{name}:{line}: {doc.name} does not exist")
            continue
        rest, sections = text[match.end():], []
        while found := SECTION.match(rest):
            sections.append(found.group(1))
            rest = rest[found.end():]
        problems += [f"{name}:{line}: {doc.name} has no §{s}" for s in sections if s not in headings(doc)]
    return problems


def test_every_citation_points_to_a_section_that_exists():
    problems = [p for name, text in sources().items() for p in broken_citations(name, text)]
    assert problems == []


def test_nothing_points_outside_the_repository():
    hits = [f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}"
            for name, text in sources().items() for m in OUTSIDE.finditer(text)]
    assert hits == []


def test_the_citations_are_really_read():
    """The checks can fail: a missing section, a missing file, a pointer outside; and real citations exist."""
    assert broken_citations("x", "see `docs/paper_notes.md` §3.3 and §99") == ["x:1: paper_notes.md has no §99"]
    assert broken_citations("x", "``docs/design.md`` §6, §10.2") == ["x:1: design.md has no §10.2"]
    assert broken_citations("x", "docs/paper_notes.md §5–§6") == []
    assert OUTSIDE.search("see reference notes §1.3") and OUTSIDE.search("DESIGN §9")
    cited = sum(len(CITATION.findall(text)) for name, text in sources().items() if name.startswith("humo_lite"))
    assert cited >= 20, cited  # the library does cite its notes


def test_docs_link_to_each_other_and_the_readme_links_to_them():
    readme = (ROOT / "README.md").read_text()
    assert "docs/paper_notes.md" in readme and "docs/design.md" in readme
    for doc in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / target).is_file(), f"{doc.name} links to {target}, which does not exist"


def test_the_vae_numbers_design_quotes_are_its_manifests():
    """docs/design.md §6 quotes the shipped humo-micro VAE's mouth check: each number must be what its manifest
    gives, at the precision quoted (a re-shipped VAE with other numbers fails until the text follows)."""
    import json
    import re

    from humo_lite.shipped import default_checkpoint

    check = json.loads((default_checkpoint("humo-micro") / "vae" / "manifest.json").read_text())["mouth_check"]
    rows = check["rows"]
    text = " ".join((ROOT / "docs" / "design.md").read_text().split())
    quoted = re.search(r"manifest's `mouth_check`: Sync-C ([\d.]+)×, Sync-D ([\d.]+)×, offset ([\d.]+), r ([\d.]+), "
                       r"PSNR ([\d.]+) dB\)", text)
    alone = re.search(r"each frame alone, as an image, already reaches ([\d.]+)× real's", text)
    assert quoted and alone, "docs/design.md §6 no longer quotes the VAE's mouth check in the form this test reads"
    measured = [rows["reconstruction"]["Sync-C-lite"] / rows["real"]["Sync-C-lite"],
                rows["reconstruction"]["Sync-D-lite"] / rows["real"]["Sync-D-lite"],
                rows["reconstruction"]["Sync-|offset|"], rows["reconstruction"]["r_within_clip"], check["psnr_db"],
                rows["each frame reconstructed alone"]["Sync-D-lite"] / rows["real"]["Sync-D-lite"]]
    for text_value, value in zip([*quoted.groups(), alone.group(1)], measured, strict=True):
        decimals = len(text_value.split(".")[1]) if "." in text_value else 0
        assert round(value, decimals) == float(text_value), (text_value, value)
