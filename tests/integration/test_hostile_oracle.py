"""The misbehaving agent, checked by net-snmp: in normal mode snmpbulkwalk and `poller walk` read
the same values from it (the harness encodes with pyasn1, poller with its own codec); in its
out-of-order modes net-snmp's snmpwalk sees the same fault poller reports. (snmpbulkwalk checks
only the last OID of each answer against the one it asked from, so an OID that goes back inside
a GETBULK answer passes it; poller checks every OID.) An agent that floods each answer with copies
and with answers to request-ids it was not sent is read whole by poller (snmpbulkwalk, whose
request-ids follow each other, reads its twin in normal mode for the comparison)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests import agents
from tests.conftest import Agent
from tests.integration.test_oracle import netsnmp_walk, poller_walk
from tests.ports import free_udp_port

#: what does not move while two walks run (counters and sysUpTime do)
STABLE = ("1.3.6.1.2.1.1.1", "1.3.6.1.2.1.1.2", "1.3.6.1.2.1.1.5", "1.3.6.1.2.1.2.2.1.2",
          "1.3.6.1.2.1.2.2.1.3", "1.3.6.1.2.1.2.2.1.5", "1.3.6.1.2.1.2.2.1.6",
          "1.3.6.1.2.1.31.1.1.1.1", "1.3.6.1.2.1.31.1.1.1.15", "1.3.6.1.2.1.31.1.1.1.18")
ROWS = 12
MODES = ("normal", "non_increasing", "looping", "flood", "echo_root", "wrong_oids")


@pytest.fixture(scope="module")
def harness() -> Iterator[dict[str, Agent]]:
    ports = {mode: free_udp_port() for mode in MODES}
    argv = [sys.executable, "-m", "tests.hostile_agent", "--rows", str(ROWS), "--lifetime", "120"]
    for mode, port in ports.items():
        argv += ["--agent", f"{port}={mode}"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip()
        yield {mode: Agent("127.0.0.1", port, ("public",)) for mode, port in ports.items()}
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("engine", ["builtin", "pysnmp"])
def test_poller_and_snmpbulkwalk_read_the_same_from_the_harness(
    harness: dict[str, Agent], engine: str
) -> None:
    agent = harness["normal"]
    for root in STABLE:
        expected = netsnmp_walk(agent, "public", root)
        assert expected, root
        assert poller_walk(agent, "public", root, engine) == expected


@pytest.mark.parametrize("mode", ["non_increasing", "looping"])
def test_snmpwalk_and_poller_both_stop_on_the_harness_fault(
    harness: dict[str, Agent], mode: str
) -> None:
    agent = harness[mode]
    root = "1.3.6.1.2.1.2.2.1.2"
    walked = subprocess.run([agents.binary("snmpwalk"), "-v2c", "-c", "public", "-On",
                             "-t", "2", agent.address, root], capture_output=True, text=True,
                            timeout=30, check=False)
    assert "OID not increasing" in walked.stderr
    done = subprocess.run([sys.executable, "-m", "poller", "walk", agent.address, "-c", "public",
                           "-t", "2", root], capture_output=True, text=True, timeout=30,
                           check=False)
    assert done.returncode == 1
    assert "OIDs not increasing" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("engine", ["builtin", "pysnmp"])
def test_a_flood_of_copies_and_of_answers_to_ids_not_asked_reads_what_snmpbulkwalk_reads(
    harness: dict[str, Agent], engine: str
) -> None:
    # snmpbulkwalk reads the flooding agent's MIB from its twin in normal mode: its own request-ids
    # follow each other, so over several requests the flood misleads it as it did poller
    flood, normal = harness["flood"], harness["normal"]
    root = "1.3.6.1.2.1.2.2.1.2"  # ifDescr: stable while the walks run
    expected = netsnmp_walk(normal, "public", root)
    assert len(expected) == ROWS
    assert poller_walk(flood, "public", root, engine) == expected
    # the whole interface table, in many requests: the same objects
    table = "1.3.6.1.2.1.2.2"
    walked = [oid for oid, _, _ in poller_walk(flood, "public", table, engine)]
    assert walked == [oid for oid, _, _ in netsnmp_walk(normal, "public", table)]


@pytest.mark.parametrize("engine", ["builtin", "pysnmp"])
def test_a_walk_answered_with_its_root_fails_as_in_snmpbulkwalk(
    harness: dict[str, Agent], engine: str
) -> None:
    agent = harness["echo_root"]
    root = "1.3.6.1.2.1.2.2.1.2"
    walked = subprocess.run([agents.binary("snmpbulkwalk"), "-v2c", "-c", "public", "-On",
                             "-t", "2", agent.address, root], capture_output=True, text=True,
                            timeout=30, check=False)
    assert "OID not increasing" in walked.stderr
    done = _poller("walk", agent, engine, root)
    assert done.returncode == 1 and done.stdout == ""
    assert "OIDs not increasing" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("engine", ["builtin", "pysnmp"])
def test_a_get_answered_with_oids_not_asked_is_an_error(
    harness: dict[str, Agent], engine: str
) -> None:
    done = _poller("get", harness["wrong_oids"], engine, "1.3.6.1.2.1.1.5.0")
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "1.3.6.1.2.1.1.5.1" in lines[0], lines


def _poller(command: str, agent: Agent, engine: str, oid: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "poller", command, agent.address, "-c", "public",
                           "-t", "2", "--engine", engine, oid], capture_output=True, text=True,
                          timeout=30, check=False)
