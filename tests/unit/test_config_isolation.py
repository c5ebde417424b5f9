"""Each Config carries the MIB names it was loaded with: two fleet files with different [mibs]
load side by side in one process, each resolving its own names, and a load that fails changes
nothing any earlier Config sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from poller.config.load import load_config
from poller.config.model import Config
from poller.errors import ConfigError
from poller.mib.names import STANDARD

DATA = Path(__file__).resolve().parents[1] / "data" / "mibs"
SOURCE = (DATA / "POLLER-TEST-MIB.txt").read_text()
#: the same MIB as another vendor's module: other names, another enterprise number
OTHER = (SOURCE.replace("POLLER-TEST-MIB", "OTHER-TEST-MIB").replace("pollerTestMIB", "otherMIB")
         .replace("ptCpuLoad", "otCpuLoad").replace("ptPort", "otPort")
         .replace("99999", "99998"))


def _fleet(tmp_path: Path, name: str, mib_text: str, column: str) -> Path:
    mibs = tmp_path / f"{name}-mibs"
    mibs.mkdir()
    (mibs / "vendor.my").write_text(mib_text)
    path = tmp_path / f"{name}.toml"
    path.write_text(f'[mibs]\ndirs = ["{mibs.name}"]\ncache = "{name}-cache"\n'
                    '[credentials.public]\ncommunity = "public"\n'
                    f'[[profiles.vendor.tables]]\nname = "ports"\ncolumns = ["{column}"]\n'
                    '[[devices]]\nname = "d"\nhost = "127.0.0.1"\nprofiles = ["vendor"]\n')
    return path


def _knows(config: Config, name: str) -> bool:
    try:
        config.mibs.resolve(name)
    except ValueError:
        return False
    return True


def test_two_configs_with_different_mibs_side_by_side(tmp_path: Path) -> None:
    first = load_config(_fleet(tmp_path, "first", SOURCE, "ptPortBytes"))
    second = load_config(_fleet(tmp_path, "second", OTHER, "otPortBytes"))
    assert _knows(first, "ptPortBytes") and not _knows(first, "otPortBytes")
    assert _knows(second, "otPortBytes") and not _knows(second, "ptPortBytes")
    assert str(first.mibs.resolve("ptCpuLoad.0")[1]) == "1.3.6.1.4.1.99999.1.0"
    assert str(second.mibs.resolve("otCpuLoad.0")[1]) == "1.3.6.1.4.1.99998.1.0"
    # what the loader derived from the names stays with each Config's columns and tables
    (ports,) = first.devices[0].tables
    assert ports.index_parts is not None and ports.index_parts[0].name == "ptPortName"
    (other_ports,) = second.devices[0].tables
    assert other_ports.index_parts is not None and other_ports.index_parts[0].name == "otPortName"
    # and the standard names, which a file without [mibs] gets, know neither vendor
    assert STANDARD.lookup("ptPortBytes") is None and STANDARD.lookup("otPortBytes") is None


def test_a_failed_load_leaves_an_earlier_config_as_it_was(tmp_path: Path) -> None:
    first = load_config(_fleet(tmp_path, "first", SOURCE, "ptPortBytes"))
    before = (first.mibs.names(), first.devices)
    # [mibs] is read and compiled, then a profile names what no MIB defines
    broken = _fleet(tmp_path, "broken", OTHER, "otPortByte")
    with pytest.raises(ConfigError, match="unknown name 'otPortByte'"):
        load_config(broken)
    assert (first.mibs.names(), first.devices) == before
    assert _knows(first, "ptPortBytes") and not _knows(first, "otPortBytes")
    assert first.mibs.display_hint("ptPortLabel") == "text"


def test_a_file_without_mibs_after_one_with_them_knows_only_the_standard_names(
        tmp_path: Path) -> None:
    first = load_config(_fleet(tmp_path, "first", SOURCE, "ptPortBytes"))
    plain = tmp_path / "plain.toml"
    plain.write_text('[credentials.public]\ncommunity = "public"\n'
                     '[[devices]]\nname = "d"\nhost = "127.0.0.1"\n')
    assert load_config(plain).mibs is STANDARD
    assert _knows(first, "ptPortBytes")
