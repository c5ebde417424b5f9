"""The wheel as an operator installs it: built from the sources, installed into a fresh venv with
its runtime dependencies from the package index, then `poller check` compiles a vendor MIB that
imports SNMPv2-SMI (supplied by the package's mib/base) and `poller walk` reads snmpd.

The venv is built once per session (~10 s: the dependencies come from pip's cache or the index)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import SNMPD_COMMUNITY, Agent

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "mibs"
#: what the package holds besides its modules, and must ship
PACKAGE_DATA = ("poller/mib/standard.json",
                *(f"poller/mib/base/{p.name}" for p in (ROOT / "poller/mib/base").iterdir()))


def _run(argv: list[str | Path], cwd: Path, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    # nothing from this checkout on the path: the installed package alone answers
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([str(arg) for arg in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout_s, check=False)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built by pip from a copy of the sources (the build leaves build/ and
    *.egg-info behind, which stay out of the checkout)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "poller", source / "poller",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist",
                  source], cwd=work)
    assert built.returncode == 0, built.stderr
    (found,) = (work / "dist").glob("poller-*.whl")
    return found


@pytest.fixture(scope="session")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its runtime dependencies installed."""
    path = tmp_path_factory.mktemp("venv") / "venv"
    made = _run([sys.executable, "-m", "venv", path], cwd=path.parent)
    assert made.returncode == 0, made.stderr
    installed = _run([path / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=path.parent)
    assert installed.returncode == 0, installed.stderr
    return path


def test_the_wheel_holds_the_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert len(PACKAGE_DATA) >= 5  # standard.json and the four base modules
    assert [name for name in PACKAGE_DATA if name not in names] == []


def test_the_installed_package_is_the_one_run(venv: Path, tmp_path: Path) -> None:
    done = _run([venv / "bin" / "python", "-c", "import poller; print(poller.__file__)"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(venv)


def test_check_compiles_a_vendor_mib_that_imports_the_base_modules(
    venv: Path, tmp_path: Path
) -> None:
    mibs = tmp_path / "mibs"
    mibs.mkdir()
    shutil.copy(DATA / "POLLER-TEST-MIB.txt", mibs / "vendor.my")
    config = tmp_path / "poller.toml"
    config.write_text(f"""
[output]
directory = "{tmp_path / "records"}"

[mibs]
dirs = ["{mibs}"]
cache = "{tmp_path / "cache"}"

[profiles.vendor]
scalars = ["ptCpuLoad.0"]
[[profiles.vendor.tables]]
name = "ports"
columns = ["POLLER-TEST-MIB::ptPortName", "ptPortBytes"]

[credentials.lab]
community = "x"

[[devices]]
name = "lab1"
host = "127.0.0.1"
credential = "lab"
profiles = ["vendor"]
""")
    config.chmod(0o600)
    done = _run([venv / "bin" / "poller", "check", "--config", config], tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert f"{config}: valid" in done.stdout
    assert list((tmp_path / "cache").iterdir())  # it compiled, into the cache


def test_walk_reads_snmpd(venv: Path, snmpd: Agent, tmp_path: Path) -> None:
    done = _run([venv / "bin" / "poller", "walk", snmpd.address, "-c", SNMPD_COMMUNITY,
                 "1.3.6.1.2.1.1"], tmp_path, timeout_s=30)
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[0].startswith(".1.3.6.1.2.1.1.1.0 = STRING: ")  # sysDescr, as snmpwalk -On
    assert len(lines) > 5
