"""The scale fleet's responder (tools/fleet) answers as snmpsim does for the same recording, as
net-snmp's tools read them: same OIDs, types and values (counters and sysUpTime move, so they must
only advance), endOfMibView / noSuchName past the end, GETBULK max-repetitions honoured."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests import agents
from tests.conftest import Agent
from tests.integration.test_oracle import Item, netsnmp_walk
from tests.ports import free_udp_block

#: the recordings checked (the huawei one takes ~10 s to load and adds no new kind of value)
NAMES = ("cisco-c3560", "cisco-n5000", "hpe-procurve-516733-b21", "dlink-des3038")
SUBTREES = ("1.3.6.1.2.1.1", "1.3.6.1.2.1.2", "1.3.6.1.2.1.31.1.1")
COMMUNITY = "fleet-c0mmunity"
MOVING = {"Counter32": 2**32, "Counter64": 2**64, "TimeTicks": 2**32}
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """Device n serves NAMES[n], on consecutive ports."""
    port = free_udp_block(len(NAMES))
    models = [arg for name in NAMES for arg in ("--model", name)]
    stats = tmp_path_factory.mktemp("fleet-stats")
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.fleet", "--devices", str(len(NAMES)), "--base-port",
         str(port), "--community", COMMUNITY, "--stats-dir", str(stats), *models],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ready"), f"fleet did not start: {line!r}"
        yield Agent("127.0.0.1", port, (COMMUNITY,))
    finally:
        agents.stop(process)  # type: ignore[arg-type]


def device(fleet: Agent, name: str) -> Agent:
    return Agent(fleet.host, fleet.port + NAMES.index(name), fleet.communities)


def run(tool: str, agent: Agent, community: str, *args: str) -> list[str]:
    command = [agents.binary(tool), "-c", community, "-On", "-Ox", "-Ot", "-Oe", "-t", "5",
               "-r", "1", *args[:-1], agent.address, *args[-1].split()]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def assert_same_but_moving(recorded: list[Item], served: list[Item], again: list[Item]) -> None:
    """Same OIDs and types; same values except for counters and sysUpTime, which advance."""
    assert [(oid, kind) for oid, kind, _ in served] == [(oid, kind) for oid, kind, _ in recorded]
    assert [(oid, kind) for oid, kind, _ in again] == [(oid, kind) for oid, kind, _ in recorded]
    moved = 0
    for (oid, kind, want), (_, _, first), (_, _, second) in zip(recorded, served, again):
        if kind in MOVING and (kind != "TimeTicks" or oid == SYS_UPTIME):
            step = (second - first) % MOVING[kind]
            assert step < MOVING[kind] // 2, f"{oid} went back: {first} -> {second}"
            moved += step > 0
        else:
            assert first == want, oid
            assert second == want, oid
    if any(kind in ("Counter32", "Counter64") for _, kind, _ in recorded):
        assert moved, "no counter advanced between two walks"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("root", SUBTREES)
def test_walk_matches_snmpsim(snmpsim: Agent, fleet: Agent, name: str, root: str) -> None:
    recorded = netsnmp_walk(snmpsim, name, root)
    served = netsnmp_walk(device(fleet, name), COMMUNITY, root)
    time.sleep(0.05)
    again = netsnmp_walk(device(fleet, name), COMMUNITY, root)
    if root != "1.3.6.1.2.1.31.1.1":
        assert recorded, f"{name} has nothing under {root}: a useless comparison"
    assert_same_but_moving(recorded, served, again)


def _last_oid(agent: Agent, community: str) -> str:
    walked = run("snmpbulkwalk", agent, community, "-v2c", "-Cr50", "1.3.6.1.6")
    lines = [line for line in walked if line.startswith(".")]
    if not lines:
        walked = run("snmpbulkwalk", agent, community, "-v2c", "-Cr50", "1.3.6.1.4.1")
        lines = [line for line in walked if line.startswith(".")]
    return lines[-1].split(" = ")[0]


@pytest.mark.parametrize("version", ["-v1", "-v2c"])
def test_getnext_past_the_end(snmpsim: Agent, fleet: Agent, version: str) -> None:
    """v2c: endOfMibView ("No more variables"); v1: an error, noSuchName, naming the OID."""
    name = "dlink-des3038"
    last = _last_oid(snmpsim, name)
    assert last == _last_oid(device(fleet, name), COMMUNITY)
    expected = run("snmpgetnext", snmpsim, name, version, f"{last} 1.3.6.1.2.1.1.5.0")
    got = run("snmpgetnext", device(fleet, name), COMMUNITY, version, f"{last} 1.3.6.1.2.1.1.5.0")
    assert got == expected
    marker = "No more variables" if version == "-v2c" else "noSuchName"
    assert any(marker in line for line in got), got


@pytest.mark.parametrize("non_repeaters,repetitions", [(0, 1), (1, 7), (2, 30)])
def test_getbulk_honours_max_repetitions(snmpsim: Agent, fleet: Agent, non_repeaters: int,
                                         repetitions: int) -> None:
    name = "cisco-c3560"
    oids = "1.3.6.1.2.1.1.3 1.3.6.1.2.1.2.2.1.2 1.3.6.1.2.1.31.1.1.1.6"
    flags = ("-v2c", f"-Cn{non_repeaters}", f"-Cr{repetitions}", oids)
    expected = _names(run("snmpbulkget", snmpsim, name, *flags))
    got = _names(run("snmpbulkget", device(fleet, name), COMMUNITY, *flags))
    assert len(got) == len(expected) == non_repeaters + (3 - non_repeaters) * repetitions
    assert got == expected


def _names(lines: list[str]) -> list[str]:
    """The OIDs answered (a long Hex-STRING goes on over several lines)."""
    return [line.split(" = ")[0] for line in lines if line.startswith(".")]


@pytest.mark.parametrize("version", ["-v1", "-v2c"])
def test_get_of_absent_objects(snmpsim: Agent, fleet: Agent, version: str) -> None:
    name = "hpe-procurve-516733-b21"
    oids = "1.3.6.1.2.1.1.5.0 1.3.6.1.2.1.1.5.1 1.3.6.1.2.1.1.99.0"
    expected = run("snmpget", snmpsim, name, version, oids)
    got = run("snmpget", device(fleet, name), COMMUNITY, version, oids)
    assert got == expected


def test_wrong_community_gets_no_answer(fleet: Agent) -> None:
    got = run("snmpget", device(fleet, "dlink-des3038"), "not-" + COMMUNITY, "-v2c",
              "1.3.6.1.2.1.1.5.0")
    assert any("Timeout" in line for line in got), got


def test_delayed_answers_come_that_late_and_unchanged(fleet: Agent) -> None:
    """--delay-ms holds each answer (the soak's slow path where the kernel has no netem)."""
    port = free_udp_block(len(NAMES))
    models = [arg for name in NAMES for arg in ("--model", name)]
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.fleet", "--devices", str(len(NAMES)), "--base-port",
         str(port), "--community", COMMUNITY, "--delay-ms", "300", "--jitter-ms", "50", *models],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("ready")
        slow = Agent("127.0.0.1", port + NAMES.index("dlink-des3038"), (COMMUNITY,))
        started = time.monotonic()
        got = run("snmpget", slow, COMMUNITY, "-v2c", "1.3.6.1.2.1.1.5.0")
        took = time.monotonic() - started
    finally:
        agents.stop(process)  # type: ignore[arg-type]
    assert got == run("snmpget", device(fleet, "dlink-des3038"), COMMUNITY, "-v2c",
                      "1.3.6.1.2.1.1.5.0")
    assert took >= 0.25, took
