"""What `poller walk --json` reads equals what net-snmp's snmpbulkwalk reads, value by value,
for every snmpsim-data recording the tests serve (system and interface subtrees) and for snmpd."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests import agents
from tests.conftest import Agent

SUBTREES = ("1.3.6.1.2.1.1", "1.3.6.1.2.1.2", "1.3.6.1.2.1.31.1.1")
#: net-snmp's type names -> the SMI names of `--json`
NETSNMP_TYPES = {
    "INTEGER": "Integer32", "Hex-STRING": "OctetString", "STRING": "OctetString",
    "OID": "ObjectIdentifier", "Timeticks": "TimeTicks", "Counter32": "Counter32",
    "Gauge32": "Gauge32", "Counter64": "Counter64", "IpAddress": "IpAddress",
}
Item = tuple[str, str, Any]


def netsnmp_walk(agent: Agent, community: str, root: str) -> list[Item]:
    """snmpbulkwalk with numeric OIDs, every octet string in hex, TimeTicks and enums as numbers
    (nothing for an empty subtree)."""
    command = [agents.binary("snmpbulkwalk"), "-v2c", "-c", community, "-On", "-Ox", "-Ot", "-Oe",
               "-Cr25", "-t", "5", agent.address, root]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    entries: list[list[str]] = []
    for line in out.splitlines():
        if line.startswith("."):
            entries.append([line])
        elif entries:
            entries[-1].append(line)  # a long Hex-STRING continues on the next lines
    # an empty subtree: snmpbulkwalk GETs the root itself, which answers noSuch...
    return [_parse(" ".join(lines)) for lines in entries
            if "No more variables" not in lines[0] and not lines[0].startswith(f".{root} = ")]


def _parse(text: str) -> Item:
    oid, _, rest = text.partition(" = ")
    oid = oid.lstrip(".")
    if rest == '""':
        return oid, "OctetString", ""
    if ": " not in rest and rest.strip().isdigit():
        return oid, "TimeTicks", int(rest)  # -Ot prints TimeTicks as a bare number
    kind, _, value = rest.partition(": ")
    smi = NETSNMP_TYPES[kind]
    if kind == "Hex-STRING":
        return oid, smi, value.replace(" ", "").lower()
    if kind == "OID":
        return oid, smi, value.lstrip(".")
    if kind == "IpAddress":
        return oid, smi, value.strip()
    return oid, smi, int(value)


def poller_walk(agent: Agent, community: str, root: str, engine: str = "builtin") -> list[Item]:
    command = [sys.executable, "-m", "poller", "walk", agent.address, "-c", community,
               "-t", "5", "--json", "--engine", engine, root]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    items = []
    for line in out.splitlines():
        record = json.loads(line)
        value = record["hex"] if record["type"] == "OctetString" else record["value"]
        items.append((record["oid"], record["type"], value))
    return items


@pytest.mark.parametrize("engine", ["builtin", "pysnmp"])
@pytest.mark.parametrize("community", list(agents.SWITCHES))
@pytest.mark.parametrize("root", SUBTREES)
def test_walk_matches_snmpbulkwalk_on_recordings(
    snmpsim: Agent, community: str, root: str, engine: str
) -> None:
    expected = netsnmp_walk(snmpsim, community, root)
    got = poller_walk(snmpsim, community, root, engine)
    if root != "1.3.6.1.2.1.31.1.1":
        assert expected, f"{community} has nothing under {root}: a useless comparison"
    assert got == expected


@pytest.mark.parametrize("engine", ["builtin", "pysnmp"])
def test_walk_matches_snmpbulkwalk_on_snmpd(snmpd: Agent, engine: str) -> None:
    community = snmpd.communities[0]
    # objects that stay put while the two walks run (counters and uptimes move on a live agent)
    for root in ("1.3.6.1.2.1.1.1", "1.3.6.1.2.1.1.2", "1.3.6.1.2.1.1.5", "1.3.6.1.2.1.2.2.1.2",
                 "1.3.6.1.2.1.2.2.1.3", "1.3.6.1.2.1.2.2.1.6", "1.3.6.1.2.1.31.1.1.1.1",
                 "1.3.6.1.2.1.4.20.1.1", "1.3.6.1.2.1.25.2.3.1.3"):
        expected = netsnmp_walk(snmpd, community, root)
        assert expected
        assert poller_walk(snmpd, community, root, engine) == expected
