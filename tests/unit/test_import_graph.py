"""No import circle inside the library (issue 20: artifact -> classifier / data -> artifact, hidden
by imports deferred into functions). Read from the sources, so an import inside a function
counts as much as one at the top: the graph of every `savs` module's imports of the others
must have no cycle, with or without the deferred ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SAVS = ROOT / "savs"
TEMPLATE = SAVS / "space_template"  # the exported Space's app: copied, never imported by savs


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SAVS.rglob("*.py")) if TEMPLATE not in p.parents}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(name: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The savs modules an import statement in module `name` loads."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        package = name if MODULES[name].name == "__init__.py" else name.rsplit(".", 1)[0]
        base = package.split(".")
        if node.level:
            base = base[: len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        # `from . import x` loads the submodule x when there is one
        targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
    found = []
    for target in targets:
        while target and target not in MODULES:  # a name inside a module: the module
            target = target.rpartition(".")[0]
        # every module imports the root package first; its __init__ is not an edge
        if target and target != "savs" and target != name:
            found.append(target)
    return found


def imports_of(name: str, deferred: bool) -> set[str]:
    """The savs modules module `name` imports, at module level only or also inside functions.
    Imports under `if TYPE_CHECKING:` never run, so they are left out."""
    edges: set[str] = set()
    pending = [(node, False) for node in ast.parse(MODULES[name].read_text("utf-8")).body]
    while pending:
        node, in_function = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            continue
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        if isinstance(node, ast.Import | ast.ImportFrom) and (deferred or not inner):
            edges.update(_imported(name, node))
        pending.extend((child, inner) for child in ast.iter_child_nodes(node))
    # importing a.b.c first imports its packages a.b (their __init__ runs)
    for target in list(edges):
        parent = target.rpartition(".")[0]
        while parent and parent != "savs":
            if not name.startswith(parent):
                edges.add(parent)
            parent = parent.rpartition(".")[0]
    return edges


def import_graph(deferred: bool) -> dict[str, set[str]]:
    """{module: the savs modules it imports} (`imports_of`)."""
    return {name: imports_of(name, deferred) for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle as [a, b, ..., a], or [] when there is none (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def test_the_graph_reader_sees_a_deferred_circle():
    """The check itself: a deferred import that closes a circle is found."""
    graph = {"savs.a": {"savs.b"}, "savs.b": {"savs.c"}, "savs.c": {"savs.a"}, "savs.d": set()}
    assert find_cycle(graph) == ["savs.a", "savs.b", "savs.c", "savs.a"]
    assert find_cycle({"savs.a": {"savs.b"}, "savs.b": set()}) == []
    edges = import_graph(deferred=True)
    assert "savs.artifact" in edges["savs.classifier"]  # top-level: classifier saves through it
    assert "savs.models.registry" in edges["savs.__main__"]  # deferred, inside a function
    assert "savs.models" in edges["savs.activations"]  # savs.models.adapter loads its package


@pytest.mark.parametrize("deferred", [False, True], ids=["module level", "with deferred"])
def test_no_savs_module_imports_itself_round_a_circle(deferred):
    cycle = find_cycle(import_graph(deferred))
    assert cycle == [], " -> ".join(cycle)


def test_artifact_and_data_stand_below_the_classifier():
    """The circle of issue 20: savs.artifact and savs.data need only savs.types for the
    classifier's types; savs.classifier imports them."""
    graph = import_graph(deferred=True)
    below = {"savs.artifact", "savs.data", "savs.types", "savs.heads"}
    for name in below:
        assert "savs.classifier" not in graph[name], name
    assert graph["savs.types"] == set()
