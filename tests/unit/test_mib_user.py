"""An operator's MIB files: compiled once with pysmi into the cache, reused by later loads
without the compiler, recompiled when a file changes; their names, kinds, syntaxes and INDEX
clauses work like the standard ones; bad files fail with one line naming the module."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from poller.config.load import load
from poller.errors import ConfigError
from poller.mib import names as mib
from poller.mib import user as mib_user
from poller.mib.index import decode

DATA = Path(__file__).resolve().parents[1] / "data" / "mibs"


@pytest.fixture
def mib_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "mibs"
    directory.mkdir()
    shutil.copy(DATA / "POLLER-TEST-MIB.txt", directory / "vendor.my")  # name != module name
    return directory


def test_vendor_names_resolve_with_kind_syntax_and_index(mib_dir: Path, tmp_path: Path) -> None:
    loaded = mib_user.load([mib_dir], None, tmp_path / "cache")
    assert "POLLER-TEST-MIB" in loaded.modules
    names = loaded.names
    assert str(names.resolve("POLLER-TEST-MIB::ptCpuLoad.0")[1]) == "1.3.6.1.4.1.99999.1.0"
    assert names.kind_of("ptCpuLoad") == mib.SCALAR and names.kind_of("ptPortBytes") == mib.COLUMN
    bytes_ = names.lookup("ptPortBytes")
    assert bytes_ is not None and bytes_.syntax == "Counter64"
    assert names.display_hint("ptPortLabel") == "text" and names.display_hint("ptPortMac") == "mac"
    parts = names.index_of(names.resolve("ptPortBytes")[1])
    assert parts is not None
    index = (3, *b"ge1", 0, 26, 43, 60, 77, 94)
    assert decode(index, parts) == {"ptPortName": "ge1", "ptPortMac": "00:1a:2b:3c:4d:5e"}
    assert names.name_of(names.resolve("ptPortBytes")[1]) == "ptPortBytes"


def test_second_load_reuses_the_cache_without_compiling(
        mib_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    mib_user.load([mib_dir], None, cache)
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}

    def no_compiler(*_args: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(mib_user, "_compile", no_compiler)
    names = mib_user.load([mib_dir], None, cache).names
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps
    assert names.kind_of("ptCpuLoad") == mib.SCALAR


def test_a_changed_file_is_compiled_again(mib_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    mib_user.load([mib_dir], None, cache)
    source = mib_dir / "vendor.my"
    source.write_text(source.read_text().replace("ptCpuLoad", "ptCpuBusy"))
    names = mib_user.load([mib_dir], None, cache).names
    assert names.kind_of("ptCpuBusy") == mib.SCALAR and names.kind_of("ptCpuLoad") is None


def test_a_standard_name_keeps_its_meaning(mib_dir: Path, tmp_path: Path) -> None:
    (mib_dir / "clash.txt").write_text((DATA / "POLLER-TEST-MIB.txt").read_text()
                                       .replace("POLLER-TEST-MIB", "CLASH-MIB")
                                       .replace("ptCpuLoad", "ifName").replace("99999", "99998"))
    names = mib_user.load([mib_dir], None, tmp_path / "cache").names
    assert str(names.resolve("ifName")[1]) == "1.3.6.1.2.1.31.1.1.1.1"
    assert str(names.resolve("CLASH-MIB::ifName.0")[1]) == "1.3.6.1.4.1.99998.1.0"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("FROM SNMPv2-TC;", "FROM SNMPv2-TC\n    Foo FROM VENDOR-TC-MIB;"),
         "module VENDOR-TC-MIB is imported but no file in the MIB dirs defines it"),
        (lambda t: t.replace("::= { pollerTestMIB 1 }", "::= { pollerTestMIB"),
         "cannot compile POLLER-TEST-MIB ("),
    ],
)
def test_bad_files_fail_with_one_line(mib_dir: Path, tmp_path: Path, edit: object,
                                      message: str) -> None:
    source = mib_dir / "vendor.my"
    source.write_text(edit(source.read_text()))  # type: ignore[operator]
    with pytest.raises(mib_user.MibError) as caught:
        mib_user.load([mib_dir], None, tmp_path / "cache")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_module_named_but_not_in_the_dirs(mib_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(mib_user.MibError, match="defines module 'NOPE-MIB'"):
        mib_user.load([mib_dir], ["NOPE-MIB"], tmp_path / "cache")


def _fleet(tmp_path: Path, mibs: str, column: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(f'{mibs}\n[credentials.public]\ncommunity = "public"\n'
                    f'[[profiles.vendor.tables]]\nname = "ports"\ncolumns = ["{column}"]\n'
                    '[[devices]]\nname = "d"\nhost = "127.0.0.1"\nprofiles = ["vendor"]\n')
    return path


def test_the_fleet_file_mibs_section(mib_dir: Path, tmp_path: Path) -> None:
    config = load(_fleet(tmp_path, '[mibs]\ndirs = ["mibs"]\ncache = "cache"', "ptPortBytes"))
    assert str(config.devices[0].tables[0].columns[0].oid) == "1.3.6.1.4.1.99999.2.1.3"
    assert (tmp_path / "cache" / "POLLER-TEST-MIB.json").exists()


@pytest.mark.parametrize(
    "mibs, column, message",
    [
        ("", "ptPortBytes", "unknown name 'ptPortBytes'"),
        ('[mibs]\ndirs = ["mibs"]\ncache = "cache"', "ptPortByte",
         "unknown name 'ptPortByte' (did you mean 'ptPortBytes'?)"),
        ('[mibs]\ndirs = ["nowhere"]', "ifName", "mibs.dirs: "),
        ('[mibs]\ncache = "cache"', "ifName", "mibs.cache: has no effect without mibs.dirs"),
        ('[mibs]\ndirs = ["mibs"]\nmodules = ["NOPE-MIB"]\ncache = "cache"', "ifName",
         "defines module 'NOPE-MIB'"),
        # each message names the key to look at, not always mibs.dirs
        ('[mibs]\ndirs = ["mibs"]\nmodules = ["NOPE-MIB"]\ncache = "cache"', "ifName",
         "mibs.modules: no file in "),
        ('[mibs]\ndirs = ["mibs"]\ncache = "mibs/vendor.my/cache"', "ifName",
         "mibs.cache: cannot write the MIB cache "),
    ],
)
def test_mibs_section_mistakes(mib_dir: Path, tmp_path: Path, mibs: str, column: str,
                               message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(_fleet(tmp_path, mibs, column))
    assert message in str(caught.value) and "\n" not in str(caught.value)
