"""History and the web pages are optional: a daemon whose fleet file has no `[history]` or
`[web]` runs without importing librrd's binding, aiohttp or pygal (they may not even be
installed); with `[history]` it loads librrd, so the check can fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPTIONAL = ("rrdtool", "aiohttp", "pygal")
#: the daemon's own path: the command line, the loader, one round of `poller run --once`
PROGRAM = """
import json, sys
from poller.cli import main
code = main(["run", "--once", "--config", sys.argv[1]])
print(json.dumps({"code": code, "loaded": [m for m in sys.argv[2:] if m in sys.modules]}))
"""


def _fleet(tmp_path: Path, history: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(f"""
[output]
directory = "{tmp_path / "out"}"
{history}
[credentials.public]
community = "public"
[[devices]]
name = "quiet"
host = "127.0.0.1"
port = 9
interval = 2
timeout = 0.3
retries = 0
""")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(("section", "expected"), [
    ("", ()),
    ('[web]\nlisten = "127.0.0.1:8089"\n', ()),
    ('[history]\ndirectory = "rrd"\n', ("rrdtool",)),
])
def test_the_daemon_imports_only_what_its_sections_need(
        tmp_path: Path, section: str, expected: tuple[str, ...]) -> None:
    config = _fleet(tmp_path, section)
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(config), *OPTIONAL],
                          check=False, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0, done.stderr
    assert tuple(result["loaded"]) == expected
