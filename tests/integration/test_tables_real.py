"""Index decoding, lookups, the 64-bit preference and label cadence against a real snmpd, with
net-snmp's snmpbulkwalk as the oracle for what the agent holds."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

from poller.config.load import load
from poller.config.model import Device
from poller.poll.device import PollOutcome, poll_device, target_for
from poller.poll.rates import CounterTracker
from poller.snmp.client import SnmpClient
from poller.snmp.engines import make_requester
from tests import agents
from tests.conftest import Agent


def fleet(tmp_path: Path, agent: Agent, profiles: str, use: str) -> Device:
    path = tmp_path / "fleet.toml"
    path.write_text(f'[credentials.public]\ncommunity = "{agent.communities[0]}"\n{profiles}\n'
                    f'[[devices]]\nname = "snmpd"\nhost = "{agent.host}"\nport = {agent.port}\n'
                    f'profiles = {use}\n')
    return load(path).devices[0]


def poll(device: Device, times: int) -> list[tuple[list[dict[str, Any]], PollOutcome]]:
    async def main() -> list[tuple[list[dict[str, Any]], PollOutcome]]:
        client = SnmpClient(make_requester("builtin"))
        tracker, out = CounterTracker(), []
        try:
            for _ in range(times):
                outcome = PollOutcome()
                await poll_device(device, target_for(device), client, tracker, outcome,
                                  asyncio.get_running_loop().time)
                assert outcome.status == "ok", outcome.error
                out.append(([r for e, r in outcome.records if e == "row"], outcome))
                await asyncio.sleep(0.05)
        finally:
            await client.close()
        return out

    return asyncio.run(main())


def bulkwalk(agent: Agent, oid: str) -> dict[str, str]:
    """snmpbulkwalk -On: {instance OID suffix: value text}."""
    out = subprocess.run([agents.binary("snmpbulkwalk"), "-v2c", "-c", agent.communities[0],
                          "-On", "-Oq", agent.address, oid],
                         capture_output=True, text=True, timeout=20, check=True).stdout
    rows = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        rows[key.removeprefix("." + oid + ".")] = value.strip().strip('"')
    return rows


def test_ip_address_table_index_decodes_and_looks_up_the_interface_name(
        tmp_path: Path, snmpd: Agent) -> None:
    profile = ('[[profiles.addr.tables]]\nname = "addresses"\n'
               'columns = ["ipAdEntIfIndex", "ipAdEntNetMask"]\n'
               'lookups = [{ column = "ifName", by = "ipAdEntIfIndex" }]\n')
    rows, _ = poll(fleet(tmp_path, snmpd, profile, '["addr"]'), 1)[0]
    oracle = bulkwalk(snmpd, "1.3.6.1.2.1.4.20.1.2")
    names = bulkwalk(snmpd, "1.3.6.1.2.1.31.1.1.1.1")
    assert oracle and "127.0.0.1" in oracle
    assert {r["index"]: r["ipAdEntAddr"] for r in rows} == {k: k for k in oracle}
    for row in rows:
        assert row["ipAdEntIfIndex"] == int(oracle[row["index"]])
        assert row["ifName"] == names[str(row["ipAdEntIfIndex"])]


def test_both_widths_give_one_rate_per_counter_and_labels_save_varbinds(
        tmp_path: Path, snmpd: Agent) -> None:
    profile = ('[[profiles.wide.tables]]\nname = "ifs"\n'
               'columns = ["ifName", "ifDescr", "ifInOctets", "ifHCInOctets"]\n'
               'bits = ["ifHCInOctets"]\n')
    (first, full), (second, cached) = poll(fleet(tmp_path, snmpd, profile, '["wide"]'), 2)
    hc = bulkwalk(snmpd, "1.3.6.1.2.1.31.1.1.1.6")
    for row in second:
        assert "ifInOctets_rate" not in row and "ifInOctets_rate_reason" not in row
        assert "ifHCInOctets_bps" in row or "ifHCInOctets_bps_reason" in row
        # snmpd has ifXTable for every interface: the 64-bit counter is the one used
        assert row["index"] in hc and "ifHCInOctets_bps_from" not in row
        assert row["ifName"] and row["ifDescr"] and row["ifIndex"] == int(row["index"])
    assert [r["ifName"] for r in first] == [r["ifName"] for r in second]
    # two label columns of four are not read on the second poll
    assert cached.stats.varbinds < full.stats.varbinds
