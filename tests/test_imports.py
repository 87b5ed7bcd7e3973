"""The package's import graph, read from its source: no cycle (function-level imports count), no
module importing another module's private name, no module over the size limit."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "augcli"
MAX_LINES = 450
# private names imported across modules (the seeding binding): listed so that no new one appears
KNOWN_PRIVATE = {("augcli.seeding", "augcli.kernels._seed")}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _base(module: str, path: Path, level: int) -> str:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def imports(modules: dict[str, Path]) -> dict[str, set[tuple[str, str | None, int]]]:
    """module -> {(imported module, name taken from it or None, line)}, at any depth of the file."""
    graph: dict[str, set[tuple[str, str | None, int]]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "augcli":
                        graph[module].add((alias.name, None, node.lineno))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = _base(module, path, node.level)
                    target = f"{base}.{node.module}" if node.module else base
                elif (node.module or "").split(".")[0] == "augcli":
                    target = node.module
                else:
                    continue
                for alias in node.names:
                    if f"{target}.{alias.name}" in modules:  # a submodule
                        graph[module].add((f"{target}.{alias.name}", None, node.lineno))
                    else:
                        graph[module].add((target, alias.name, node.lineno))
    return graph


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    modules = _modules()
    edges = {m: {t for t, _, _ in targets if t in modules and t != m} for m, targets in imports(modules).items()}
    assert _cycles(edges) == []


def test_no_module_imports_another_modules_private_name():
    modules = _modules()
    bad = []
    for module, targets in imports(modules).items():
        for target, name, line in targets:
            if (module, target) in KNOWN_PRIVATE or target == module:  # a package's own C bindings
                continue
            if target not in modules and target.rpartition(".")[0] in (module, module.rpartition(".")[0]):
                continue  # a C extension module of the importer's own package (kernels/filters.py: _pixel)
            private_module = any(p.startswith("_") and p != "__init__" for p in target.split(".")[1:])
            if private_module:
                bad.append(f"{module}:{line} imports {target}")
            if name is not None and name.startswith("_") and not name.startswith("__"):
                bad.append(f"{module}:{line} imports {target}.{name}")
    assert bad == []


def private_attributes(modules: dict[str, Path]) -> list[str]:
    """``alias._name`` where ``alias`` is another augcli module bound by an import (``from . import
    model as L`` then ``L._inverse``): a private name reached across modules all the same."""
    bad = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = _base(module, path, node.level) if node.level else node.module or ""
                for alias in node.names:
                    target = f"{base}.{node.module}.{alias.name}" if node.level and node.module else f"{base}.{alias.name}"
                    if target in modules and target != module:
                        aliases[alias.asname or alias.name] = target
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in modules and alias.name != module:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                bad.append(f"{module}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return bad


def test_no_module_reaches_another_modules_private_name_through_its_alias():
    assert private_attributes(_modules()) == []


def test_no_module_is_over_the_size_limit():
    over = {m: n for m, p in _modules().items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert over == {}


def test_the_checks_see_a_cycle_and_a_private_import(tmp_path):
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    pkg = tmp_path / "augcli"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "x.py").write_text("def f():\n    from .y import _hidden\n")
    (pkg / "y.py").write_text("from . import x\n_hidden = 1\n")
    mods = {"augcli": pkg / "__init__.py", "augcli.x": pkg / "x.py", "augcli.y": pkg / "y.py"}
    graph = imports(mods)
    assert ("augcli.y", "_hidden", 2) in graph["augcli.x"]
    (pkg / "z.py").write_text("from . import y as Y\n\n\ndef g():\n    return Y._hidden\n")
    assert private_attributes({**mods, "augcli.z": pkg / "z.py"}) == ["augcli.z:5 uses augcli.y._hidden"]
    assert _cycles({m: {t for t, _, _ in ts if t in mods and t != m} for m, ts in graph.items()}) == [["augcli.x", "augcli.y"]]
