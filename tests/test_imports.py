"""No import cycles inside the package (#13).

The graph is read from the source with ast, not by importing it: every ``import`` and ``from ...
import`` of a wikicheck module, at module level *and* inside functions and methods (a lazy import
still ties two modules together), except under ``if TYPE_CHECKING:``, which never runs. ``from
pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``. The implicit
import of a parent package (importing ``wikicheck.cli.core`` runs ``wikicheck/cli/__init__.py``
first) is not counted as an edge, as import linters do not count it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import wikicheck

PACKAGE_DIR = Path(wikicheck.__file__).parent


def module_names(pkg_dir: Path) -> dict[str, tuple[Path, bool]]:
    """{dotted name: (file, is a package __init__)} of every module under `pkg_dir`."""
    out = {}
    for p in sorted(pkg_dir.rglob("*.py")):
        parts = [pkg_dir.name, *p.relative_to(pkg_dir).with_suffix("").parts]
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _targets(module: str, is_pkg: bool, node: ast.Import | ast.ImportFrom, modules: dict) -> set[str]:
    def nearest(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    if isinstance(node, ast.Import):
        found = {nearest(a.name) for a in node.names}
    else:
        if node.level:
            base = module.split(".") if is_pkg else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            pkg = ".".join([*base, *([node.module] if node.module else [])])
        else:
            pkg = node.module or ""
        found = {f"{pkg}.{a.name}" if f"{pkg}.{a.name}" in modules else nearest(pkg) for a in node.names}
    return {m for m in found if m is not None and m != module}


def import_graph(pkg_dir: Path) -> dict[str, set[str]]:
    """{module: the package modules it imports}, function-level imports included."""
    modules = module_names(pkg_dir)
    graph: dict[str, set[str]] = {m: set() for m in modules}

    for module, (path, is_pkg) in modules.items():
        stack: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"), str(path))]
        while stack:
            node = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _type_checking(child):
                    stack.extend(child.orelse)
                elif isinstance(child, (ast.Import, ast.ImportFrom)):
                    graph[module] |= _targets(module, is_pkg, child, modules)
                else:
                    stack.append(child)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE_DIR)
    assert "wikicheck.service" in graph["wikicheck.mcp_server"]  # the graph is read at all
    assert "wikicheck.policy" in graph["wikicheck.config"]
    assert cycles(graph) == []


def test_the_cycle_finder_finds_cycles_through_lazy_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .sub.c import x\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import z\n")
    (pkg / "e.py").write_text("from .d import y\n")
    graph = import_graph(pkg)
    assert graph["pkg.d"] == set()  # only for the type checker
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
