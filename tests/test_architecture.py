"""The structure docs/ARCHITECTURE.md promises: no import circle, no private names across modules, and
the library never imports its plug-ins."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("akd", "baselines")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names imported from it) for every import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for module, names in _imports(path):
            if module in modules:
                edges.add(module)
            edges |= {f"{module}.{n}" for n in names if f"{module}.{n}" in modules}
        graph[name] = edges - {name}
    return graph


def test_no_import_circle_in_the_library():
    graph, state, cycles = _graph(), {}, []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt == "akd.catalog" or node == "akd.catalog":  # the entry points' import of everything
                continue
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_imports_another_modules_private_name():
    private = []
    for pkg in (*PACKAGES, "benchmarks", "analysis"):
        for path in (ROOT / pkg).rglob("*.py"):
            for module, names in _imports(path):
                if module.split(".")[0] in PACKAGES:
                    private += [f"{path.relative_to(ROOT)}: {module}.{n}" for n in names if n.startswith("_")]
    assert not private, private


def test_importing_the_config_imports_no_plugin():
    code = "import sys, akd.config, akd.validation, akd.benchfile\n"
    code += "print([m for m in sys.modules if m.split('.')[0] == 'baselines'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_library_never_imports_a_plugin():
    plugins = {"baselines", "akd.annealing", "akd.tasks.glue", "akd.tasks.movies", "akd.tasks.user"}
    graph = _graph()
    offenders = [
        f"{m} -> {n}"
        for m, edges in graph.items()
        for n in edges
        if m.startswith("akd")
        and m != "akd.catalog"
        and m not in plugins
        and n.split(".")[0] in plugins | {"baselines"}
        and (n in plugins or n.startswith("baselines"))
    ]
    assert not offenders, offenders
