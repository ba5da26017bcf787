"""No two modules of the project import each other, directly or through others.

The graph is read from the source with `ast`: every `import` and `from … import` of a project
module counts, at module level or inside a function (an import moved into a function to dodge
a cycle at load time still ties the two modules together). An import counts for the module
it names: `from a import b` for `a.b` when that is a module, else for the package `a`. Imports
under `if TYPE_CHECKING:` are left out: they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Cycles the project knows of, each with the change that ends it. The test fails on any
# other, and also once one of these is gone (so the entry is removed with it).
KNOWN_CYCLES = [
    # ended by the engine split
    {"imports.demo", "imports.engine", "imports.tasks"},
]


def project_modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every top-level package of `root` (a folder holding an
    `__init__.py`) and everything under it."""
    modules = {}
    for init in sorted(root.glob("*/__init__.py")):
        for path in sorted(init.parent.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, at any depth, except under `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch in child.orelse:
                yield from _import_nodes(ast.Module(body=[branch], type_ignores=[]))
        else:
            yield from _import_nodes(child)


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that module `name` (at `path`) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:  # relative: `from . import x`, `from ..a import b`
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from a import b` imports the module a.b when there is one, else a name of a.
            targets = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t if t in modules else base for t in targets]
        found.update(t for t in targets if t in modules)
    found.discard(name)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = project_modules(root)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of modules that reach one another (strongly connected components of more
    than one module), by Tarjan's algorithm, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)
    return groups


def describe(group: set[str], graph: dict[str, set[str]]) -> str:
    """One import path around the group, e.g. "a -> b -> a", and its members."""
    first = min(group)
    path, seen = [first], {first}
    while True:
        step = min(t for t in graph[path[-1]] if t in group)
        path.append(step)
        if step in seen:
            break
        seen.add(step)
    return " -> ".join(path[path.index(path[-1]) :]) + f"  (all of: {', '.join(sorted(group))})"


def test_no_module_imports_itself_through_others():
    graph = import_graph(ROOT)
    found = cycles(graph)
    unexpected = [describe(group, graph) for group in found if group not in KNOWN_CYCLES]
    assert not unexpected, "import cycles:\n" + "\n".join(unexpected)
    gone = [sorted(known) for known in KNOWN_CYCLES if known not in found]
    assert not gone, f"cycles listed in KNOWN_CYCLES no longer exist; remove them: {gone}"


def test_the_graph_covers_every_package_and_function_level_imports():
    graph = import_graph(ROOT)
    assert {"imports.engine", "stats.exports", "validation", "connectors.base"} <= set(graph)
    # Imported inside a function: `imports.tasks.seed_demo_history` imports imports.demo.
    assert "imports.demo" in graph["imports.tasks"]
    assert "imports.models" in graph["stats.exports"]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    graph = import_graph(
        write(
            tmp_path,
            {
                "app/__init__.py": "",
                "app/a.py": "from app import b\n",
                "app/b.py": "def f():\n    from app.c import x\n",
                "app/c.py": "import app.a\nx = 1\n",
                "app/d.py": "from app import a\n",  # imports into the cycle, not part of it
                "other/__init__.py": "from .sub import y\n",
                "other/sub.py": "from . import z\ny = 1\n",
                "other/z.py": "from ..app import d\n",
            },
        )
    )
    assert cycles(graph) == [{"app.a", "app.b", "app.c"}]
    assert describe({"app.a", "app.b", "app.c"}, graph).startswith("app.a -> app.b -> app.c")
    assert graph["other"] == {"other.sub"}
    assert graph["other.sub"] == {"other.z"}
    assert graph["other.z"] == {"app.d"}


def test_type_checking_imports_and_outside_modules_do_not_count(tmp_path):
    graph = import_graph(
        write(
            tmp_path,
            {
                "app/__init__.py": "",
                "app/a.py": "import os\nfrom django.db import models\nfrom app import b\n",
                "app/b.py": (
                    "import typing\nfrom typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n    from app import a\nelse:\n    import json\n"
                    "if typing.TYPE_CHECKING:\n    import app.a\n"
                ),
            },
        )
    )
    assert graph == {"app": set(), "app.a": {"app.b"}, "app.b": set()}
    assert cycles(graph) == []
