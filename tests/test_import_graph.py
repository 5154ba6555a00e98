"""The package's import graph has no circles, and the low layers stay low.

Every `import` counts: at module level, inside functions (a lazy import is still a dependency) and under
`if TYPE_CHECKING:` (a type is one too). A circle means two modules are one idea split in two, or one of
them reaches up a layer; fix the layering rather than hiding the import in a function.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("multimodal", "ui")


def module_files(packages: tuple[str, ...] = PACKAGES, root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name → file, for every module of `packages`."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The project modules `name` imports anywhere in its file (`from pkg import mod` counts as `pkg.mod`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            edges.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            submodules = {f"{base}.{a.name}" for a in node.names} & modules
            edges.update(submodules)
            if base in modules and len(submodules) < len(node.names):
                edges.add(base)
    edges.discard(name)
    return edges


def import_graph(packages: tuple[str, ...] = PACKAGES, root: Path = ROOT) -> dict[str, set[str]]:
    files = module_files(packages, root)
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return found


def test_the_cycle_finder_sees_a_circle_through_three_modules_and_ignores_a_diamond() -> None:
    circle = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    diamond = {"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}
    assert cycles(circle) == [["a", "b", "c"]]
    assert cycles(diamond) == []


def test_the_walk_counts_lazy_type_only_and_package_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import X\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import c\n")
    (pkg / "c.py").write_text("from . import a\n")
    graph = import_graph(("pkg",), tmp_path)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_the_package_imports_have_no_circles() -> None:
    graph = import_graph()
    assert len(graph) > 50 and graph["multimodal.index"]  # the walk found the package
    assert cycles(graph) == []


def test_ground_modules_depend_on_nothing_above_them() -> None:
    """The codec, the model spec and record identity are leaves (errors aside): anything may use them."""
    graph = import_graph()
    for leaf in ("multimodal.compression", "multimodal.model_spec", "multimodal.records"):
        assert graph[leaf] <= {"multimodal.errors"}, leaf


def test_opening_a_store_module_loads_no_torch() -> None:
    code = ("import sys, multimodal.store, multimodal.model_notes, multimodal.vocabulary; "
            "print(sorted(m for m in ('torch', 'open_clip') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _imports_anything_from(path: Path, top: str) -> bool:
    """Whether the file at `path` imports `top` or a module below it, anywhere in the file."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        if any(n == top or n.startswith(f"{top}.") for n in names):
            return True
    return False


DEV_SCRIPTS = {"ui.screenshot"}  # development scripts inside the packages (they need the dev extra)


def test_development_tools_point_down_only() -> None:
    """tests/ and benchmarks/ share their launchers through multimodal.devtools; the product never imports it
    (ui.screenshot, the README screenshot's development script, is the one user inside the packages), and
    nothing outside tests/ imports from tests/ (a benchmark must run without the test suite)."""
    graph = import_graph()
    users = {m for m, deps in graph.items() if any(d.startswith("multimodal.devtools") for d in deps)}
    assert "ui.screenshot" in users and all(m.startswith("multimodal.devtools") for m in users - DEV_SCRIPTS), users
    assert not any(d == "ui.screenshot" for deps in graph.values() for d in deps)  # and nothing imports it
    assert "multimodal.devtools.ray_cluster" in graph and "multimodal.devtools.chroma_server" in graph
    outside = [p for d in (*PACKAGES, "benchmarks") for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(outside) > 50 and [p for p in outside if _imports_anything_from(p, "tests")] == []
