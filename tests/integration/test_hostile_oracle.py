"""The misbehaving agent, checked by net-snmp: in normal mode snmpbulkwalk and `poller walk` read
the same values from it (the harness encodes with pyasn1, poller with its own codec); in its
out-of-order modes net-snmp's snmpwalk sees the same fault poller reports. (snmpbulkwalk checks
only the last OID of each answer against the one it asked from, so an OID that goes back inside
a GETBULK answer passes it; poller checks every OID.)"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests import agents
from tests.conftest import Agent
from tests.integration.test_oracle import netsnmp_walk, poller_walk

#: what does not move while two walks run (counters and sysUpTime do)
STABLE = ("1.3.6.1.2.1.1.1", "1.3.6.1.2.1.1.2", "1.3.6.1.2.1.1.5", "1.3.6.1.2.1.2.2.1.2",
          "1.3.6.1.2.1.2.2.1.3", "1.3.6.1.2.1.2.2.1.5", "1.3.6.1.2.1.2.2.1.6",
          "1.3.6.1.2.1.31.1.1.1.1", "1.3.6.1.2.1.31.1.1.1.15", "1.3.6.1.2.1.31.1.1.1.18")
MODES = ("normal", "non_increasing", "looping")


@pytest.fixture(scope="module")
def harness() -> Iterator[dict[str, Agent]]:
    ports = {mode: agents.free_udp_port() for mode in MODES}
    argv = [sys.executable, "-m", "tests.hostile_agent", "--rows", "12", "--lifetime", "120"]
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
