"""Imports run one way: no module reaches itself again, and no layer imports from a layer above it.

The walk reads every ``import`` statement in ``humo_lite`` — at module level and inside functions — with
the ``ast`` module, so an import hidden in a function body counts as much as one at the top. The order
of the layers is ``docs/design.md`` §10's.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "humo_lite"

LAYERS = [  # bottom to top; a module may import from its own layer and the ones before it
    ("foundations", ("humo_lite", "humo_lite.presets", "humo_lite.layouts", "humo_lite.flow_matching",
                     "humo_lite.shipped")),
    ("data", ("humo_lite.io", "humo_lite.data")),
    ("models", ("humo_lite.models",)),
    ("training", ("humo_lite.training", "humo_lite.guidance")),
    ("eval", ("humo_lite.eval",)),
    ("viz", ("humo_lite.viz",)),
    ("top", ("humo_lite.pipeline", "humo_lite.long_video", "humo_lite.recipes", "humo_lite.ablations",
             "humo_lite.stage2_ablations", "humo_lite.table3", "humo_lite.demo",
             "humo_lite.ship", "humo_lite.site", "humo_lite.reproduce", "humo_lite.reproduce_ablations",
             "humo_lite.reproduce_spread",
             "humo_lite.cli")),
]


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its ``__init__``)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("humo_lite", *path.relative_to(PACKAGE).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's own modules that ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # "from pkg import mod" imports the module pkg.mod; "from mod import name" imports mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A path ``a → b → … → a`` through ``graph``, or None (depth-first search with colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer_of(name: str) -> int:
    """Index in ``LAYERS`` of the most specific prefix that names ``name``'s layer."""
    matches = [(len(prefix), i) for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if name == prefix or name.startswith(prefix + ".")]
    if not matches:
        raise AssertionError(f"{name} has no layer: add it to LAYERS here and to docs/design.md §10")
    return max(matches)[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every edge that goes from a layer to one above it, as readable lines."""
    return [f"{src} ({LAYERS[layer_of(src)][0]}) imports {dst} ({LAYERS[layer_of(dst)][0]})"
            for src, targets in sorted(graph.items()) for dst in sorted(targets) if layer_of(dst) > layer_of(src)]


def test_the_walk_sees_imports_inside_functions():
    graph = import_graph()
    assert "humo_lite.eval.judge" in graph["humo_lite.eval.metrics"]  # module level
    assert "humo_lite.recipes" in graph["humo_lite.cli"]  # inside cmd_train_stage0 only
    assert "humo_lite.data.audio" in graph["humo_lite.io"]  # inside write_wav only


def test_no_module_reaches_itself_again():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_layer_imports_from_a_layer_above_it():
    assert upward_imports(import_graph()) == []


def test_the_checks_can_fail():
    """Each check, on a small made-up graph that breaks it."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    # the cycle this walk found before the judge was split: judge -> metrics (validate_judge) -> judge
    assert find_cycle({"humo_lite.eval.judge": {"humo_lite.eval.metrics"},
                       "humo_lite.eval.metrics": {"humo_lite.eval.judge"}}) is not None
    # and the upward import the stage-0 recipe used to make from training into the pipeline and the judge
    assert len(upward_imports({"humo_lite.training.stage0": {"humo_lite.pipeline", "humo_lite.eval.judge"}})) == 2
