"""The package's imports flow one way, down the stages, and never in a circle.

LAYERS is the one place that says which part of `poller` may import which; docs/architecture.md
explains it. Imports inside functions count too (they may defer an import, never hide a circle),
and are allowed only for what DEFERRED names: optional or heavy dependencies loaded on first use.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "poller"

#: the base: modules every stage may import
BASE = {"errors", "oid", "octets", "schema", "__init__"}

#: part -> the parts it may import (besides itself and BASE). A part is a sub-package of poller
#: or a top-level module.
LAYERS: dict[str, set[str]] = {
    "__main__": {"cli"},
    "cli": {"commands", "run", "config", "mib", "output", "history", "web", "cluster"},
    "commands": {"config", "mib", "snmp", "poll", "output", "history", "web"},
    "web": {"config", "history", "output"},
    "cluster": {"config", "output", "poll", "run", "history"},
    "run": {"config", "mib", "snmp", "poll", "output", "history"},
    "history": {"config", "output"},
    "poll": {"config", "mib", "snmp"},
    "output": {"config"},
    "snmp": {"config"},
    "config": {"mib"},
    "mib": set(),
}
LAYERS.update({name: set() for name in BASE})

#: imports inside a function: which targets may be deferred (optional or heavy dependencies), and why
DEFERRED = {
    "pysmi": "compiles operator MIBs; only loaded when a [mibs] source is newer than its cache",
    "cryptography": "SNMPv3 privacy only",
    "poller.snmp.pysnmp_requester": "imports pysnmp, ~0.3 s, only for the pysnmp engine",
    "poller.snmp.udp_requester": "the built-in engine, made on first use by the engine chooser",
    "poller.snmp.usm_builtin": "SNMPv3 on the built-in engine, imports cryptography",
    "rrdtool": "history only ([history] configured)",
    "aiohttp": "poller web only",
    "pygal": "poller web only",
    "redis": "cluster only ([cluster] configured)",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    """The stage a module belongs to: `poller.run.workers.worker` -> `run`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> Iterator[tuple[str, bool, int]]:
    """(imported module, inside a function?, line) for every import of `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node, nested in _walk(tree.body, nested=False):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, nested, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if _is_module(full) else base), nested, node.lineno


def _walk(body: list[ast.stmt], *, nested: bool) -> Iterator[tuple[ast.stmt, bool]]:
    """Every statement with whether it runs later than the module's import (inside a function or
    class). `if TYPE_CHECKING:` blocks count as the module's own level: never run, still a
    dependency."""
    for node in body:
        yield node, nested
        inner = nested or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        for field in ("body", "orelse", "finalbody", "handlers"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                yield from _walk([c for c in children if isinstance(c, ast.stmt | ast.excepthandler)],  # type: ignore[misc]
                                 nested=inner)


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (PACKAGE.parent / relative).with_suffix(".py").exists() or (PACKAGE.parent / relative).is_dir()


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        graph[_module_name(path)] = {name for name, _, _ in _imports(path)
                                     if name.startswith("poller.") and name != "poller"}
    return graph


def test_no_import_circle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                circles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target in graph and not state.get(target):
                visit(target)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if not state.get(module):
            visit(module)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_circle_finder_finds_a_circle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The circle test can fail: two modules that import each other are reported."""
    package = tmp_path / "poller"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from poller import b\n")
    (package / "b.py").write_text("def f():\n    from poller.a import x\n")
    monkeypatch.setitem(globals(), "PACKAGE", package)
    with pytest.raises(AssertionError, match="poller.a -> poller.b -> poller.a"):
        test_no_import_circle()


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_down_the_stages(path: Path) -> None:
    source = _module_name(path)
    part = _part(source) if "." in source else "__init__"
    allowed = LAYERS[part] | BASE | {part}
    for name, nested, line in _imports(path):
        if name.startswith("poller.") or name == "poller":
            target = _part(name) if name != "poller" else "__init__"
            assert target in allowed, f"{path.relative_to(PACKAGE)}:{line}: {part} may not import {name}"
        if nested:
            root = name if name.startswith("poller.") else name.split(".")[0]
            assert root in DEFERRED, (
                f"{path.relative_to(PACKAGE)}:{line}: import of {name} inside a function "
                "(only DEFERRED dependencies may be imported late)")


def test_every_part_has_its_layer() -> None:
    parts = {_part(_module_name(p)) for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.stem != "__init__"}
    assert parts <= LAYERS.keys(), f"parts without a layer in LAYERS: {sorted(parts - LAYERS.keys())}"


def _longest_functions(count: int) -> list[tuple[int, str]]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                found.append((node.end_lineno - node.lineno + 1, node.name))
    return sorted(found, reverse=True)[:count]


def test_the_ten_longest_functions_are_the_ones_the_architecture_explains() -> None:
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    section = text.split("## The longest functions")[1].split("\n## ")[0]
    for lines, name in _longest_functions(10):
        assert f"`{name}`" in section, f"{name} ({lines} lines) is not explained there"
