"""`poller get` / `poller walk`: how the target is read from the command line or a fleet file, and
what reaches stdout/stderr, with the fake answering at the Requester seam (no sockets)."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest

from poller import cli
from poller.commands import get_walk as oneshot
from poller.errors import ConfigError
from poller.oid import Oid
from poller.snmp.fake import FakeAgent, FakeRequester
from poller.snmp.types import Kind
from tests.ports import free_udp_port

O = Oid.parse
AGENT = {
    O("1.3.6.1.2.1.1.3.0"): (Kind.TIMETICKS, 16052379),
    O("1.3.6.1.2.1.1.5.0"): (Kind.OCTETS, b"core-sw1"),
    O("1.3.6.1.2.1.2.2.1.2.1"): (Kind.OCTETS, b"eth0"),
    O("1.3.6.1.2.1.2.2.1.2.2"): (Kind.OCTETS, b"eth1"),
    O("1.3.6.1.2.1.2.2.1.6.1"): (Kind.OCTETS, b"\x00\x1a\x2b\x3c\x4d\x5e"),
    O("1.3.6.1.2.1.31.1.1.1.6.1"): (Kind.COUNTER64, 2**64 - 1),
}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("127.0.0.1", ("127.0.0.1", 161)),
        ("127.0.0.1:16101", ("127.0.0.1", 16101)),
        ("localhost:1", ("localhost", 1)),
        ("[::1]:16101", ("::1", 16101)),
        ("[::1]", ("::1", 161)),
        ("::1", ("::1", 161)),
    ],
)
def test_addresses_like_net_snmp_accepts_them(text: str, expected: tuple[str, int]) -> None:
    assert oneshot._split_address(text) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:x", "host:0", "host:65536", "[::1]:", ":161"])
def test_bad_addresses_are_config_errors_naming_the_text(text: str) -> None:
    with pytest.raises(ConfigError, match="not a target"):
        oneshot._split_address(text)


def parse(*argv: str) -> argparse.Namespace:
    args, extra = cli.build_parser().parse_known_args(list(argv))
    assert not extra
    return args


def test_command_line_options_make_the_target_and_the_community_stays_hidden() -> None:
    args = parse("get", "-v", "1", "-c", "n0t-public", "-t", "0.5", "-r", "3",
                 "--max-repetitions", "7", "[::1]:1161", "1.3.6.1.2.1.1.3.0")
    target = oneshot.target_from(args)
    assert (target.host, target.port, target.timeout_s, target.retries) == ("::1", 1161, 0.5, 3)
    assert target.max_repetitions == 7 and target.credential.version == "1"
    assert target.credential.community.reveal() == "n0t-public"
    assert "n0t-public" not in repr(target) and "n0t-public" not in str(target)


FLEET = """
[credentials.lab]
community = "fleet-s3cret"
version = "1"

[[devices]]
name = "core-sw1"
host = "127.0.0.1"
port = 16101
credential = "lab"
timeout = "500ms"
"""


def test_a_fleet_device_gives_its_address_and_credential(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(FLEET)
    target = oneshot.target_from(parse("walk", "--config", str(fleet), "core-sw1"))
    assert (target.name, target.host, target.port, target.timeout_s) == (
        "core-sw1", "127.0.0.1", 16101, 0.5)
    assert target.credential.version == "1"
    assert target.credential.community.reveal() == "fleet-s3cret"


def test_an_unknown_fleet_device_is_one_line_naming_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(FLEET)
    assert cli.main(["get", "--config", str(fleet), "core-sw9", "sysUpTime.0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no device named 'core-sw9'" in err and "core-sw1" in err


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRequester:
    requester = FakeRequester({"127.0.0.1": FakeAgent(AGENT)})
    monkeypatch.setattr(oneshot, "make_requester", lambda engine: requester)
    return requester


def test_get_prints_net_snmp_lines_in_the_order_asked(
    fake: FakeRequester, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["get", "127.0.0.1", "sysName.0", "1.3.6.1.2.1.1.3.0", ".1.3.6.1.2.1.1.9.0"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        '.1.3.6.1.2.1.1.5.0 = STRING: "core-sw1"',
        ".1.3.6.1.2.1.1.3.0 = Timeticks: (16052379) 1 day, 20:35:23.79",
        ".1.3.6.1.2.1.1.9.0 = No Such Instance currently exists at this OID",
    ]
    assert [call[0] for call in fake.calls] == ["get"] and fake.closed


def test_walk_json_keeps_each_root_in_order_and_counter64_exact(
    fake: FakeRequester, capsys: pytest.CaptureFixture[str]
) -> None:
    roots = ["1.3.6.1.2.1.31.1.1.1.6", "ifDescr", "ifPhysAddress"]
    assert cli.main(["walk", "--json", "127.0.0.1", *roots]) == 0
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        {"oid": "1.3.6.1.2.1.31.1.1.1.6.1", "type": "Counter64", "value": 2**64 - 1},
        {"oid": "1.3.6.1.2.1.2.2.1.2.1", "type": "OctetString", "hex": "65746830", "value": "eth0"},
        {"oid": "1.3.6.1.2.1.2.2.1.2.2", "type": "OctetString", "hex": "65746831", "value": "eth1"},
        {"oid": "1.3.6.1.2.1.2.2.1.6.1", "type": "OctetString", "hex": "001a2b3c4d5e"},
    ]
    assert {call[0] for call in fake.calls} == {"get_bulk"}
    assert all(call[3] == 25 for call in fake.calls)


def test_walk_v1_uses_getnext_and_without_oids_walks_mib_2(
    fake: FakeRequester, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.agents["127.0.0.1"].v1 = True
    assert cli.main(["walk", "-v", "1", "127.0.0.1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" = ")[0] for line in out] == ["." + str(oid) for oid in sorted(AGENT)]
    assert {call[0] for call in fake.calls} == {"get_next"}
    assert fake.calls[0][2] == (O(oneshot.DEFAULT_WALK_ROOT),)


def test_a_dead_agent_is_one_timeout_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    # a real silent port on loopback, through the real engine: nothing answers there
    silent = f"127.0.0.1:{free_udp_port()}"
    assert cli.main(["get", "-c", "hidden-c0mm", "-t", "0.2", "-r", "0", silent, "sysUpTime.0"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("poller: timeout: no response from 127.0.0.1")
    assert captured.err.count("\n") == 1 and "hidden-c0mm" not in captured.err
