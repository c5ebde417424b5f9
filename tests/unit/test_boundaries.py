"""Each third-party runtime is imported by one room only (see the architecture's module map)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "poller"

#: top-level import name -> the modules (relative to poller/) allowed to import it
ALLOWED = {
    "pysnmp": ("snmp/",),
    "pyasn1": ("snmp/",),
    "uvloop": ("run/lifecycle.py", "commands/get_walk.py"),
    # the daemon's signals in its one lifecycle; `poller tail`, a foreground command that only
    # Ctrl-C ends, takes SIGINT back when it was inherited ignored
    "signal": ("run/lifecycle.py", "commands/tail.py"),
    "structlog": ("output/",),
    "logging": ("output/",),
    "tomli": ("config/load.py",),
    "redis": ("cluster/",),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_third_party_runtimes_stay_in_their_room(path: Path) -> None:
    relative = str(path.relative_to(PACKAGE))
    for name in _imports(path) & ALLOWED.keys():
        assert relative.startswith(ALLOWED[name]), f"{relative} imports {name}"
