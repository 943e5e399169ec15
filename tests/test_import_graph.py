"""No import cycles inside csdclip_cli, counting the imports made inside functions (the lazy
ones) too: a cycle hidden behind a lazy import still ties two modules into one concept."""

from __future__ import annotations

import ast
from pathlib import Path

import csdclip_cli

PACKAGE = Path(csdclip_cli.__file__).parent


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    return ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _imports(tree: ast.Module, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """Modules of `modules` that module `name` imports anywhere but under `if TYPE_CHECKING:`.
    `from pkg import sub` counts as importing pkg.sub when that is a module, else pkg."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) in ("importlib.import_module", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in modules else module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    # importing a.b.c runs a/__init__ and a/b/__init__ first, unless they are this module's own
    # packages (already being initialised when it runs)
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + (2 if is_package else 1))}
    parents = {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}
    return (found | (parents - own)) & modules


def import_graph(root: Path) -> dict[str, set[str]]:
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    modules = set(files)
    return {
        name: _imports(ast.parse(p.read_text()), name, p.name == "__init__.py", modules) - {name}
        for name, p in files.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_csdclip_cli_has_no_import_cycles() -> None:
    graph = import_graph(PACKAGE)
    assert len(graph) > 50  # the walk found the package
    assert cycles(graph) == []


def test_the_walk_finds_a_lazy_cycle_and_ignores_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.a import f\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from . import b\n    return b\n")
    (pkg / "sub" / "b.py").write_text("from pkg.sub import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n")
    (pkg / "d.py").write_text("import pkg.c\n")
    graph = import_graph(pkg)
    assert graph["pkg.sub.a"] == {"pkg.sub.b"}
    assert graph["pkg.c"] == set()
    assert cycles(graph) == [["pkg.sub.a", "pkg.sub.b"]]


def test_the_walk_sees_package_inits_and_import_module(tmp_path: Path) -> None:
    """A cycle through a package's __init__ (x imports pkg.y.z, which runs pkg/y/__init__,
    which imports x) and one written with importlib.import_module are both found."""
    pkg = tmp_path / "pkg"
    (pkg / "y").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "x.py").write_text("from pkg.y.z import f\n")
    (pkg / "y" / "__init__.py").write_text("from pkg.x import f\n")
    (pkg / "y" / "z.py").write_text("def f():\n    pass\n")
    (pkg / "p.py").write_text("def g():\n    import importlib\n    return importlib.import_module('pkg.q')\n")
    (pkg / "q.py").write_text("from pkg import p\n")
    graph = import_graph(pkg)
    assert graph["pkg.x"] == {"pkg.y", "pkg.y.z"} and graph["pkg.y.z"] == set()
    assert sorted(cycles(graph)) == [["pkg.p", "pkg.q"], ["pkg.x", "pkg.y"]]
