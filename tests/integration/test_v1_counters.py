"""SNMPv1 against a real snmpd: v1 carries no Counter64, so the built-in interfaces profile's
rates come from the 32-bit ifTable counters (`_from` says so), with net-snmp's snmpwalk -v1 as
the oracle of the rows; a profile of 64-bit counters only writes a `no_counters` warning in its
poll summary instead of a silent `ok` without traffic."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from poller.config.load import load_config
from poller.config.model import Device
from poller.poll.device import NO_COUNTERS, PollOutcome, poll_device, target_for
from poller.poll.rates import CounterTracker
from poller.snmp.client import SnmpClient
from poller.snmp.engines import make_requester
from tests import agents
from tests.conftest import Agent

ROOT = Path(__file__).resolve().parents[2]
IF_IN_OCTETS = "1.3.6.1.2.1.2.2.1.10"
ONLY_64_BIT = """
[[profiles.wide.tables]]
name = "interfaces"
columns = ["ifDescr", "ifHCInOctets", "ifHCOutOctets"]
bits = ["ifHCInOctets", "ifHCOutOctets"]
"""


def _fleet(tmp_path: Path, agent: Agent, profiles: str = "", use: str = '["interfaces"]') -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(f'[output]\ndirectory = "{tmp_path / "out"}"\n'
                    f'[credentials.public]\nversion = "1"\ncommunity = "{agent.communities[0]}"\n'
                    f'{profiles}\n[[devices]]\nname = "snmpd"\nhost = "{agent.host}"\n'
                    f'port = {agent.port}\nprofiles = {use}\n')
    path.chmod(0o600)
    return path


def _poll(device: Device, engine: str, times: int) -> list[PollOutcome]:
    async def main() -> list[PollOutcome]:
        client = SnmpClient(make_requester(engine))
        tracker, out = CounterTracker(), []
        try:
            for _ in range(times):
                outcome = PollOutcome()
                await poll_device(device, target_for(device), client, tracker, outcome,
                                  asyncio.get_running_loop().time)
                out.append(outcome)
                await asyncio.sleep(0.2)
        finally:
            await client.close()
        return out

    return asyncio.run(main())


def _rows(outcome: PollOutcome) -> dict[str, dict[str, Any]]:
    return {r["index"]: r for event, r in outcome.records if event == "row"}


def _v1_in_octets(agent: Agent) -> dict[str, int]:
    """ifInOctets by ifIndex, as net-snmp's snmpwalk reads it over SNMPv1."""
    out = subprocess.run([agents.binary("snmpwalk"), "-v1", "-c", agent.communities[0], "-On",
                          "-Oq", "-t", "2", agent.address, IF_IN_OCTETS],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return {line.split()[0].rsplit(".", 1)[1]: int(line.split()[1])
            for line in out.splitlines() if line.strip()}


def test_v1_rates_come_from_the_32_bit_counters(tmp_path: Path, snmpd: Agent) -> None:
    device = load_config(_fleet(tmp_path, snmpd)).devices[0]
    oracle = _v1_in_octets(snmpd)
    for engine in ("builtin", "pysnmp"):
        first, second = _poll(device, engine, 2)
        assert (second.status, second.warnings) == ("ok", []), second.error
        rows = _rows(second)
        assert set(rows) == set(oracle) and rows
        for row in rows.values():
            assert row["ifHCInOctets_bps_from"] == "ifInOctets"
            assert row["ifHCOutOctets_bps_from"] == "ifOutOctets"
            assert isinstance(row["ifHCInOctets_bps"], float) and "ifInOctets_bps" not in row
            assert "ifHCInOctets" not in row  # v1 has no Counter64 to read
        assert all(r["ifHCInOctets_bps_reason"] == "first_sample" for r in _rows(first).values())


def test_a_64_bit_only_profile_warns_in_the_poll_summary(tmp_path: Path, snmpd: Agent) -> None:
    """`poller run --once` as cron would run it: the summary says what the rows lack."""
    path = _fleet(tmp_path, snmpd, ONLY_64_BIT, '["wide"]')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "poller", "run", "--once", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "out" / "poller.jsonl").read_text()
               .splitlines()]
    (summary,) = [r for r in records if r["event"] == "poll"]
    assert summary["status"] == "ok" and summary["rows"] > 0
    assert summary["warnings"] == [{"part": "interfaces", "warning": NO_COUNTERS}]
    assert not any("ifHCInOctets_bps" in r for r in records if r["event"] == "row")
